"""Job numbers never repeat within a ledger, whatever store a launch uses (issue 13, item 1), and a followed
launch's --ledger-row-out row carries the job's end (item 2): end to end, real git project, real processes."""

from __future__ import annotations

import json
import shutil

import pytest

from jobs_project import git, tiny_runspec

from launcher import ledger as L


@pytest.mark.slow
def test_a_fresh_store_numbers_above_the_ledger_and_the_first_row_stays(project):
    project.write("runspecs/tiny.yaml", tiny_runspec(description="first"))
    project.cli("launch", "runspecs/tiny.yaml", check=True)
    git(project.root, "add", "jobs.md")
    git(project.root, "commit", "-q", "-m", "ledger")
    first = L.read_ledger(project.root / "jobs.md").get("job1")
    assert first is not None and first.status == "completed"
    first_line = next(line for line in project.ledger_rows() if line.startswith("| job1 |"))

    project.wait_supervisor_gone("job1")  # nothing still writes into the store that is about to go
    shutil.rmtree(project.store)  # `make clean`, a colleague's laptop, a CI runner: a store that starts afresh
    project.write("runspecs/tiny.yaml", tiny_runspec(description="second", iters=500))
    out = json.loads(project.cli("launch", "runspecs/tiny.yaml", "--detach", "--format", "json", check=True).stdout)
    assert out["job"] == "job2"
    project.wait("job2")

    rows = project.ledger_rows()
    assert [r.split("|")[1].strip() for r in rows] == ["job2", "job1"]
    assert first_line in rows  # the first launch's row, byte for byte
    assert L.read_ledger(project.root / "jobs.md").get("job2").description == "second"


@pytest.mark.slow
def test_a_followed_launch_writes_its_row_with_the_final_status(project, tmp_path):
    project.write("runspecs/tiny.yaml", tiny_runspec())
    out = tmp_path / "row.json"
    project.cli("launch", "runspecs/tiny.yaml", "--ledger-row-out", out, check=True)
    row = json.loads(out.read_text())
    assert row["job"] == "job1" and row["status"] == "completed" and row["best_hpmax"] != ""
    assert L.LedgerRow(**row) == L.read_ledger(project.root / "jobs.md").get("job1")


@pytest.mark.slow
def test_known_jobs_count_without_copying_over_a_symlinked_ledger(project, tmp_path):
    """Issue 13, item 9: the workflow copied the default branch's ledger over the checkout's jobs.md, writing
    through a symlink a pull request committed. Now `--known-jobs` reads it in place."""
    known = tmp_path / "default-branch-jobs.md"
    row = L.LedgerRow(job="job7", launched="2025-05-01 12:00", runspec="runspecs/other.yaml", content_hash="ab" * 6,
                      commit="cd" * 6, target="local", status="completed")
    known.write_text(L.render(L.upsert(L.Ledger(), row)))
    project.write("runspecs/tiny.yaml", tiny_runspec())
    out = json.loads(project.cli("launch", "runspecs/tiny.yaml", "--detach", "--format", "json", "--known-jobs",
                                 known, check=True).stdout)
    assert out["job"] == "job8"
    project.wait("job8")
    assert L.read_ledger(known).get("job7") == row and L.read_ledger(known).get("job8") is None  # only read


def test_the_workflow_copies_nothing_over_the_payload():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / ".github/workflows/runspecs-reusable.yml").read_text()
    assert 'cp "../trusted/' not in text and "--known-jobs" in text
