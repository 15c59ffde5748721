"""Commit and push only the ledger file, retrying on a push race by re-applying the update to the remote's newest
version. The user's working tree, index and branches are never touched: commits are built with git plumbing (a
temporary index, commit-tree) on top of the fetched remote branch and pushed by sha, so a push from a PR merge
checkout or a dirty tree works the same."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.ledger.table import COMMIT_SUFFIX, Ledger, LedgerRow, parse_ledger, render, upsert


@dataclass
class PushResult:
    remote: str
    branch: str
    ledger: str  # path inside the repository
    jobs: list[str]
    changed: bool  # False: the remote ledger already had these rows, nothing was pushed
    commit: str = ""  # the pushed commit
    base: str = ""  # the remote tip it was built on
    attempts: int = 0
    checkout_updated: bool = False  # the local branch was fast-forwarded to the pushed commit
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_message(jobs: list[str], verb: str = "record") -> str:
    shown = ", ".join(jobs[:8]) + (f" and {len(jobs) - 8} more" if len(jobs) > 8 else "")
    return f"ledger: {verb} {shown or 'jobs'}{COMMIT_SUFFIX}"


def push_ledger(repo_dir: str | Path, ledger_path: str | Path, rows_to_upsert: Iterable[LedgerRow], *,
                remote: str = "origin", branch: str | None = None, message: str | None = None, retries: int = 5,
                backoff: float = 0.2, on_retry: Callable[[int, float], None] | None = None) -> PushResult:
    """Upsert rows into the remote branch's ledger, commit only that file, push; retry on a push race."""
    rows = list(rows_to_upsert)

    def update(ledger: Ledger) -> Ledger:
        for row in rows:
            ledger = upsert(ledger, row)
        return ledger

    jobs = [r.job for r in rows]
    return push_ledger_update(repo_dir, ledger_path, update, jobs=jobs, remote=remote, branch=branch,
                              message=message or default_message(jobs), retries=retries, backoff=backoff,
                              on_retry=on_retry)


def push_ledger_update(repo_dir: str | Path, ledger_path: str | Path, update: Callable[[Ledger], Ledger], *,
                       jobs: list[str], remote: str = "origin", branch: str | None = None, message: str = "",
                       retries: int = 5, backoff: float = 0.2,
                       on_retry: Callable[[int, float], None] | None = None) -> PushResult:
    """The retry loop: fetch the branch, apply update() to its ledger, commit on top, push without force.

    A rejected push (someone pushed in between) starts over from the new remote tip, up to `retries` more times
    with jittered exponential backoff; any other failure stops at once. on_retry(next_attempt, wait_seconds)
    lets a command show progress (this module prints nothing)."""
    from launcher import gitutil

    root = gitutil.repo_root(repo_dir)
    rel = repo_relative(root, ledger_path)
    if gitutil.git(["remote", "get-url", remote], root, check=False).returncode != 0:
        raise LauncherError(f"git remote '{remote}' is not configured in {root}",
                            hint="pass --remote NAME, or add it: git remote add origin URL")
    branch = branch or default_branch(root, remote)
    identity = gitutil.identity_config(root)
    result = PushResult(remote=remote, branch=branch, ledger=rel, jobs=list(jobs), changed=False)
    # A private ref per call (and a fetch into it alone): concurrent pushes from one clone never fight over
    # refs/remotes/<remote>/<branch>.
    scratch = f"refs/launcher/ledger-{os.getpid()}-{random.getrandbits(32):08x}"
    try:
        for attempt in range(1, retries + 2):
            result.attempts = attempt
            started = time.monotonic()
            tip = _fetch_tip(root, remote, branch, scratch)
            before = _show(root, tip, rel)
            ledger = parse_ledger(before, file=f"{rel} on {remote}/{branch}") if before is not None else Ledger()
            text = render(update(ledger))
            if text == before:
                result.base, result.changed = tip, False
                result.notes.append(f"{remote}/{branch}:{rel} already has these rows; nothing to push")
                return result
            commit = _commit_file(root, tip, rel, text, message or default_message(jobs), identity)
            if _push(root, remote, commit, branch):
                result.changed, result.commit, result.base = True, commit, tip
                result.checkout_updated = _fast_forward_checkout(root, branch, tip, commit, rel)
                return result
            if attempt <= retries:
                # "Full jitter" in a window that doubles per attempt, measured in units of how long one attempt
                # took here: pushers that lost the same race then spread over several attempt-lengths and stop
                # colliding in lockstep, on a fast laptop and on a loaded CI runner alike.
                unit = max(backoff, time.monotonic() - started)
                wait = random.uniform(0.1, 1.0) * min(10.0, unit * 2 ** attempt)
                if on_retry is not None:
                    on_retry(attempt + 1, wait)
                time.sleep(wait)
    finally:
        gitutil.git(["update-ref", "-d", scratch], root, check=False)
    raise LauncherError(f"could not push the ledger to {remote}/{branch}: the branch moved on every one of "
                        f"{retries + 1} attempts",
                        hint="other launches are writing the ledger at the same time; run the same "
                             "`launcher ledger push` again, or serialise ledger writes (a workflow concurrency "
                             "group 'ledger')")


