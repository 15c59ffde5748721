"""The launch path's integration rules on the local backend: the ledger is not code, idempotency that survives a
stale ledger, what a failed launch leaves behind, where monitoring commands look for a run, and the refusal to
run payload code next to a GitHub OIDC token. Real git projects, the CLI as real processes."""

from __future__ import annotations

import io
import json
import zipfile

import yaml

from jobs_project import REPO, git, tiny_runspec


def _launch(project, runspec: str, *args: str, env: dict | None = None) -> dict:
    return json.loads(project.cli("launch", runspec, "--detach", "--format", "json", *args, check=True,
                                  env=env).stdout)


def _zip_names(project, code_key: str) -> list[str]:
    return zipfile.ZipFile(io.BytesIO((project.store / code_key).read_bytes())).namelist()


def test_the_ledger_a_launch_writes_is_neither_a_change_nor_part_of_the_code(project):
    project.write("runspecs/a.yaml", tiny_runspec(description="a", total_runs=1, per_node=1))
    project.write("runspecs/b.yaml", tiny_runspec(description="b", total_runs=1, per_node=1))
    project.write("jobs.md", "")  # a tracked ledger, as in a repository whose ledger rows were pushed
    first = _launch(project, "runspecs/a.yaml")
    assert first["status"] == "launched" and first["dirty"] is False
    assert "jobs.md" in git(project.root, "status", "--porcelain")  # the launch rewrote the tracked ledger
    (project.root / ".tmp-jobs.md.x1y2z3.tmp").write_text("a concurrent ledger write\n")
    # No --allow-dirty: the ledger and its temp file are the launcher's own output, not a code change.
    second = _launch(project, "runspecs/b.yaml")
    assert second["status"] == "launched" and second["dirty"] is False
    assert second["code_key"] == first["code_key"]  # the same code: the ledger is not in the snapshot
    names = _zip_names(project, second["code_key"])
    assert "runspecs/b.yaml" in names and "jobs.md" not in names
    assert not any(".tmp-jobs.md" in n for n in names)
    assert project.read(f"jobs/{second['job']}/job.json")["dirty_files"] == []
    for job in (first["job"], second["job"]):
        project.wait(job)


def test_a_stale_ledger_copy_still_finds_the_launch_in_the_store_index(project):
    project.write("runspecs/a.yaml", tiny_runspec(total_runs=1, per_node=1))
    first = _launch(project, "runspecs/a.yaml")
    assert first["job"] == "job1"
    project.wait("job1")
    index = list((project.store / "index" / "launched").iterdir())
    assert [p.name for p in index] == [f"{first['content_hash']}-{first['commit'][:12]}-local"]
    assert json.loads(index[0].read_text())["job"] == "job1"

    # The ledger at hand lacks the row (a pull request's checkout of an older jobs.md): the index still knows.
    (project.root / "jobs.md").unlink()
    again = project.cli("launch", "runspecs/a.yaml", "--detach", check=True)
    assert "already launched on local as job1: nothing launched" in again.stdout
    assert not (project.store / "jobs/job2").exists()
    assert (project.store / "counters/jobs").read_text().strip() == "1"
    as_json = _launch(project, "runspecs/a.yaml")
    assert as_json["status"] == "exists" and as_json["job"] == "job1"
    # The row the stale ledger lacks, rebuilt from the store, for a CI step to record (--ledger-row-out).
    row = as_json["ledger_row"]
    assert (row["job"], row["target"], row["status"], row["runspec"]) == ("job1", "local", "completed",
                                                                          "runspecs/a.yaml")
    assert row["commit"] == first["commit"][:12] and row["runs"] == "1 (1 × 1)"

    # --force skips both checks; the index then names the newest launch.
    forced = _launch(project, "runspecs/a.yaml", "--force")
    assert forced["status"] == "launched" and forced["job"] == "job2"
    project.wait("job2")
    assert json.loads(index[0].read_text())["job"] == "job2"

    # A job whose record says its launch failed (`removed`) counts neither through the ledger nor the index.
    for job in ("job1", "job2"):
        record = project.read(f"jobs/{job}/job.json")
        record["status"] = "removed"
        (project.store / f"jobs/{job}/job.json").write_text(json.dumps(record))
    third = _launch(project, "runspecs/a.yaml")
    assert third["status"] == "launched" and third["job"] == "job3"
    project.wait("job3")


def test_a_launch_whose_ledger_write_fails_is_stopped_and_marked_removed(project):
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=2, per_node=2, iters=3_000_000, report=300_000))
    # The ledger's lock file is a folder, so the ledger lock cannot be taken and the write fails (the store's
    # other locks, beside it, still work: the job's records are written under them).
    (project.store / "locks" / "ledger.lock").mkdir(parents=True)
    failed = project.cli("launch", "runspecs/long.yaml", "--detach")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert project.ledger_rows() == []
    # The backend had taken the job, so its record stays, marked removed, with its runs stopped.
    record = project.read("jobs/job1/job.json")
    assert record["status"] == "removed" and "launch failed" in record["error"]
    assert {project.read(f"runs/{r}/run.json")["status"] for r in record["runs"]} == {"cancelled"}
    assert project.read("jobs/job1/supervisor.json")["finished"] is True
    assert not (project.store / "index" / "launched").exists() or \
        list((project.store / "index" / "launched").iterdir()) == []
    assert [j["status"] for j in project.json("jobs")["jobs"]] == ["removed"]
    # Once the ledger can be written, the same content launches (the removed job does not count).
    (project.store / "locks" / "ledger.lock").rmdir()
    again = _launch(project, "runspecs/long.yaml")
    assert again["status"] == "launched" and again["job"] == "job2"
    assert project.json("cancel", "job2")["status"] == "cancelled"



