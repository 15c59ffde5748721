"""`launcher ledger push|refresh|show` end to end: real project folders, real git, a real job store."""

from __future__ import annotations

import json

import pytest
from ledger_repos import commit_file, git, remote_file

from launcher import ledger as L
from launcher.store.local import LocalStore

PYPROJECT = '[project]\nname = "demo"\n\n[tool.launcher]\nworkspace = "ws1"\nledger = "jobs.md"\nstore = ".launcher"\n'


def row(n: int, **kw) -> L.LedgerRow:
    base = dict(job=f"job{n}", launched="2025-05-01 12:00", runspec="runspecs/demo.yaml", content_hash=f"{n:012x}",
                commit="cd" * 20, target="local", runs="2 (1 × 2)", hp_tuning="none", status="queued",
                description=f"launch {n}", origin="local: test")
    base.update(kw)
    return L.LedgerRow(**base)


@pytest.fixture
def project(make_clone):
    """A clone of the remote that is a launcher project (pyproject.toml with [tool.launcher], committed)."""
    clone = make_clone("project")
    commit_file(clone, "pyproject.toml", PYPROJECT, "add config")
    commit_file(clone, ".gitignore", ".launcher/\n", "ignore the store")
    git("push", "--quiet", "origin", "main", cwd=clone)
    return clone


def write_job(store: LocalStore, job: str, runs: dict[str, tuple[str, float | None]]) -> None:
    """Job and run records as a launch and its agents leave them (launcher/jobs/records.py)."""
    store.write_json(f"jobs/{job}/job.json", {"job": job, "status": "queued", "runs": list(runs)})
    for name, (status, hpmax) in runs.items():
        store.write_json(f"runs/{name}/run.json", {"run": name, "job": job, "status": status, "hpmax": hpmax})


def test_push_row_json_then_show(run_cli, project, remote, tmp_path):
    row_file = tmp_path / "row.json"
    row_file.write_text(json.dumps(row(1).to_dict()))
    code, out, err = run_cli("ledger", "push", "--row-json", row_file, cwd=project)
    assert code == 0, err
    assert out.startswith("pushed job1 to origin/main:jobs.md as ")
    assert L.parse_ledger(remote_file(remote)).get("job1") == row(1)

    code, out, _ = run_cli("ledger", "show", "--format", "json", cwd=project)  # fast-forwarded checkout
    assert code == 0 and json.loads(out)["rows"] == [row(1).to_dict()]
    code, out, _ = run_cli("ledger", "show", cwd=project)
    assert out.splitlines()[0].split() == ["job", "launched", "target", "runs", "status", "best_hpmax",
                                           "description"]
    assert out.splitlines()[1].startswith("job1  2025-05-01 12:00  local")


def test_push_without_rows_sends_the_locally_changed_rows_only(run_cli, project, remote, make_clone):
    L.write_ledger(project / "jobs.md", L.upsert(L.upsert(L.Ledger(), row(1)), row(2)))
    git("add", "jobs.md", cwd=project)
    git("commit", "--quiet", "-m", "ledger", cwd=project)
    git("push", "--quiet", "origin", "main", cwd=project)
    # someone describes job1 on the remote; locally we add job3 and never saw that edit
    other = make_clone("other")
    commit_file(other, "jobs.md", (other / "jobs.md").read_text().replace("| launch 1 |", "| remote edit |"))
    git("push", "--quiet", "origin", "main", cwd=other)
    L.write_ledger(project / "jobs.md", L.upsert(L.read_ledger(project / "jobs.md"), row(3)))

    code, out, err = run_cli("ledger", "push", "--format", "json", cwd=project)
    assert code == 0, err
    assert json.loads(out)["jobs"] == ["job3"]
    ledger = L.parse_ledger(remote_file(remote))
    assert [r.job for r in ledger.rows] == ["job3", "job2", "job1"]
    assert ledger.get("job1").description == "remote edit"

    git("checkout", "--quiet", "jobs.md", cwd=project)
    code, out, _ = run_cli("ledger", "push", cwd=project)
    assert code == 0 and "no changed rows to push" in out


def test_push_with_a_bad_row_file_is_a_clear_error(run_cli, project, tmp_path):
    bad = tmp_path / "row.json"
    bad.write_text('{"job": "job1",\n "status": }')
    code, out, err = run_cli("ledger", "push", "--row-json", bad, cwd=project)
    assert code == 1 and out == ""
    assert f"{bad}:2:" in err and "invalid JSON" in err and "Traceback" not in err
    bad.write_text('{"job": "job1", "stauts": "queued"}')
    code, _, err = run_cli("ledger", "push", "--row-json", bad, cwd=project)
    assert code == 1 and "unknown ledger field 'stauts'" in err and "did you mean 'status'" in err


