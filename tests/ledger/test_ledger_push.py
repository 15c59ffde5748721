"""push_ledger against real git: a bare remote, clones, concurrent pushers, a racing pre-push hook."""

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

REPO = Path(__file__).resolve().parents[2]


def row(n: int, **kw) -> L.LedgerRow:
    base = dict(job=f"job{n}", launched="2025-05-01 12:00", runspec="runspecs/demo.yaml", content_hash=f"{n:012x}",
                commit="ab" * 20, target="local", runs="4 (2 × 2)", hp_tuning="none", status="queued",
                description=f"launch {n}", origin="PR #7")
    base.update(kw)
    return L.LedgerRow(**base)


def test_push_creates_the_ledger_and_commits_only_that_file(make_clone, remote):
    clone = make_clone("c1")
    result = L.push_ledger(clone, "jobs.md", [row(1)])
    assert result.changed and result.attempts == 1 and result.branch == "main"
    assert L.parse_ledger(remote_file(remote)).get("job1") == row(1)
    assert git("show", "--name-only", "--format=%s", "main", cwd=remote).split() == \
        ["ledger:", "record", "job1", "[skip", "ci]", "jobs.md"]
    assert git("rev-parse", "main", cwd=remote).strip() == result.commit
    # the clone was on main and in sync: it was fast-forwarded, nothing else changed
    assert result.checkout_updated
    assert git("status", "--porcelain", cwd=clone) == ""
    assert (clone / "jobs.md").read_text() == remote_file(remote)


def test_pushing_the_same_row_again_pushes_nothing(make_clone, remote):
    clone = make_clone("c1")
    L.push_ledger(clone, "jobs.md", [row(1)])
    tip = git("rev-parse", "main", cwd=remote)
    again = L.push_ledger(clone, "jobs.md", [row(1)])
    assert not again.changed and again.commit == ""
    assert git("rev-parse", "main", cwd=remote) == tip


def test_upsert_of_an_existing_row_replaces_it_on_the_remote(make_clone, remote):
    clone = make_clone("c1")
    L.push_ledger(clone, "jobs.md", [row(1), row(2)])
    L.push_ledger(clone, "jobs.md", [row(2, status="completed", best_hpmax="0.75")])
    ledger = L.parse_ledger(remote_file(remote))
    assert [r.job for r in ledger.rows] == ["job2", "job1"]
    assert ledger.get("job2").status == "completed" and ledger.get("job2").best_hpmax == "0.75"


def test_detached_pr_checkout_with_local_changes_is_left_untouched(make_clone, remote):
    """CI checks out a PR merge commit (detached HEAD); the user's tree may be dirty: none of it moves."""
    clone = make_clone("ci")
    commit_file(clone, "runspecs/x.yaml", "a: 1\n", "pr change")
    merge_sha = git("rev-parse", "HEAD", cwd=clone).strip()
    git("checkout", "--quiet", "--detach", merge_sha, cwd=clone)
    (clone / "README.md").write_text("dirty edit\n")
    (clone / "jobs.md").write_text("local scratch, not a ledger\n")
    (clone / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=clone)
    status_before = git("status", "--porcelain", cwd=clone)
    branches_before = git("for-each-ref", "refs/heads", "refs/remotes", cwd=clone)

    result = L.push_ledger(clone, "jobs.md", [row(3)])

    assert result.changed and not result.checkout_updated
    assert git("rev-parse", "HEAD", cwd=clone).strip() == merge_sha
    assert git("status", "--porcelain", cwd=clone) == status_before
    assert (clone / "jobs.md").read_text() == "local scratch, not a ledger\n"
    assert git("for-each-ref", "refs/heads", cwd=clone) == \
        "\n".join(line for line in branches_before.splitlines() if "refs/heads" in line) + "\n"
    assert git("for-each-ref", "refs/launcher", cwd=clone) == ""  # the scratch ref is gone
    # the remote got the row on top of main, not the PR commit
    assert git("rev-parse", "main~1", cwd=remote).strip() != merge_sha
    assert L.parse_ledger(remote_file(remote)).get("job3") == row(3)
    assert "runspecs/x.yaml" not in git("ls-tree", "-r", "--name-only", "main", cwd=remote)


def test_hand_edited_description_on_the_remote_survives(make_clone, remote):
    alice, bob = make_clone("alice"), make_clone("bob")
    L.push_ledger(alice, "jobs.md", [row(1), row(2)])
    git("pull", "--quiet", cwd=bob)
    text = (bob / "jobs.md").read_text().replace("| launch 1 |", "| diverged at iter 300, see PR #9 |")
    commit_file(bob, "jobs.md", text, "describe job1")
    git("push", "--quiet", "origin", "main", cwd=bob)

    L.push_ledger(alice, "jobs.md", [row(3), row(2, status="running", description="")])  # alice is behind

    ledger = L.parse_ledger(remote_file(remote))
    assert ledger.get("job1").description == "diverged at iter 300, see PR #9"
    assert ledger.get("job2").description == "launch 2" and ledger.get("job2").status == "running"
    assert [r.job for r in ledger.rows] == ["job3", "job2", "job1"]


