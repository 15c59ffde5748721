"""`launcher launch` on the embedded local backend, end to end: real git projects, real processes."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jobs_project import REPO, cli_env, tiny_runspec


@pytest.mark.slow
def test_walk_through_launches_20_runs_over_5_parents_once(project):
    proc = project.cli("launch", "runspecs/xt_walk_through.yaml", "--target", "local", check=True)
    first = proc.stdout.splitlines()[0]
    # XT's launch line, in XT's order and form
    assert first.startswith("job1, target: local, creating parent runs: 5/5, uploading ")
    assert first.endswith("code files (zipped), ws1/run1, ws1/run2, ws1/run3, ws1/run4, ws1/run5, job submitted")
    assert "launcher status job1" in proc.stdout  # how to follow the job
    # the results table: one row per child run with its hpmax
    lines = [line.split() for line in proc.stdout.splitlines()]
    header = next(cells for cells in lines if cells[:2] == ["run", "status"])
    table = [cells for cells in lines if cells and cells[0].startswith("run") and cells != header]
    assert len(table) == 20
    hpmax_col = header.index("hpmax")
    assert all(row[1] == "completed" for row in table)
    assert all(float(row[hpmax_col]) == float(row[hpmax_col]) for row in table)
    assert "job1: completed, 20/20 runs done" in proc.stdout

    runs = project.json("runs", "job1")["runs"]
    assert [r["run"] for r in runs] == [f"run{p}.{c}" for p in range(1, 6) for c in range(1, 5)]
    assert all(r["status"] == "completed" and isinstance(r["hpmax"], float) for r in runs)
    assert all(r["exit_code"] == 0 and r["started"] and r["ended"] and r["node"] for r in runs)
    assert all("s4-rew" in r["metrics"] and r["iters"] for r in runs)
    assert len({r["seed"] for r in runs}) == 20  # a recorded seed per run

    rows = project.ledger_rows()
    assert len(rows) == 1 and "| job1 |" in rows[0] and "| local |" in rows[0]
    assert "| completed |" in rows[0]  # launch followed the job and recorded its end
    launched = (project.store / "jobs/job1/launched_job_spec.yaml").read_text()
    assert launched == (project.root / "runspecs/xt_walk_through.yaml").read_text()

    again = project.cli("launch", "runspecs/xt_walk_through.yaml", "--target", "local", check=True)
    assert "already launched on local as job1: nothing launched" in again.stdout
    assert project.ledger_rows() == rows
    assert not (project.store / "jobs/job2").exists()
    assert (project.store / "counters/jobs").read_text().strip() == "1"


@pytest.mark.slow
def test_random_search_records_the_drawn_values_per_run(project):
    proc = project.cli("launch", "runspecs/random_search.yaml", "--detach", "--format", "json", check=True)
    result = json.loads(proc.stdout)
    assert result["status"] == "launched" and result["hp_tuning"] == "random"
    # The launch facts the PR comment reads, as the runspec says; a local target has no prices, so no estimate.
    import yaml

    jl = yaml.safe_load((REPO / "runspecs/random_search.yaml").read_text())["job_launcher"]
    assert result["low_priority"] is (jl.get("low_priority") in (True, 1)) and result["hold"] is False
    assert result["cost_estimate"] is None
    assert (result["nodes"], result["runs_per_node"], result["total_runs"]) == \
        (jl["compute_nodes"], jl["runs_per_node"], jl["total_runs"])
    job = result["job"]
    assert project.wait(job)["status"] == "completed"
    import yaml

    spec = yaml.safe_load((REPO / "runspecs/random_search.yaml").read_text())
    values = _hp_values(REPO / "runspecs/random_search.yaml")
    runs = project.json("runs", job)["runs"]
    assert len(runs) == spec["job_launcher"]["total_runs"]
    for r in runs:
        assert set(r["hparams"]) == set(values)
        assert all(r["hparams"][k] in values[k] for k in values)
        # the run itself used the recorded values (the runtime writes them into summary.json)
        summary = project.read(f"runs/{r['run']}/summary.json")
        assert summary["hparams"] == r["hparams"] and summary["hp_search"] is True
    assert len({json.dumps(r["hparams"], sort_keys=True) for r in runs}) > 1


@pytest.mark.slow
def test_grid_search_runs_every_point_once_and_sorts_by_hpmax(project, tmp_path):
    result = json.loads(project.cli("launch", "runspecs/grid_search.yaml", "--detach", "--format", "json",
                                    check=True).stdout)
    job = result["job"]
    assert project.wait(job)["status"] == "completed"
    runs = project.json("runs", job, "--sort", "metrics.hpmax")["runs"]
    points = {(r["hparams"]["lr"], r["hparams"]["eps"]) for r in runs}
    assert points == set(itertools.product([0.05, 0.2], [0.05, 0.1, 0.2]))
    hpmaxes = [r["hpmax"] for r in runs]
    assert hpmaxes == sorted(hpmaxes)
    for r in runs:
        assert project.read(f"runs/{r['run']}/summary.json")["hparams"] == r["hparams"]
    # XT's `list runs --export`: a CSV with per-stage metrics, hpmax and the HP columns
    out = tmp_path / "grid.csv"
    project.cli("runs", job, "--export", str(out), check=True)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and {"run", "status", "hpmax", "lr", "eps", "s2-rew"} <= set(rows[0])
    best = project.cli("runs", job, "--sort", "metrics.hpmax", "--last", "1", check=True).stdout
    assert runs[-1]["run"] in best and "total runs listed: 1" in best


def _hp_values(path) -> dict:
    """name -> values of a runspec's hyperparameters, as the resolver reads them."""
    from launcher.config import BUILTIN_COMPONENTS
    from launcher.runspec.api import resolve_file

    return {h.name: h.values for h in resolve_file(path, component_roots=[BUILTIN_COMPONENTS]).hyperparameters}