def test_a_store_folder_that_cannot_be_written_is_a_clear_error_not_a_bug(project):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.store.mkdir(parents=True, exist_ok=True)
    (project.store / "locks").write_text("a file where the store's locks folder should be\n")
    failed = project.cli("launch", "runspecs/t.yaml", "--detach")
    assert failed.returncode == 1, failed.stderr
    assert "internal error" not in failed.stderr and "Traceback" not in failed.stderr
    assert "launcher: error:" in failed.stderr and str(project.store / "locks") in failed.stderr
    assert "hint: check that this path's folders exist" in failed.stderr
    assert project.ledger_rows() == [] and not (project.store / "jobs" / "job1").exists()  # nothing half-written
    # with LAUNCHER_DEBUG the trace is there for whoever reports it
    debug = project.cli("launch", "runspecs/t.yaml", "--detach", env={"LAUNCHER_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr

AZURE_TARGET = """
[tool.launcher.targets.azb-x]
backend = "azure-batch"
batch_endpoint = "${TEST_UNSET_BATCH_ENDPOINT}"
storage_account_url = "${TEST_UNSET_STORAGE_URL}"
vm_size = "Standard_D2s_v3"
image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }
node_agent_sku = "batch.node.ubuntu 22.04"
"""


def test_logs_and_download_look_through_every_target_and_say_where(project, tmp_path):
    project.write("pyproject.toml", (project.root / "pyproject.toml").read_text() + AZURE_TARGET)
    for args in (("logs", "run5.1"), ("download", "run5.1", str(tmp_path / "dl"))):
        missing = project.cli(*args)
        assert missing.returncode == 1 and "Traceback" not in missing.stderr
        err = missing.stderr
        assert "no run 'run5.1' in the store of any target; looked in: local (folder " in err
        # The Azure target is looked in too; here it is not configured, and the message says why.
        assert "azb-x (not readable here: target 'azb-x' is not ready for Azure Batch" in err
        assert "TEST_UNSET_BATCH_ENDPOINT" in err
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/t.yaml", check=True)
    found = project.cli("download", "run1.1", str(tmp_path / "dl"), check=True)
    assert "of run1.1 from target local to" in found.stdout
    logs = project.cli("logs", "run1.1", check=True)
    assert "hpmax" in logs.stdout and "from the store of target" not in logs.stderr


def test_a_local_launch_is_refused_where_a_github_oidc_token_can_be_requested(project):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    token = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}
    refused = project.cli("launch", "runspecs/t.yaml", "--detach", env=token)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "refusing to launch on the local target 'local'" in refused.stderr
    assert "LAUNCHER_ALLOW_LOCAL_WITH_TOKEN=1" in refused.stderr
    # Refused before anything was allocated or written.
    assert not (project.store / "counters").exists() and not (project.store / "jobs").exists()
    assert project.ledger_rows() == []
    allowed = _launch(project, "runspecs/t.yaml", env={**token, "LAUNCHER_ALLOW_LOCAL_WITH_TOKEN": "1"})
    assert allowed["status"] == "launched" and allowed["job"] == "job1"
    project.wait("job1")


def test_the_workflow_launches_local_targets_from_a_job_without_a_token():
    """The launch-local job must not hold id-token (the refusal above would stop it), nor switch it off."""
    text = (REPO / ".github/workflows/runspecs-reusable.yml").read_text()
    jobs = yaml.safe_load(text)["jobs"]
    assert "id-token" not in (jobs["launch-local"].get("permissions") or {})
    assert "launcher launch" in json.dumps(jobs["launch-local"]["steps"])
    assert "LAUNCHER_ALLOW_LOCAL_WITH_TOKEN" not in text


def test_a_custom_store_folder_that_git_does_not_ignore_is_not_a_change(project):
    # The project keeps its store in `runstore/`, which its .gitignore does not list.
    pyproject = (project.root / "pyproject.toml").read_text()
    project.write("pyproject.toml", pyproject.replace("[tool.launcher]", '[tool.launcher]\nstore = "runstore"', 1))
    project.store = project.root / "runstore"
    project.write("runspecs/a.yaml", tiny_runspec(description="a", total_runs=1, per_node=1))
    project.write("runspecs/b.yaml", tiny_runspec(description="b", total_runs=1, per_node=1))
    first = _launch(project, "runspecs/a.yaml")
    assert "runstore/" in git(project.root, "status", "--porcelain", "--untracked-files=all")
    second = _launch(project, "runspecs/b.yaml")  # no --allow-dirty
    assert second["status"] == "launched" and second["dirty"] is False
    assert second["code_key"] == first["code_key"]
    assert not any(n.startswith("runstore/") for n in _zip_names(project, second["code_key"]))
    for job in (first["job"], second["job"]):
        project.wait(job)