def repo_relative(root: Path, ledger_path: str | Path) -> str:
    """The ledger's path inside the repository at root ('/'-separated); a LauncherError outside it."""
    p = Path(ledger_path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise LauncherError(f"ledger {p} is outside the repository {root}") from None
    if ".." in p.parts:
        raise LauncherError(f"ledger path {p} must stay inside the repository")
    return p.as_posix()


def default_branch(root: Path, remote: str) -> str:
    """The remote's default branch (what its HEAD points to): the ledger lives there."""
    from launcher import gitutil

    proc = gitutil.git(["symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD"], root, check=False)
    if proc.returncode == 0 and proc.stdout.strip().startswith(remote + "/"):
        return proc.stdout.strip()[len(remote) + 1:]
    proc = gitutil.git(["ls-remote", "--symref", remote, "HEAD"], root, check=False)
    m = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", proc.stdout, re.MULTILINE)
    if m:
        return m.group(1)
    raise LauncherError(f"cannot tell the default branch of remote '{remote}'",
                        hint="name the branch that holds the ledger: --branch main")


def _fetch_tip(root: Path, remote: str, branch: str, scratch: str) -> str:
    from launcher import gitutil

    # --refmap= (empty): fetch into the private ref only. Without it git also updates refs/remotes/<remote>/<branch>
    # on the side (its "opportunistic" update), and concurrent pushes from one clone failed on that ref's lock.
    proc = gitutil.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=", remote,
                        f"+refs/heads/{branch}:{scratch}"], root, check=False)
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr:
            raise LauncherError(f"branch '{branch}' does not exist on remote '{remote}'",
                                hint=f"push it first (git push {remote} HEAD:{branch}) or name another with --branch")
        raise gitutil.GitError(["git", "fetch", remote, branch], proc.returncode, proc.stderr,
                               hint="check the remote's URL and your access to it")
    return gitutil.git_out(["rev-parse", scratch], root)


def _show(root: Path, commit: str, rel: str) -> str | None:
    from launcher import gitutil

    proc = gitutil.git(["cat-file", "blob", f"{commit}:{rel}"], root, check=False, text=False)
    return proc.stdout.decode("utf-8") if proc.returncode == 0 else None


def _commit_file(root: Path, parent: str, rel: str, text: str, message: str, identity: list[str]) -> str:
    """A commit on top of parent that changes only rel, built in a temporary index (no checkout, no hooks)."""
    from launcher import gitutil

    blob = gitutil.git_out(["hash-object", "-w", "--stdin"], root, input=text.encode("utf-8"))
    with tempfile.TemporaryDirectory(prefix="launcher-ledger-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        gitutil.git(["read-tree", parent], root, env=env)
        gitutil.git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"], root, env=env)
        tree = gitutil.git_out(["write-tree"], root, env=env)
    return gitutil.git_out(["commit-tree", tree, "-p", parent, "-m", message], root, config=identity)


_RETRYABLE = ("fetch first", "non-fast-forward", "stale info", "cannot lock ref", "failed to update ref",
              "incorrect old value", "but expected", "failed to lock")


def _push(root: Path, remote: str, commit: str, branch: str) -> bool:
    """True when pushed; False when the remote moved (retry); GitError for anything else."""
    from launcher import gitutil

    proc = gitutil.git(["push", "--porcelain", remote, f"{commit}:refs/heads/{branch}"], root, check=False)
    if proc.returncode == 0:
        return True
    said = proc.stdout + proc.stderr
    if ("[rejected]" in said or "[remote rejected]" in said) and any(s in said for s in _RETRYABLE):
        return False
    hint = "check your push access to the branch"
    if "protected branch" in said or "GH006" in said or "rule" in said.lower():
        hint = ("the branch is protected: let the launcher's token bypass the rule, or keep the ledger on an "
                "unprotected branch (--branch)")
    raise gitutil.GitError(["git", "push", remote, f"{commit[:12]}:refs/heads/{branch}"], proc.returncode,
                           proc.stderr or proc.stdout, hint=hint)


def _fast_forward_checkout(root: Path, branch: str, base: str, commit: str, rel: str) -> bool:
    """Bring the user's checkout along when that is a pure fast-forward of the ledger file, else leave it."""
    from launcher import gitutil

    if gitutil.current_branch(root) != branch or gitutil.head_commit(root) != base:
        return False
    if gitutil.git(["diff", "--quiet", "HEAD", "--", rel], root, check=False).returncode != 0:
        return False  # local edits to the ledger: never overwrite them
    if (root / rel).exists() and gitutil.git(["ls-files", "--error-unmatch", "--", rel], root,
                                             check=False).returncode != 0:
        return False  # an untracked ledger file would block the merge
    return gitutil.git(["merge", "--ff-only", "--quiet", commit], root, check=False).returncode == 0


def rows_changed_locally(root: Path, rel: str, local: Ledger) -> list[LedgerRow]:
    """Rows of the working copy's ledger that differ from (or are missing in) the committed version at HEAD."""
    from launcher import gitutil

    head = gitutil.head_commit(root)
    committed_text = _show(root, head, rel) if head else None
    committed = parse_ledger(committed_text, file=f"{rel} at HEAD") if committed_text else Ledger()
    return [row for row in local.rows if committed.get(row.job) != row]