def test_concurrent_launches_never_share_a_number(project):
    project.write("runspecs/one.yaml", tiny_runspec(total_runs=1, per_node=1, iters=200, report=100))
    procs = [subprocess.Popen([sys.executable, "-m", "launcher", "launch", "runspecs/one.yaml", "--force",
                               "--detach", "--format", "json"], cwd=project.root, env=cli_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(32)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    jobs = [r["job"] for r in results]
    parents = [p for r in results for p in r["parents"]]
    assert sorted(jobs, key=lambda j: int(j[3:])) == [f"job{i}" for i in range(1, 33)]
    assert len(set(parents)) == 32
    rows = project.ledger_rows()
    assert len(rows) == 32  # every concurrent launch kept its ledger row
    for job in jobs:
        project.wait(job, timeout=180)


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """True once pid has ended (a zombie nobody reaped counts as ended), within timeout seconds."""
    from launcher.jobs.records import pid_alive

    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _long_runspec(project, name="long.yaml", *, total_runs=3, per_node=3, iters=3_000_000):
    # Long enough to be caught while running; the test stops it.
    return project.write(f"runspecs/{name}", tiny_runspec(total_runs=total_runs, per_node=per_node, iters=iters,
                                                           report=iters // 10))


def test_a_killed_run_fails_with_its_console_tail_and_the_job_goes_on(project):
    _long_runspec(project, total_runs=3, per_node=3, iters=1_500_000)
    job = json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json",
                                 check=True).stdout)["job"]
    # once its first report line is on the console, so the tail has something to show
    victim = project.wait_run("run1.2", lambda r: r.get("status") == "running" and "iters" in r.get("console_tail", ""))
    os.killpg(victim["pid"], signal.SIGKILL)
    summary = project.wait(job, timeout=180)
    assert summary["status"] == "failed" and summary["runs_completed"] == 2 and summary["runs_failed"] == 1
    runs = {r["run"]: r for r in project.json("runs", job)["runs"]}
    assert runs["run1.2"]["status"] == "failed" and runs["run1.2"]["exit_code"] == -9
    assert "killed by signal 9" in runs["run1.2"]["error"]
    assert victim["console_tail"] in runs["run1.2"]["console_tail"]
    assert runs["run1.1"]["status"] == runs["run1.3"]["status"] == "completed"
    failed = project.json("runs", job, "--status", "failed")["runs"]
    assert [r["run"] for r in failed] == ["run1.2"]


def test_cancel_stops_a_running_job(project):
    _long_runspec(project, total_runs=4, per_node=2)
    job = json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json",
                                 check=True).stdout)["job"]
    running = project.wait_run("run1.1", lambda r: r.get("status") == "running" and r.get("pid"))
    out = project.json("cancel", job)
    assert out["status"] == "cancelled"
    assert set(out["cancelled_runs"]) == {"run1.1", "run1.2", "run1.3", "run1.4"}
    runs = project.json("runs", job)["runs"]
    assert all(r["status"] == "cancelled" for r in runs)
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):  # the run's process group is gone
        os.killpg(running["pid"], 0)
    sup = project.read(f"jobs/{job}/supervisor.json")
    assert sup["finished"] is True
    again = project.cli("cancel", job, check=True)
    assert "already ended (cancelled)" in again.stdout


