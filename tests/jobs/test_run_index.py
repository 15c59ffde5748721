"""The index of ended runs (launcher/jobs/runindex.py): `runs JOB --sort F --last N` (and --filter/--status with
--last) prints exactly what reading every record prints, reads only the N records it shows (and the runs that
have not ended), and follows every change of an ended run's record (a stale entry would show the old values)."""

from __future__ import annotations

import json
import random

import pytest

from launcher.cli import main
from launcher.jobs import records as R
from launcher.jobs import runindex
from launcher.jobs import runquery
from launcher.jobs import summary as S
from launcher.store.local import LocalStore

STATES = ["completed", "completed", "completed", "failed", "cancelled", "lost", "running", "queued"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.launcher]\nworkspace = "ws1"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _record(name: str, i: int, status: str, rng: random.Random) -> dict:
    rec = R.new_run_record(run=name, job="job1", workspace="ws1", parent="run1", index=i, node=f"node{i % 2}",
                           hparams={"lr": rng.choice([0.1, 0.3, 1]), "opt": rng.choice(["sgd", "adam"])}, seed=i)
    rec.update(status=status, iters=rng.choice([None, rng.randint(0, 100)]), metric_order=["s1-rew", "s1-hrs"],
               metrics={"s1-rew": round(rng.uniform(-1, 1), 4), "s1-hrs": 0.00007 * i} if rng.random() < 0.9 else {},
               hpmax=round(rng.uniform(-1, 1), 3) if status == "completed" and rng.random() < 0.9 else None,
               started="2026-01-01T00:00:00.000Z", heartbeat=R.now_iso(), host="elsewhere",
               console_tail="line\n" * 50)
    if status in R.FINAL_STATES:
        rec.update(ended=f"2026-01-01T00:{rng.randint(0, 59):02d}:00.000Z", exit_code=0 if status == "completed" else 1,
                   error="" if status == "completed" else "ValueError: bad lr " * rng.randint(0, 3))
    if status == "queued":
        rec.update(started=None)
    return rec


def _job(store: LocalStore, n: int, *, seed: int = 1, status: str = R.COMPLETED, records: int | None = None):
    """job1 of n child runs in random states; the last n - records runs have no record (queued, implied)."""
    rng = random.Random(seed)
    names = [f"run1.{i}" for i in range(1, n + 1)]
    record = {"job": "job1", "status": status, "runs": names, "total_runs": n, "target": "local"}
    store.write_json(R.job_key("job1", "job.json"), record)
    S.start(store, "job1", record)
    for i, name in enumerate(names[:records if records is not None else n]):
        store.write_json(R.run_key(name), _record(name, i, rng.choice(STATES), rng))
    return names


def _cli(capsys, *args) -> str:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return f"exit {code}\n{out.out}\n--\n{out.err}"


QUERIES = [
    ("--sort", "hpmax", "--last", "5"),
    ("--sort", "hpmax", "--reverse", "--last", "7"),
    ("--sort", "s1-rew", "--last", "1"),
    ("--sort", "metrics.s1-hrs", "--reverse", "--last", "12"),
    ("--sort", "lr", "--last", "9"),
    ("--sort", "hparams.opt", "--last", "4"),
    ("--sort", "elapsed", "--last", "6"),
    ("--sort", "status", "--last", "30"),
    ("--sort", "reason", "--reverse", "--last", "3"),
    ("--sort", "iters", "--last", "0"),
    ("--sort", "exit", "--last", "500"),
    ("--sort", "node", "--last", "8", "--format", "json"),
    ("--sort", "hpmax", "--last", "8", "--format", "markdown", "--columns", "run,hpmax,lr,s1-rew,reason"),
    ("--status", "failed", "--last", "3"),
    ("--filter", "lr>0.2", "--filter", "status=completed", "--sort", "s1-rew", "--last", "4"),
    ("--filter", "reason~bad", "--last", "2", "--format", "json"),
    ("--sort", "hpmxa", "--last", "3"),  # a misspelt field: the same error either way
    ("--filter", "s1-rwe>0", "--last", "3"),
]


def _drop_index(store: LocalStore) -> None:
    for key in store.list(R.job_key("job1", runindex.PREFIX)):
        store.delete(key)


