"""Rough edges found by trying the launcher, each pinned: typos get "did you mean" and are said once."""

from __future__ import annotations

from jobs_project import tiny_runspec


def test_a_set_naming_no_placeholder_is_an_error_with_did_you_mean(project):
    proc = project.cli("launch", "runspecs/xt_walk_through.yaml", "--target", "local", "--detach",
                       "--set", "<exprement_path>=../results/x")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "RS212 error: --set '<exprement_path>': the runspec has no placeholder" in proc.stderr
    assert "did you mean '<experiment_path>'?" in proc.stderr
    assert proc.stderr.count("no placeholder <exprement_path>") == 1  # said once, not again as "launcher: error"
    assert not list(project.store.glob("jobs/*/job.json"))  # nothing launched
    # a placeholder the runspec uses without defining it may be set: that is what --set is for
    project.write("runspecs/open.yaml", tiny_runspec().replace("  <experiment_path>: ../results/tiny\n", "  <unused>: 1\n"))
    ok = project.cli("run", "runspecs/open.yaml", "--set", "<experiment_path>=../results/open")
    assert ok.returncode == 0, ok.stderr


def test_a_misspelled_component_gets_did_you_mean_and_one_error_at_launch(project):
    project.write("runspecs/typo.yaml", tiny_runspec().replace("processors/RL_Proc", "processors/RL_Prco"))
    proc = project.cli("launch", "runspecs/typo.yaml", "--detach")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "RS111 error: component processors/RL_Prco not found" in out
    assert "did you mean 'processors/RL_Proc'?" in out
    assert "RS110" not in out and out.count("processors/RL_Prco not found") == 1  # no warning for the same line
    validate = project.cli("validate", "runspecs/typo.yaml")
    assert "RS110 warning" in validate.stdout + validate.stderr
    assert "did you mean 'processors/RL_Proc'?" in validate.stdout + validate.stderr


def test_ctrl_c_at_any_moment_of_a_launch_leaves_no_traceback_and_no_broken_record(project):
    import json
    import signal
    import subprocess
    import sys
    import time

    from jobs_project import cli_env

    project.write("runspecs/t.yaml", tiny_runspec(total_runs=2, per_node=2, iters=200, report=100))
    # Offsets from the end of the interpreter's own start-up (site.py, .pth files), measured here: a Ctrl-C
    # before any launcher code runs is Python's to report, not ours (and takes longer on a loaded machine).
    startup = 0.0
    for _ in range(3):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], env=cli_env(), check=True)
        startup = max(startup, time.monotonic() - t0)
    for delay in (startup + d for d in (0.05, 0.2, 0.4, 0.6, 0.9, 1.2, 1.6, 2.2)):
        proc = subprocess.Popen([sys.executable, "-m", "launcher", "launch", "runspecs/t.yaml", "--force"],
                                cwd=project.root, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, (delay, err)
        assert proc.returncode in (0, 1, 130, -signal.SIGINT), (delay, proc.returncode, err)
    time.sleep(1.0)  # a supervisor that was starting when its launch was withdrawn has had its chance to write
    for path in project.store.glob("jobs/*/job.json"):
        record = json.loads(path.read_text())
        assert record.get("job") == path.parent.name and record.get("runspec"), record
    jobs = project.json("jobs")["jobs"]
    assert all(j["job"] and j["status"] for j in jobs)
    for j in jobs:
        assert project.cli("status", j["job"], check=True).stdout.startswith(f"{j['job']}: ")


def test_launch_output_console_and_jobs_order(project):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1, iters=200, report=100))
    first = project.cli("launch", "runspecs/t.yaml", check=True).stdout
    again = project.cli("launch", "runspecs/t.yaml", "--force", check=True).stdout
    assert "uploading " in first.splitlines()[0]
    # the same snapshot is in the store: the launch line says so once, instead of "uploading" then "nothing"
    assert "code unchanged (" in again.splitlines()[0] and "uploading" not in again
    assert "nothing uploaded" not in again
    console = (project.store / "runs" / "run1.1" / "console.txt").read_text()
    assert "`launcher run` runs locally" not in console  # a launched run is not "run locally"
    assert [j["job"] for j in project.json("jobs")["jobs"]] == ["job2", "job1"]  # newest first, like jobs.md
    rows = project.ledger_rows()
    assert [r.split("|")[1].strip() for r in rows] == ["job2", "job1"]
