"""Listings that scale: a long runs table is plain text equal to the rich one; `runs --last N` reads only the N
records it shows; `status` and `jobs` of a finished job read job.json, not its runs."""

from __future__ import annotations

from launcher.jobs import records as R
from launcher.jobs import summary as S
from launcher.jobs.status import job_summary, read_runs
from launcher.report import jobs as report
from launcher.store.local import LocalStore


class CountingStore(LocalStore):
    """A folder store that counts the run records read."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.run_reads = 0

    def read_bytes(self, key):
        if key.startswith("runs/") and key.endswith("/run.json"):
            self.run_reads += 1
        return super().read_bytes(key)


def _runs(n: int) -> list[dict]:
    out = []
    for i in range(1, n + 1):
        status = ("completed", "failed", "running", "queued")[i % 4]
        out.append({"run": f"run1.{i}", "job": "job1", "status": status, "node": f"node{i % 3}", "iters": i * 10,
                    "metrics": {"s1-rew": i / 7, "s1-hrs": 0.00007 * i}, "hpmax": -i / 3 if status == "completed"
                    else None, "hparams": {"lr": [0.1, 0.3][i % 2], "name": "[bold]x[/bold]"}, "exit_code": 1
                    if status == "failed" else None, "error": "ValueError: bad lr " * (i % 5) if status == "failed"
                    else "", "started": None})
    return out


def test_the_plain_text_table_equals_the_rich_one():
    runs = _runs(150)
    columns, rows = report.runs_rows(runs)
    plain = report.render_table(columns, rows, plain=True)
    assert plain == report.render_table(columns, rows, plain=False)
    assert len(rows) > report.RICH_MAX_ROWS and report.render_table(columns, rows) == plain  # the default
    assert "[bold]x[/bold]" in plain and "-1.33333" in plain and "0.00007" in plain  # values, one number format
    small = report.runs_rows(_runs(3))
    assert report.render_table(*small, plain=True) == report.render_table(*small, plain=False)
    assert report.render_table(columns, [], plain=True) == report.render_table(columns, [], plain=False)


def _job(store, n: int, status: str = R.RUNNING) -> None:
    names = [f"run1.{i}" for i in range(1, n + 1)]
    record = {"job": "job1", "status": status, "runs": names, "total_runs": n}
    store.write_json(R.job_key("job1", "job.json"), record)
    S.start(store, "job1", record)
    for i, name in enumerate(names):
        store.write_json(R.run_key(name), dict(R.new_run_record(run=name, job="job1", workspace="ws", parent="run1",
                                                                index=i, node="node0", hparams={}, seed=i),
                                               status=R.COMPLETED, hpmax=i / 10))


def test_runs_last_reads_only_the_runs_it_shows(tmp_path):
    store = CountingStore(tmp_path / "s")
    _job(store, 30)
    store.run_reads = 0
    got = read_runs(store, "job1", last=3)
    assert [r["run"] for r in got] == ["run1.28", "run1.29", "run1.30"]
    assert store.run_reads == 3
    assert read_runs(store, "job1", last=0) == []


def test_a_finished_jobs_status_reads_no_run_record(tmp_path):
    store = CountingStore(tmp_path / "s")
    _job(store, 30)
    first = job_summary(store, "job1")  # settles job.json once every run ended
    assert first["status"] == "completed" and first["best_hpmax"] == 2.9
    store.run_reads = 0
    assert job_summary(store, "job1") == first
    assert store.run_reads == 0


def test_a_running_jobs_status_reads_only_its_running_runs(tmp_path):
    store = CountingStore(tmp_path / "s")
    _job(store, 30)
    for name in ("run1.4", "run1.5"):
        store.write_json(R.run_key(name), dict(store.read_json(R.run_key(name)), status=R.RUNNING,
                                               heartbeat=R.now_iso()))
    store.run_reads = 0
    shown = job_summary(store, "job1")
    assert (shown["status"], shown["runs_running"], shown["runs_done"]) == ("running", 2, 28)
    assert store.run_reads == 2