def test_a_dead_supervisor_leaves_its_runs_lost(project):
    _long_runspec(project, total_runs=2, per_node=2, iters=100_000_000)  # minutes: it must not end by itself
    job = json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json",
                                 check=True).stdout)["job"]
    running = project.wait_run("run1.1", lambda r: r.get("status") == "running" and r.get("pid"))
    project.wait_run("run1.2", lambda r: r.get("status") == "running" and r.get("pid"))
    os.kill(project.read(f"jobs/{job}/supervisor.json")["pid"], signal.SIGKILL)
    time.sleep(0.3)
    summary = project.json("status", job)
    assert summary["status"] == "failed" and summary["runs_failed"] == 2
    runs = project.json("runs", job)["runs"]
    assert {r["status"] for r in runs} == {"lost"}
    assert "supervisor" in runs[0]["error"]
    # The runs' processes died with it (parent-death signal): nothing is left running unseen.
    for rec in (running, project.read("runs/run1.2/run.json")):
        assert _gone(rec["pid"]), f"{rec['run']} (pid {rec['pid']}) outlived its supervisor"


def test_capacity_and_runs_per_node_bound_what_runs_at_once(project):
    project.write("runspecs/a.yaml", tiny_runspec(total_runs=3, nodes=1, per_node=3, iters=20000, report=5000))
    project.write("runspecs/b.yaml", tiny_runspec(description="b", total_runs=2, nodes=1, per_node=2,
                                                  iters=20000, report=5000))
    project.write("runspecs/c.yaml", tiny_runspec(description="c", total_runs=4, nodes=2, per_node=1,
                                                  iters=20000, report=5000))
    a = json.loads(project.cli("launch", "runspecs/a.yaml", "--target", "one-slot", "--detach", "--format", "json",
                               check=True).stdout)["job"]
    b = json.loads(project.cli("launch", "runspecs/b.yaml", "--target", "one-slot", "--detach", "--format", "json",
                               check=True).stdout)["job"]
    c = json.loads(project.cli("launch", "runspecs/c.yaml", "--detach", "--format", "json", check=True).stdout)["job"]
    for job in (a, b, c):
        assert project.wait(job, timeout=180)["status"] == "completed"

    def intervals(job):
        from launcher.jobs.records import parse_iso

        return [(parse_iso(r["started"]), parse_iso(r["ended"]), r["node"])
                for r in project.json("runs", job)["runs"]]

    def max_overlap(spans):
        events = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
        cur = best = 0
        for _, d in events:
            cur += d
            best = max(best, cur)
        return best

    assert max_overlap(intervals(a) + intervals(b)) == 1  # one slot shared by two jobs: they took turns
    spans = intervals(c)
    for node in ("node0", "node1"):  # runs_per_node 1: a node's children ran one after the other
        assert max_overlap([s for s in spans if s[2] == node]) == 1


def test_monitoring_commands_show_logs_download_and_jobs(project, tmp_path):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=2, nodes=2, per_node=1, iters=2000, report=500))
    proc = project.cli("launch", "runspecs/t.yaml", check=True)
    assert "job1: completed, 2/2 runs done" in proc.stdout
    logs = project.cli("logs", "ws1/run1.1", check=True).stdout
    assert "hpmax" in logs
    followed = project.cli("logs", "run2.1", "--follow", check=True)
    assert followed.stdout == project.cli("logs", "run2.1", check=True).stdout
    assert "run2.1: completed" in followed.stderr
    dest = tmp_path / "dl"
    out = project.json("download", "job1", str(dest))
    assert out["files"] > 8
    for run in ("run1.1", "run2.1"):
        assert (dest / "job1" / run / "console.txt").is_file()
        assert (dest / "job1" / run / "repro_spec.yaml").is_file()
        assert (dest / "job1" / run / "mirrored" / "tiny" / "metrics.jsonl").is_file()
    assert (dest / "job1" / "launched_job_spec.yaml").is_file()
    project.json("download", "run2.1", str(tmp_path / "one"))
    assert (tmp_path / "one" / "run2.1" / "run.json").is_file()
    jobs = project.json("jobs")["jobs"]
    assert [j["job"] for j in jobs] == ["job1"] and jobs[0]["runs_done"] == 2
    assert jobs[0]["status"] == "completed" and jobs[0]["runspec"] == "runspecs/t.yaml"
    assert "job1" in project.cli("jobs", "--last", "1", check=True).stdout
    status = project.json("status", "job1")
    assert [p["status"] for p in status["parents"]] == ["completed", "completed"]
    missing = project.cli("logs", "run99.1")
    assert missing.returncode == 1 and "no run 'run99.1'" in missing.stderr and "Traceback" not in missing.stderr


def test_disabled_invalid_and_unknown_target_launch_nothing(project):
    project.write("runspecs/off.yaml", tiny_runspec(enabled=0))
    off = project.cli("launch", "runspecs/off.yaml")
    assert off.returncode == 1 and "not enabled" in off.stdout
    project.write("runspecs/bad.yaml", tiny_runspec().replace("max_iterations", "max_iteration"))
    bad = project.cli("launch", "runspecs/bad.yaml")
    assert bad.returncode == 1 and "bad.yaml:" in bad.stdout and "nothing launched" in bad.stdout
    project.write("runspecs/ok.yaml", tiny_runspec())
    nowhere = project.cli("launch", "runspecs/ok.yaml", "--target", "locl")
    assert nowhere.returncode == 1 and "did you mean 'local'" in nowhere.stderr
    for p in (off, bad, nowhere):
        assert "Traceback" not in p.stderr
    assert project.ledger_rows() == [] and not (project.store / "jobs").exists()