def test_refresh_rewrites_unfinished_rows_from_the_store(run_cli, project):
    store = LocalStore(project / ".launcher")
    write_job(store, "job1", {"run1.1": ("completed", 0.5), "run1.2": ("completed", 0.75)})
    write_job(store, "job2", {"run2.1": ("running", None)})
    ledger = L.Ledger()
    for r in (row(1, description="hand edit"), row(2), row(3, status="completed", best_hpmax="0.1"), row(4)):
        ledger = L.upsert(ledger, r)
    L.write_ledger(project / "jobs.md", ledger)

    code, out, err = run_cli("ledger", "refresh", "--dry-run", cwd=project)
    assert code == 0, err
    assert L.read_ledger(project / "jobs.md") == ledger

    code, out, err = run_cli("ledger", "refresh", cwd=project)
    assert code == 0, err
    lines = out.splitlines()
    assert "job1: queued -> completed, best hpmax 0.75" in lines
    assert "job2: queued -> running" in lines
    assert "job4: not found in the store" in lines
    assert lines[-1] == "3 unfinished row(s) checked, 2 changed; wrote jobs.md"
    after = L.read_ledger(project / "jobs.md")
    assert after.get("job1").status == "completed" and after.get("job1").best_hpmax == "0.75"
    assert after.get("job1").description == "hand edit"
    assert after.get("job3") == ledger.get("job3") and after.get("job4") == ledger.get("job4")

    code, out, _ = run_cli("ledger", "refresh", "--format", "json", cwd=project)
    report = json.loads(out)
    assert code == 0 and report["changed"] == [] and [r["job"] for r in report["rows"]] == ["job4", "job2"]


def test_a_refresh_that_cannot_read_a_row_says_so_and_fails(run_cli, project, monkeypatch):
    # an Azure row whose store the refresh cannot reach (here: the endpoint variable is not set, as in the
    # scheduled workflow that once passed neither endpoint): an annotation, exit 1, the readable rows refreshed
    (project / "pyproject.toml").write_text(PYPROJECT + '\n[tool.launcher.targets.azb]\nbackend = "azure-batch"\n'
                                            'container = "c"\nvm_size = "Standard_D2s_v3"\n')
    store = LocalStore(project / ".launcher")
    write_job(store, "job1", {"run1.1": ("completed", 0.5)})
    ledger = L.upsert(L.upsert(L.Ledger(), row(1)), row(2, target="azb"))
    L.write_ledger(project / "jobs.md", ledger)
    monkeypatch.delenv("AZURE_BATCH_ENDPOINT", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, err = run_cli("ledger", "refresh", cwd=project)
    assert code == 1 and "Traceback" not in err
    assert any(ln.startswith("::error title=ledger refresh::job2: ") and "AZURE_BATCH_ENDPOINT" in ln
               for ln in out.splitlines()), out
    assert "job2:" in err and "1 row(s) could not be refreshed" in err
    assert "job1: queued -> completed" in out  # the rows it could read are refreshed all the same
    assert L.read_ledger(project / "jobs.md").get("job1").status == "completed"


def test_refresh_push_updates_the_remote_ledger(run_cli, project, remote, make_clone):
    L.push_ledger(project, "jobs.md", [row(1), row(2, status="completed")])
    git("pull", "--quiet", cwd=project)
    write_job(LocalStore(project / ".launcher"), "job1", {"run1.1": ("failed", None)})
    git("checkout", "--quiet", "--detach", cwd=project)  # like a scheduled CI run

    code, out, err = run_cli("ledger", "refresh", "--push", "--format", "json", cwd=project)
    assert code == 0, err
    report = json.loads(out)
    assert report["changed"] == ["job1"] and report["push"]["changed"] is True
    remote_ledger = L.parse_ledger(remote_file(remote))
    assert remote_ledger.get("job1").status == "failed"
    assert git("log", "-1", "--format=%s", "main", cwd=remote).strip() == \
        "ledger: refresh statuses of jobs [skip ci]"


def test_a_refresh_that_changes_nothing_says_what_it_checked(run_cli, project, remote):
    L.push_ledger(project, "jobs.md", [row(1, status="running")])
    git("pull", "--quiet", cwd=project)
    write_job(LocalStore(project / ".launcher"), "job1", {"run1.1": ("running", None)})
    code, out, err = run_cli("ledger", "refresh", "--push", cwd=project)
    assert code == 0, err
    assert out.splitlines()[-1] == ("1 unfinished row(s) checked, 0 changed; origin/main:jobs.md already up to "
                                    "date; nothing pushed")  # not "(no rows)" after checking one


def test_refresh_of_an_unparseable_ledger_names_the_line_and_changes_nothing(run_cli, project):
    text = L.render(L.upsert(L.Ledger(), row(1))) + "| job1 | duplicate | | | | | | | | | | |\n"
    (project / "jobs.md").write_text(text)
    code, out, err = run_cli("ledger", "refresh", cwd=project)
    assert code == 1 and out == ""
    assert "jobs.md:8: job1 is listed twice (first on line 7)" in err
    assert "hint: keep one row per job" in err and "Traceback" not in err
    assert (project / "jobs.md").read_text() == text


def test_usage_errors(run_cli, project):
    code, _, err = run_cli("ledger", cwd=project)
    assert code == 2 and "ACTION" in err
    code, _, err = run_cli("ledger", "push", "--retries", "-1", cwd=project)
    assert code == 2 and "--retries" in err