@pytest.mark.parametrize("job_status", [R.COMPLETED, R.RUNNING])
def test_sorted_last_prints_what_reading_every_record_prints(project, capsys, job_status):
    store = LocalStore(project / ".launcher")
    _job(store, 120, status=job_status, records=110)
    assert store.list(R.job_key("job1", runindex.PREFIX)), "the writes built no index"
    with_index = {q: _cli(capsys, "runs", "job1", *q) for q in QUERIES}
    _drop_index(store)  # every run now comes from its record, as before the index
    for q in QUERIES:
        assert _cli(capsys, "runs", "job1", *q) == with_index[q], q
    assert "exit 2" in with_index[("--sort", "hpmxa", "--last", "3")]


def test_sorted_last_reads_only_the_records_it_shows_and_the_unended_runs(project, capsys, monkeypatch):
    store = LocalStore(project / ".launcher")
    _job(store, 200, records=190)
    records = {n: store.read_json(R.run_key(n)) for n in store.read_json(R.job_key("job1", "job.json"))["runs"]}
    unended = {n for n, r in records.items() if r is None or r["status"] not in R.FINAL_STATES}
    reads = []
    real = LocalStore.read_bytes

    def counting(self, key):
        if key.startswith("runs/") and key.endswith("/run.json"):
            reads.append(key.split("/")[1])
        return real(self, key)

    monkeypatch.setattr(LocalStore, "read_bytes", counting)
    out = _cli(capsys, "runs", "job1", "--sort", "hpmax", "--last", "5", "--format", "json")
    shown = [r["run"] for r in json.loads(out.split("\n", 1)[1].split("\n--\n")[0])["runs"]]
    assert len(shown) == 5
    assert set(reads) <= unended | set(shown) and len(reads) <= len(unended) + 5
    assert len(reads) < len(records) / 2


def test_every_entry_equals_its_current_record_after_random_rewrites(tmp_path):
    """The stale-index check: after any sequence of writes (runs ending, ending again with other values, going
    back to running on a retry, records replaced wholesale), an entry exists for exactly the ended runs and equals
    the entry of the record the run has now."""
    store = LocalStore(tmp_path / "s")
    names = _job(store, 60, seed=7)
    rng = random.Random(11)
    for step in range(400):
        name = rng.choice(names)
        rec = store.read_json(R.run_key(name))
        if rng.random() < 0.2:  # replaced wholesale, e.g. by a retried task
            rec = _record(name, rec["index"], rng.choice(STATES), rng)
        else:
            rec.update(status=rng.choice(STATES), hpmax=rng.choice([None, round(rng.uniform(-1, 1), 3)]),
                       metrics={"s1-rew": step}, heartbeat=R.now_iso())
        store.write_json(R.run_key(name), rec)
    entries = runindex.read_entries(store, "job1")
    for name in names:
        rec = store.read_json(R.run_key(name))
        if rec["status"] in R.FINAL_STATES:
            assert entries.get(name) == runindex.entry(rec), name
        else:
            assert name not in entries, name


def test_a_changed_ended_run_is_sorted_by_its_new_value(project, capsys):
    store = LocalStore(project / ".launcher")
    names = _job(store, 40)
    best = max((store.read_json(R.run_key(n)) for n in names), key=lambda r: r.get("hpmax") or -9)
    other = next(n for n in names if n != best["run"] and store.read_json(R.run_key(n))["status"] == "completed")
    rec = store.read_json(R.run_key(other))
    rec["hpmax"] = 99.5  # still completed: only the index says where it sorts now
    store.write_json(R.run_key(other), rec)
    assert _best(capsys) == (other, 99.5)
    rec.update(status=R.RUNNING, hpmax=None, ended=None)  # a retry: running again, its entry must go
    store.write_json(R.run_key(other), rec)
    assert _best(capsys) == (best["run"], best["hpmax"])


def _best(capsys) -> tuple:
    out = _cli(capsys, "runs", "job1", "--filter", "hpmax>-100", "--sort", "hpmax", "--last", "1", "--format", "json")
    (run,) = json.loads(out.split("\n", 1)[1].split("\n--\n")[0])["runs"]
    return run["run"], run["hpmax"]