def test_a_dirty_tree_is_refused_unless_allowed(project):
    project.write("runspecs/ok.yaml", tiny_runspec())
    (project.root / "helper.py").write_text("x = 1\n")  # untracked code: the runs would lack it
    refused = project.cli("launch", "runspecs/ok.yaml", "--detach")
    assert refused.returncode == 1 and "(or untracked code or runspecs): helper.py" in refused.stderr
    allowed = json.loads(project.cli("launch", "runspecs/ok.yaml", "--detach", "--allow-dirty", "--format", "json",
                                     check=True).stdout)
    assert allowed["dirty"] is True
    assert project.read(f"jobs/{allowed['job']}/job.json")["dirty_files"] == ["helper.py"]
    project.wait(allowed["job"])


def test_a_refused_submit_leaves_no_job_record_no_ledger_row_and_nothing_running(project):
    project.write("runspecs/ok.yaml", tiny_runspec())
    (project.store / "jobs/job1/supervisor.log").mkdir(parents=True)  # the supervisor cannot log: no start
    failed = project.cli("launch", "runspecs/ok.yaml", "--detach")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "the local supervisor for job1 could not be started" in failed.stderr
    assert project.ledger_rows() == []
    # No job record and no run records: `launcher jobs` does not show it, `status` does not know it.
    assert not (project.store / "jobs/job1").exists()
    assert not (project.store / "runs/run1").exists() and not (project.store / "runs/run1.1").exists()
    assert project.json("jobs")["jobs"] == []
    unknown = project.cli("status", "job1")
    assert unknown.returncode == 1 and "no job 'job1'" in unknown.stderr
    assert list((project.store / "index").glob("**/*")) == []
    # Its numbers stay used: the next launch of the same content is job2 with run2.
    again = json.loads(project.cli("launch", "runspecs/ok.yaml", "--detach", "--format", "json", check=True).stdout)
    assert again["status"] == "launched" and again["job"] == "job2" and again["parents"] == ["run2"]
    project.wait("job2")


def test_overrides_reach_the_runs_and_the_launched_spec(project, tmp_path):
    project.write("runspecs/ok.yaml", tiny_runspec(total_runs=1, per_node=1))
    out = json.loads(project.cli("launch", "runspecs/ok.yaml", "--set", "<experiment_path>=../results/moved",
                                 "--ledger-row-out", str(tmp_path / "row.json"), "--origin", "PR #7",
                                 "--format", "json", check=True).stdout)
    assert out["summary"]["status"] == "completed"
    launched = (project.store / "jobs/job1/launched_job_spec.yaml").read_text()
    assert '<experiment_path>: "../results/moved"  # --set' in launched
    assert (project.store / "runs/run1.1/mirrored/moved/summary.json").is_file()
    row = json.loads((tmp_path / "row.json").read_text())
    assert row["job"] == "job1" and row["origin"] == "PR #7" and row["description"] == "tiny job"
    # the override is part of the launch identity: without it, the same file is new content
    plain = json.loads(project.cli("launch", "runspecs/ok.yaml", "--detach", "--format", "json", check=True).stdout)
    assert plain["status"] == "launched" and plain["job"] == "job2"
    project.wait("job2")


def test_ctrl_c_stops_following_not_the_job(project):
    _long_runspec(project, total_runs=2, per_node=2)
    follower = subprocess.Popen([sys.executable, "-m", "launcher", "launch", "runspecs/long.yaml"],
                                cwd=project.root, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    project.wait_run("run1.1", lambda r: r.get("status") == "running")
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert out.startswith("job1, target: local,") and "job1 keeps running" in err
    assert project.json("status", "job1")["status"] == "running"
    assert project.json("cancel", "job1")["status"] == "cancelled"


def test_lost_runs_end_their_parents_too(project):
    _long_runspec(project, total_runs=1, per_node=1, iters=100_000_000)
    job = json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json",
                                 check=True).stdout)["job"]
    running = project.wait_run("run1.1", lambda r: r.get("status") == "running" and r.get("pid"))
    os.kill(project.read(f"jobs/{job}/supervisor.json")["pid"], signal.SIGKILL)
    assert _gone(running["pid"])  # the run died with its supervisor
    status = project.json("status", job)
    assert status["status"] == "failed" and [p["status"] for p in status["parents"]] == ["failed"]
    assert project.read(f"jobs/{job}/job.json")["status"] == "failed"
