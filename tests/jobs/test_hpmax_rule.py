"""The hpmax rule: only a completed run has an hpmax, and a job's best hpmax is over its completed runs only."""

from __future__ import annotations

from launcher.agent import failure_reason, final_hpmax
from launcher.jobs.status import parent_status, summarize
from jobs_project import tiny_runspec

# Stage 1 trains and reports; stage 2 loads a model that does not exist and fails before its first report: the
# run ends failed with stage 1's raw metrics as its latest values (what the old fallback took for hpmax).
SECOND_STAGE_FAILS = """\
  - processing_stage:
      component: processors/RL_Proc
      environment: *env
      train: false
      load_model_from: no_such_model.json
      max_iterations: 200
      iters_per_report: 100
"""


def test_failed_runs_have_no_hpmax_and_the_job_no_best(project):
    project.write("runspecs/crash.yaml", tiny_runspec(total_runs=2, per_node=2) + SECOND_STAGE_FAILS)
    project.cli("launch", "runspecs/crash.yaml", check=False)
    summary = project.wait("job1")
    runs = project.json("runs", "job1")["runs"]
    assert summary["status"] == "failed" and summary["runs_failed"] == 2
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert all(r["metrics"].get("s1-rew") is not None for r in runs)  # it reported before it crashed
    assert [r["hpmax"] for r in runs] == [None, None]
    assert summary["best_hpmax"] is None
    # The reason is the component's error, not only "exit code 1".
    assert all("no model at no_such_model.json" in r["reason"] for r in runs)
    parent = project.read("runs/run1/run.json")
    assert parent["status"] == "failed"  # not "completed" when all of its children failed
    status = project.cli("status", "job1", check=True).stdout
    assert "best hpmax" not in status and "no model at" in status
    jobs_md = (project.root / "jobs.md").read_text()
    row = next(line for line in jobs_md.splitlines() if line.startswith("| job1 "))
    assert "| failed |" in row and "| 4 |" not in row


def test_best_hpmax_is_over_completed_runs_only():
    job = {"job": "job1", "status": "running"}
    runs = [{"run": "run1.1", "status": "completed", "hpmax": -0.31},
            {"run": "run1.2", "status": "completed", "hpmax": -0.51},
            # records written before the rule: a cancelled and a failed run carrying a raw last value
            {"run": "run1.3", "status": "cancelled", "hpmax": 0.32352},
            {"run": "run1.4", "status": "failed", "hpmax": 4}]
    assert summarize(job, runs)["best_hpmax"] == -0.31
    assert summarize(job, runs[2:])["best_hpmax"] is None
    assert summarize(job, [{"run": "run1.1", "status": "completed", "hpmax": True}])["best_hpmax"] is None


def test_a_completed_runs_hpmax_comes_from_the_run_never_from_a_raw_metric(tmp_path):
    console = tmp_path / "console.txt"
    console.write_text("")
    (tmp_path / "metrics.jsonl").write_text('{"stage": 1, "iteration": 10, "metrics": {"rew": 0.9}}\n')
    assert final_hpmax(tmp_path, console) is None  # no summary, no logged hpmax: unknown, not 0.9
    # rl_nexus's finish_run logs {x_axis: x, "hpmax": v} and prints the "Objective ... (hpmax):" line
    console.write_text("Objective that would be maximized by hyperparameter tuning (hpmax):  -0.15560\n")
    assert final_hpmax(tmp_path, console) == -0.1556
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"iters": 10, "hpmax": -0.2}\n')
    assert final_hpmax(tmp_path, console) == -0.2
    (tmp_path / "summary.json").write_text('{"hpmax": -0.3}')
    assert final_hpmax(tmp_path, console) == -0.3


def test_failure_reason_is_the_exception_line(tmp_path):
    console = tmp_path / "console.txt"
    console.write_text("step 1\nTraceback (most recent call last):\n  File \"x.py\", line 3\nValueError: bad lr\n")
    assert failure_reason(tmp_path, console) == "ValueError: bad lr"
    (tmp_path / "summary.json").write_text('{"error": {"type": "KeyError", "message": "\'lr\'", '
                                           '"location": "Proc.py:12 in execute"}}')
    assert failure_reason(tmp_path, console) == "KeyError: 'lr' (Proc.py:12 in execute)"


def test_parent_status_from_children():
    assert parent_status([{"status": "completed"}] * 2) == "completed"
    assert parent_status([{"status": "failed"}, {"status": "failed"}]) == "failed"
    assert parent_status([{"status": "completed"}, {"status": "cancelled"}]) == "cancelled"
