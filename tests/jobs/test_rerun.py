"""`launcher rerun RUN`: the run's repro_spec.yaml launched again as a one-run job, recorded with its origin."""

from __future__ import annotations

from jobs_project import tiny_runspec

HPS = "hyperparameters:\n  - name: &lr\n      ordered_tuning_values: [0.05, 0.9]\n      tuned_value: 0.05\n"


def test_rerun_reproduces_a_run_as_a_new_job(project):
    project.write("runspecs/hp.yaml", tiny_runspec(hp_tuning="grid", total_runs=2, per_node=2, hyperparameters=HPS,
                                                    stage_extra="      learning_rate: *lr\n"))
    project.cli("launch", "runspecs/hp.yaml", check=True)
    original = project.read("runs/run1.2/run.json")
    out = project.json("rerun", "run1.2")
    assert out["job"] == "job2" and out["total_runs"] == 1 and out["summary"]["status"] == "completed"
    (again,) = project.json("runs", "job2")["runs"]
    assert again["hpmax"] == original["hpmax"]  # the same run: same HP values, same drawn seeds
    row = next(r for r in project.ledger_rows() if r.startswith("| job2 "))
    assert "rerun of run1.2 (job1)" in row and "| 1 (1 × 1) |" in row
    assert project.cli("rerun", "run1.2").stdout.count("already launched") == 1  # once, unless --force


def test_rerun_bad_input(project):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/t.yaml", check=True)
    missing = project.cli("rerun", "run9.1")
    assert missing.returncode == 1 and "no run 'run9.1'" in missing.stderr
    parent = project.cli("rerun", "run1")
    assert parent.returncode == 2 and "is a parent run" in parent.stderr
    target = project.cli("rerun", "run1.1", "--target", "locl")
    assert target.returncode != 0 and "did you mean 'local'" in target.stderr
    assert all("Traceback" not in p.stderr for p in (missing, parent, target))
    assert not (project.store / "reruns" / "run1.1.yaml").exists()