def test_unparseable_remote_ledger_is_reported_with_its_line_and_left_alone(make_clone, remote):
    clone = make_clone("c1")
    L.push_ledger(clone, "jobs.md", [row(1)])
    git("pull", "--quiet", cwd=clone)
    broken = (clone / "jobs.md").read_text() + "| job2 | only three | cells |\n"
    commit_file(clone, "jobs.md", broken, "hand edit gone wrong")
    git("push", "--quiet", "origin", "main", cwd=clone)
    tip = git("rev-parse", "main", cwd=remote)

    with pytest.raises(L.LedgerError) as info:
        L.push_ledger(make_clone("c2"), "jobs.md", [row(5)])
    assert info.value.line == 8
    assert "jobs.md on origin/main:8: the row has 3 cells, expected 12" in info.value.message
    assert git("rev-parse", "main", cwd=remote) == tip
    assert remote_file(remote) == broken


def test_fallback_identity_when_none_is_configured(make_clone, remote, git_identity):
    clone = make_clone("c1")
    git_identity.write_text("")  # no user.name / user.email anywhere
    assert git("config", "user.name", cwd=clone, check=False) == ""
    L.push_ledger(clone, "jobs.md", [row(1)])
    assert git("log", "-1", "--format=%an <%ae>|%cn <%ce>", "main", cwd=remote).strip() == \
        "runspec-launcher <launcher@users.noreply.github.com>|runspec-launcher <launcher@users.noreply.github.com>"


def _install_racing_hook(clone: Path, racer: Path, times: int) -> None:
    """A pre-push hook that pushes another commit from `racer` first, `times` times: our push then loses."""
    hook = clone / ".git" / "hooks" / "pre-push"
    counter = clone / ".git" / "race-count"
    counter.write_text("0")
    hook.write_text(f"""#!/bin/sh
n=$(cat '{counter}')
if [ "$n" -lt {times} ]; then
  echo $((n + 1)) > '{counter}'
  cd '{racer}' && git pull --quiet --rebase && echo "race $n" >> race.txt && git add race.txt \\
    && git commit --quiet -m "race $n" && git push --quiet origin HEAD:main
fi
exit 0
""")
    hook.chmod(0o755)


def test_a_lost_push_race_is_retried_on_top_of_the_new_remote_tip(make_clone, remote):
    clone, racer = make_clone("c1"), make_clone("racer")
    _install_racing_hook(clone, racer, times=2)
    notices = []
    result = L.push_ledger(clone, "jobs.md", [row(1)], retries=3, backoff=0.01,
                           on_retry=lambda attempt, wait: notices.append((attempt, wait >= 0)))
    assert result.changed and result.attempts == 3
    assert notices == [(2, True), (3, True)]
    assert L.parse_ledger(remote_file(remote)).get("job1") == row(1)
    assert remote_file(remote, "race.txt") == "race 0\nrace 1\n"
    log = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert log[:3] == ["ledger: record job1 [skip ci]", "race 1", "race 0"]


def test_giving_up_after_the_retries_is_a_clear_error(make_clone, remote):
    clone, racer = make_clone("c1"), make_clone("racer")
    _install_racing_hook(clone, racer, times=10)
    with pytest.raises(LauncherError) as info:
        L.push_ledger(clone, "jobs.md", [row(1)], retries=1, backoff=0.01)
    assert "could not push the ledger to origin/main" in info.value.message
    assert "2 attempts" in info.value.message
    assert "concurrency group" in info.value.hint
    assert "jobs.md" not in git("ls-tree", "--name-only", "main", cwd=remote)


def test_missing_remote_or_branch_is_a_clear_error(make_clone):
    clone = make_clone("c1")
    with pytest.raises(LauncherError, match="remote 'upstream' is not configured"):
        L.push_ledger(clone, "jobs.md", [row(1)], remote="upstream")
    with pytest.raises(LauncherError, match="branch 'ledger' does not exist on remote 'origin'"):
        L.push_ledger(clone, "jobs.md", [row(1)], branch="ledger")