def test_entries_hold_every_field_a_table_reads(tmp_path):
    store = LocalStore(tmp_path / "s")
    names = _job(store, 80, seed=3)
    records = [store.read_json(R.run_key(n)) for n in names]
    ended = [r for r in records if r["status"] in R.FINAL_STATES]
    entries = runindex.read_entries(store, "job1")
    assert len(entries) == len(ended)
    for field in runquery.known_fields(records):
        for rec in ended:
            assert runquery.value(entries[rec["run"]], field) == runquery.value(rec, field), (field, rec["run"])
    assert runquery.known_fields([entries[r["run"]] for r in ended]) == runquery.known_fields(ended)


def test_a_damaged_shard_is_rebuilt_and_its_lost_runs_read_from_their_records(project, capsys):
    store = LocalStore(project / ".launcher")
    names = _job(store, 30, seed=5)
    shards = store.list(R.job_key("job1", runindex.PREFIX))
    expected = _cli(capsys, "runs", "job1", "--sort", "hpmax", "--last", "4")
    for shard in shards:
        store.write_bytes(shard, b"{not json")
    assert runindex.read_entries(store, "job1") == {}
    assert _cli(capsys, "runs", "job1", "--sort", "hpmax", "--last", "4") == expected
    rec = store.read_json(R.run_key(names[0]))
    rec["status"] = R.FAILED
    store.write_json(R.run_key(names[0]), rec)  # the next fold starts the shard again
    assert set(runindex.read_entries(store, "job1")) == {names[0]}


def test_folds_that_commit_out_of_order_still_leave_the_last_record_in_the_index(tmp_path):
    # Two writers of one run (an agent's "completed", the launcher marking it lost): their record writes happen
    # A then B, but their shard updates commit B then A. The entry must still be B's record, the current one.
    store = LocalStore(tmp_path / "store")
    rng = random.Random(3)
    lost = _record("run1.1", 0, R.LOST, rng)
    done = dict(lost, status=R.COMPLETED, hpmax=0.9, exit_code=0)
    store.write_json(R.run_key("run1.1"), lost)  # writer A's record, then B's
    store.write_json(R.run_key("run1.1"), done)
    read_now = lambda: store.read_json(R.run_key("run1.1"))  # noqa: E731
    runindex.fold("job1", "run1.1", None, done, store.update, read_record=read_now)  # B's fold commits first
    runindex.fold("job1", "run1.1", None, lost, store.update, read_record=read_now)  # A's fold, late
    assert runindex.read_entries(store, "job1")["run1.1"]["status"] == R.COMPLETED
    # without reading the record at commit time, the late fold would have left the stale "lost"
    runindex.fold("job1", "run1.1", None, lost, store.update)
    assert runindex.read_entries(store, "job1")["run1.1"]["status"] == R.LOST


def test_entries_filed_under_another_name_or_job_are_not_trusted(project, capsys):
    # On Azure a job's own tasks can write its index (it is in the job's results container): an entry that
    # names another run or another job, or lacks its name, is read from the records, never shown as it says.
    store = LocalStore(project / ".launcher")
    names = _job(store, 6, seed=9)
    expected = _cli(capsys, "runs", "job1", "--sort", "hpmax", "--last", "3")
    (shard,) = store.list(R.job_key("job1", runindex.PREFIX))
    data = json.loads(store.read_bytes(shard))
    entries = data["runs"]
    ended = [n for n in names if n in entries]
    entries[ended[0]] = dict(entries[ended[0]], run="run9.1")  # filed under one name, naming another
    entries[ended[1]] = dict(entries[ended[1]], job="job9")  # another job's
    entries["run1.99"] = {k: v for k, v in entries[ended[2]].items() if k != "run"}  # no name at all
    entries["run1.98"] = dict(entries[ended[2]], run="run1.98", hpmax=1e9)  # a run job1 does not have
    store.write_bytes(shard, json.dumps(data).encode())
    kept = runindex.read_entries(store, "job1")
    assert ended[0] not in kept and ended[1] not in kept and "run1.99" not in kept
    # the listing is the one before the forgery: the untrusted entries' runs come from their records, and a run
    # job1 does not have is not listed, its forged hpmax of 1e9 nowhere
    after = _cli(capsys, "runs", "job1", "--sort", "hpmax", "--last", "3")
    assert after == expected and "run1.98" not in after
    # and an entry whose record is missing (or another job's) is never shown with the values it claims
    assert runindex.full(store, [kept["run1.98"]])[0]["status"] == R.QUEUED
