"""`launcher ledger record`: the record job's row, built by the trusted launcher from trusted inputs (issue 13,
item 5). A pull request's code could write the launch artifact; a forged row must change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_repos import commit_file, git, remote_file

from launcher import ledger as L
from launcher.diagnostics import LauncherError
from launcher.ledger.record import trusted_row

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = '[project]\nname = "x"\nversion = "0"\n\n[tool.launcher]\nledger = "jobs.md"\n'


def other_users_row() -> L.LedgerRow:
    return L.LedgerRow(job="job1", launched="2025-05-01 12:00", runspec="runspecs/theirs.yaml",
                       content_hash="0123456789ab", commit="fedcba987654", target="azb-cpu", runs="20 (5 × 4)",
                       hp_tuning="false", status="running", description="alice's sweep", origin="PR #3")


@pytest.fixture
def setup(make_clone, remote, tmp_path):
    """The default branch holds another user's job1; a pull request's payload checkout holds runspecs/x.yaml."""
    trusted = make_clone("trusted")
    commit_file(trusted, "pyproject.toml", PYPROJECT, "config")
    git("push", "--quiet", "origin", "main", cwd=trusted)
    L.push_ledger(trusted, "jobs.md", [other_users_row()])
    git("pull", "--quiet", cwd=trusted)
    payload = make_clone("payload")
    commit_file(payload, "runspecs/x.yaml", (REPO / "runspecs/xt_walk_through.yaml").read_text(), "runspec")
    return trusted, payload


def record(trusted: Path, payload: Path, row: dict, tmp_path: Path, target: str = "local"):
    row_file = tmp_path / "ledger-row.json"
    row_file.write_text(json.dumps(row))
    return subprocess.run([sys.executable, "-m", "launcher", "ledger", "record", "--row-json", str(row_file),
                           "--payload", str(payload), "--runspec", "runspecs/x.yaml", "--target", target,
                           "--origin", "PR #9", "--format", "json"], cwd=trusted, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_a_forged_row_for_another_users_job_is_refused_and_the_remote_unchanged(setup, remote, tmp_path):
    trusted, payload = setup
    before, tip = remote_file(remote), git("rev-parse", "main", cwd=remote)
    forged = {"job": "job1", "launched": "2025-05-01 12:00", "runspec": "runspecs/theirs.yaml", "content_hash": "",
              "commit": "", "target": "azb-cpu", "status": "cancelled",
              "description": "[re-run here](https://phish.example.invalid)", "origin": "PR #3"}
    proc = record(trusted, payload, forged, tmp_path, target="azb-cpu")
    assert proc.returncode == 1
    assert "runspec 'runspecs/theirs.yaml' is not what runspecs/x.yaml" in proc.stderr or \
        "job1 is already in the ledger for another launch" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert remote_file(remote) == before and git("rev-parse", "main", cwd=remote) == tip  # byte for byte
    # the same forgery without the fields that gave it away: the trusted row is the PR's, and job1 is taken
    proc = record(trusted, payload, {"job": "job1", "launched": "2025-05-01 12:00", "status": "cancelled"}, tmp_path)
    assert proc.returncode == 1 and "job1 is already in the ledger for another launch" in proc.stderr, proc.stderr
    assert remote_file(remote) == before and git("rev-parse", "main", cwd=remote) == tip


def test_the_recorded_row_comes_from_trusted_inputs(setup, remote, tmp_path):
    trusted, payload = setup
    claimed = {"job": "job2", "launched": "2025-05-02 08:30", "status": "completed", "best_hpmax": "0.75",
               "description": "[free credits](https://phish.example.invalid)", "origin": "dispatch by @admin",
               "runs": "1"}
    proc = record(trusted, payload, claimed, tmp_path)
    assert proc.returncode == 0, proc.stderr
    ledger = L.parse_ledger(remote_file(remote))
    row = ledger.get("job2")
    head = git("rev-parse", "HEAD", cwd=payload).strip()
    text = (payload / "runspecs/x.yaml").read_text()
    import hashlib

    assert row.commit == head[:12] and row.content_hash == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert row.runspec == "runspecs/x.yaml" and row.target == "local" and row.origin == "PR #9"
    assert row.runs == "20 (5 × 4)" and row.description != claimed["description"]
    assert (row.status, row.best_hpmax) == ("completed", "0.75")
    assert ledger.get("job1") == other_users_row()


@pytest.mark.parametrize("bad, words", [
    ({"job": "job1; rm -rf /", "launched": "2025-05-01 12:00"}, "not a job name"),
    ({"job": "job5", "launched": "yesterday"}, "not a launch time"),
    ({"job": "job5", "launched": "2025-05-01 12:00", "status": "done [x](y)"}, "is not one of"),
    ({"job": "job5", "launched": "2025-05-01 12:00", "best_hpmax": "nan"}, "is not a number"),
    ({"job": "job5", "launched": "2025-05-01 12:00", "commit": "deadbeefdead"}, "commit 'deadbeefdead' is not"),
    ([1, 2], "must be a JSON object"),
])
def test_a_malformed_launch_result_is_refused_with_a_reason(setup, bad, words):
    _trusted, payload = setup
    with pytest.raises(LauncherError, match=words):
        trusted_row(bad, payload_dir=payload, runspec="runspecs/x.yaml", target="local", origin="PR #9",
                    ledger_rel="jobs.md")


def test_the_runspec_must_be_inside_the_payload(setup, tmp_path):
    _trusted, payload = setup
    outside = tmp_path / "outside.yaml"
    outside.write_text("x: 1\n")
    os.symlink(outside, payload / "runspecs" / "link.yaml")
    ok = {"job": "job5", "launched": "2025-05-01 12:00"}
    for runspec in ("../outside.yaml", "/etc/passwd", "runspecs/link.yaml", "runspecs/missing.yaml"):
        with pytest.raises(LauncherError, match="runspec"):
            trusted_row(ok, payload_dir=payload, runspec=runspec, target="local", origin="", ledger_rel="jobs.md")