def test_a_ledger_in_a_subfolder_and_another_branch(make_clone, remote):
    clone = make_clone("c1")
    git("push", "--quiet", "origin", "main:records", cwd=clone)
    result = L.push_ledger(clone, clone / "docs" / "jobs.md", [row(1)], branch="records")
    assert result.ledger == "docs/jobs.md" and result.branch == "records" and not result.checkout_updated
    assert L.parse_ledger(remote_file(remote, "docs/jobs.md", "records")).get("job1") == row(1)
    assert "docs" not in git("ls-tree", "--name-only", "main", cwd=remote)


def test_eight_concurrent_pushers_all_land_once(make_clone, remote, tmp_path):
    """8 processes (the real CLI, one clone each, as 8 CI jobs would) push different rows at the same time."""
    seed = make_clone("seed-ledger")
    L.push_ledger(seed, "jobs.md", [row(1)])
    git("pull", "--quiet", cwd=seed)
    edited = (seed / "jobs.md").read_text().replace("| launch 1 |", "| hand edit |")
    commit_file(seed, "jobs.md", edited, "describe")
    git("push", "--quiet", "origin", "main", cwd=seed)

    procs = []
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for n in range(2, 10):
        clone = make_clone(f"p{n}")
        row_file = tmp_path / f"row{n}.json"
        row_file.write_text(json.dumps(row(n).to_dict()))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "launcher", "ledger", "push", "--row-json", str(row_file), "--format", "json"],
            cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))

    text = remote_file(remote)
    ledger = L.parse_ledger(text)  # parses: no duplicates, no conflict markers
    assert [r.job for r in ledger.rows] == [f"job{n}" for n in range(9, 0, -1)]
    assert ledger.get("job1").description == "hand edit"
    assert "<<<<<<<" not in text
    assert all(r["changed"] for r in results)
    assert len({r["commit"] for r in results}) == 8
    log = git("log", "--format=%s", "main", cwd=remote).splitlines()
    assert len(log) == 1 + 1 + 1 + 8  # initial, job1, hand edit, 8 ledger commits
    assert git("rev-list", "--merges", "--count", "main", cwd=remote).strip() == "0"


def test_eight_concurrent_pushers_from_one_clone_all_land(make_clone, remote, tmp_path):
    """Issue 13, item 4: 8 pushes from ONE clone at once. A fetch into a private ref also updated
    refs/remotes/origin/main on the side (git's opportunistic update), and 2 of 8 failed with
    "cannot lock ref 'refs/remotes/origin/main'"."""
    clone = make_clone("shared")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = []
    for n in range(1, 9):
        row_file = tmp_path / f"row{n}.json"
        row_file.write_text(json.dumps(row(n).to_dict()))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "launcher", "ledger", "push", "--row-json", str(row_file), "--retries", "12",
             "--format", "json"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    ledger = L.parse_ledger(remote_file(remote))
    assert [r.job for r in ledger.rows] == [f"job{n}" for n in range(8, 0, -1)]


def test_a_row_of_another_launch_is_refused_and_the_remote_left_byte_for_byte(make_clone, remote):
    """The invariant: a row is only updated by the same launch (job, content hash, commit, launch time)."""
    clone = make_clone("c1")
    L.push_ledger(clone, "jobs.md", [row(1), row(2)])
    before, tip = remote_file(remote), git("rev-parse", "main", cwd=remote)
    # a fresh store's job1 (another content) and a forged job2 (status, description, blanked hashes)
    for bad in (row(1, content_hash="ffffffffffff", launched="2025-06-01 09:00"),
                row(2, status="cancelled", description="[verify](https://phish.example.invalid)", content_hash="",
                    commit="")):
        with pytest.raises(L.LedgerConflict, match=f"{bad.job} is already in the ledger for another launch") as info:
            L.push_ledger(clone, "jobs.md", [bad])
        assert "only ever updated by the launch that wrote it" in info.value.hint
        assert remote_file(remote) == before and git("rev-parse", "main", cwd=remote) == tip
    # the same launch may update its row (its status, here)
    L.push_ledger(clone, "jobs.md", [row(2, status="completed", best_hpmax="0.5")])
    assert L.parse_ledger(remote_file(remote)).get("job2").status == "completed"


def test_the_fetch_touches_no_remote_tracking_ref(make_clone, remote):
    # What made item 4's pushers collide: the fetch into the private ref updated refs/remotes/origin/main too.
    from launcher.ledger.push import _fetch_tip

    clone, other = make_clone("c1"), make_clone("other")
    tracking = git("rev-parse", "refs/remotes/origin/main", cwd=clone)
    commit_file(other, "x.txt", "x\n", "moved")
    git("push", "--quiet", "origin", "main", cwd=other)
    tip = _fetch_tip(clone, "origin", "main", "refs/launcher/test")
    assert tip == git("rev-parse", "main", cwd=remote).strip()
    assert git("rev-parse", "refs/remotes/origin/main", cwd=clone) == tracking
