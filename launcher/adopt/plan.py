"""What `launcher init` would change, computed in full before anything is written; then shown or applied."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from launcher.adopt import gitignore, pyproject, workflow
from launcher.adopt.changes import DEPRECATED, ConfigChange, changes_between
from launcher.adopt.layout import Layout, detect, find_runspecs
from launcher.diagnostics import LauncherError

CREATE, UPDATE, UNCHANGED, KEPT = "create", "update", "unchanged", "kept"


@dataclass
class FileChange:
    path: str                 # relative to the repository, posix
    before: str | None        # None: the file does not exist
    after: str                # what it will hold (== before when nothing changes)
    status: str               # create | update | unchanged | kept (exists, differs, not overwritten)
    note: str = ""

    def diff(self) -> str:
        if self.status not in (CREATE, UPDATE):
            return ""
        return "".join(difflib.unified_diff(
            (self.before or "").splitlines(keepends=True), self.after.splitlines(keepends=True),
            fromfile="/dev/null" if self.before is None else f"a/{self.path}", tofile=f"b/{self.path}"))

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "note": self.note}


@dataclass
class Upgrade:
    old: workflow.Pin
    new: workflow.Pin
    config_changes: list[ConfigChange]
    deprecated_in_use: list[tuple[str, str]]   # (key, replacement) found in the project's [tool.launcher]


@dataclass
class InitPlan:
    root: Path
    layout: Layout
    changes: list[FileChange]
    kept_settings: list[str] = field(default_factory=list)
    pin: workflow.Pin | None = None
    pin_note: str = ""
    upgrade: Upgrade | None = None

    @property
    def pending(self) -> list[FileChange]:
        return [c for c in self.changes if c.status in (CREATE, UPDATE)]

    def diff(self) -> str:
        return "".join(c.diff() for c in self.changes)


def _read(path: Path) -> str | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise LauncherError(f"{path.name} is not a file", hint="move it away, then run `launcher init` again")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LauncherError(f"{path} is not UTF-8 text; not merged into",
                            hint="convert it to UTF-8, then run `launcher init` again") from None


def _change(rel: str, before: str | None, after: str, note: str = "") -> FileChange:
    status = CREATE if before is None else (UNCHANGED if before == after else UPDATE)
    return FileChange(rel, before, after, status, note)


def default_branch(root: Path) -> str:
    """The branch the caller's push trigger names: origin's HEAD, else the checked-out branch, else main."""
    from launcher.gitutil import current_branch, git, is_repo

    if not is_repo(root):
        return "main"
    proc = git(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], root, check=False)
    if proc.returncode == 0 and "/" in proc.stdout.strip():
        return proc.stdout.strip().split("/", 1)[1]
    return current_branch(root) or "main"


def build_plan(root: Path, *, ref: str | None = None, force: bool = False, upgrade: bool = False,
               installed_version: str = "") -> InitPlan:
    root = root.resolve()
    if not root.is_dir():
        raise LauncherError(f"project folder not found: {root}")
    layout = detect(root)
    changes: list[FileChange] = []

    before = _read(root / "pyproject.toml")
    after, kept = pyproject.merge(before, layout, force=force)
    changes.append(_change("pyproject.toml", before, after,
                           "[tool.launcher] added" if before is None or "[tool.launcher" not in before else ""))

    before = _read(root / ".gitignore")
    changes.append(_change(".gitignore", before, gitignore.merge(before)))

    plan = InitPlan(root, layout, changes, kept_settings=kept)
    before = _read(root / workflow.CALLER)
    if upgrade:
        changes.append(_upgrade(plan, before, ref, installed_version))
    elif before is not None and not force:
        pin = workflow.read_pin(before)
        plan.pin = pin
        changes.append(FileChange(workflow.CALLER, before, before, UNCHANGED if pin else KEPT,
                                  f"pinned to {pin.label} {pin.sha[:12]}; `--upgrade` moves it" if pin else
                                  "exists and pins no runspec-launcher release (--force replaces it)"))
    else:
        plan.pin, plan.pin_note = workflow.resolve_pin(ref, installed_version=installed_version)
        text = workflow.caller_text(plan.pin, layout, default_branch=default_branch(root))
        changes.append(_change(workflow.CALLER, before, text, plan.pin_note))
    return plan


def _upgrade(plan: InitPlan, before: str | None, ref: str | None, installed_version: str) -> FileChange:
    if before is None:
        raise LauncherError(f"{workflow.CALLER} does not exist: there is nothing to upgrade",
                            hint="run `launcher init` first")
    old = workflow.read_pin(before)
    if old is None:
        raise LauncherError(f"{workflow.CALLER} does not pin runspec-launcher's reusable workflow by commit",
                            hint="`launcher init --force` writes a pinned caller in its place")
    if ref:
        new, _ = workflow.resolve_pin(ref, installed_version=installed_version)
    else:
        new = workflow.newest_release()
        if new is None:
            raise LauncherError("the launcher has no release yet: there is nothing to upgrade to",
                                hint="pin a commit by hand: `launcher init --upgrade --ref <40-hex commit>`")
    plan.pin = new
    deprecated = _deprecated_in_use(plan.changes[0].after)
    plan.upgrade = Upgrade(old, new, changes_between(old.version, new.version) if new.version else [], deprecated)
    note = (f"{old.label} {old.sha[:12]} -> {new.label} {new.sha[:12]}" if old.sha != new.sha
            else f"already pinned to {new.label}")
    return _change(workflow.CALLER, before, workflow.repin(before, new), note)


def _deprecated_in_use(pyproject_text: str) -> list[tuple[str, str]]:
    from launcher import tomlcompat

    table = tomlcompat.loads(pyproject_text).get("tool", {}).get("launcher", {})
    return [(k, DEPRECATED[k][0]) for k in table if k in DEPRECATED]


def apply(plan: InitPlan) -> None:
    """Write every pending file (each atomically: a reader sees the old file or the new one)."""
    from launcher.fsutil import atomic_write

    for change in plan.pending:
        atomic_write(plan.root / change.path, change.after)


def runspecs_of(plan: InitPlan) -> list[Path]:
    return find_runspecs(plan.root, plan.layout)
