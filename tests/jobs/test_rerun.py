"""`launcher rerun RUN`: the run's repro_spec.yaml launched again as a one-run job, recorded with its origin."""

from __future__ import annotations

import json

from jobs_project import git, tiny_runspec
from test_hp_search_local import add_objective_component, search_runspec

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
    assert "runs/run1.2/repro_spec.yaml" in row and "[runspecs/hp.yaml](runspecs/hp.yaml)" in row
    assert ".launcher/reruns" not in row
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


def test_rerun_runs_the_original_code_not_the_current_commit(project):
    add_objective_component(project)
    project.write("runspecs/grid.yaml", search_runspec("grid", total_runs=2, per_node=2))
    project.cli("launch", "runspecs/grid.yaml", check=True)
    original = project.read("runs/run1.2/run.json")
    first = project.read("jobs/job1/job.json")
    assert original["status"] == "completed" and isinstance(original["hpmax"], float)
    # the component changes after the job: its objective is now 1000 lower, in a new commit
    code = project.root / "components/processors/Objective_Proc/Objective_Proc.py"
    code.write_text(code.read_text().replace("return 100.0 - ", "return -900.0 - "))
    git(project.root, "commit", "-qam", "change the objective")
    proc = project.cli("rerun", "run1.2", "--format", "json", check=True)
    out = json.loads(proc.stdout)
    (again,) = project.json("runs", out["job"])["runs"]
    assert again["hpmax"] == original["hpmax"]  # the original code: the same hpmax, exactly
    job = project.read(f"jobs/{out['job']}/job.json")
    assert job["code_key"] == first["code_key"] and job["commit"] == first["commit"]
    assert job["runspec"] == "runspecs/grid.yaml"
    assert job["rerun_of"] == {"run": "run1.2", "job": "job1", "target": "local", "repro_spec":
                               "runs/run1.2/repro_spec.yaml", "code_key": first["code_key"], "commit": first["commit"]}
    row = next(r for r in project.ledger_rows() if r.startswith(f"| {out['job']} "))
    assert f"| {first['commit'][:12]} |" in row and "rerun of run1.2 (job1)" in row and ".launcher/" not in row
    # ... while the same rerun spec launched as a plain runspec takes the current commit's code: the change shows
    plain = project.json("launch", ".launcher/reruns/run1.2.yaml")
    (now,) = project.json("runs", plain["job"])["runs"]
    assert now["hpmax"] == original["hpmax"] - 1000
