"""Which runspecs a GitHub event changed, and where each would launch: the stage behind `launcher changed`.

The first job of the runspecs workflow. The workflow deliberately has no `paths:` filter (a skipped
workflow leaves a required check waiting forever), so this stage decides what the later jobs do: the
changed runspecs as a job matrix, the subset whose launcher is enabled, split by where their launch may run
(see docs/github.md: local-backend launches run in a job without the Azure token).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from launcher.diagnostics import LauncherError, UsageError, did_you_mean
from launcher.github import RUNSPEC_SUFFIXES, ZERO_SHA, matrix_id

LOCAL_BACKENDS = ("local",)


@dataclass
class ChangedRunspec:
    runspec: str  # repository-relative path
    id: str  # artifact-safe name
    launch: bool  # job_launcher.enabled
    target: str  # compute target the launch would use ("" when not launching)
    backend: str  # that target's backend: local | azure-batch | unknown

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChangedResult:
    event: str
    base: str
    head: str
    fork: bool
    pr: int | None
    origin: str
    branch: str
    items: list[ChangedRunspec] = field(default_factory=list)
    note: str = ""
    held: str = ""  # why enabled runspecs do not launch on this event ("" = they do)

    @property
    def runspecs(self) -> list[str]:
        return [i.runspec for i in self.items]

    @property
    def launch(self) -> list[str]:
        return [i.runspec for i in self.items if i.launch]

    def _matrix(self, items: list[ChangedRunspec]) -> dict:
        return {"include": [i.to_dict() for i in items]}

    @property
    def launchable(self) -> list[ChangedRunspec]:
        # A fork never launches: the matrices are empty, on top of the workflow's own `if:` conditions.
        return [] if self.fork or self.held else [i for i in self.items if i.launch]

    @property
    def remote(self) -> list[ChangedRunspec]:
        return [i for i in self.launchable if i.backend not in LOCAL_BACKENDS]

    @property
    def local(self) -> list[ChangedRunspec]:
        return [i for i in self.launchable if i.backend in LOCAL_BACKENDS]

    def to_dict(self) -> dict:
        return {
            "runspecs": self.runspecs,
            "launch": self.launch,
            "fork": self.fork,
            "pr": self.pr,
            "origin": self.origin,
            "event": self.event,
            "base": self.base,
            "head": self.head,
            "branch": self.branch,
            "items": [i.to_dict() for i in self.items],
            "note": self.note,
            "held": self.held,
        }

    def outputs(self) -> dict[str, str]:
        """The step outputs the workflow's later jobs read (all strings, as GitHub hands them on)."""
        def flag(v: bool) -> str:
            return "true" if v else "false"

        return {
            "matrix": json.dumps(self._matrix(self.items)),
            "launch_matrix": json.dumps(self._matrix(self.remote)),
            "local_matrix": json.dumps(self._matrix(self.local)),
            "record_matrix": json.dumps(self._matrix(self.launchable)),
            "any": flag(bool(self.items)),
            "any_launch": flag(bool(self.launchable)),
            "any_remote": flag(bool(self.remote)),
            "any_local": flag(bool(self.local)),
            "fork": flag(self.fork),
            "pr": "" if self.pr is None else str(self.pr),
            "origin": self.origin,
            "files": json.dumps(self.runspecs),  # a JSON list: never split by a shell
        }


# ---------------------------------------------------------------------------------------------------------
# git

def _git(args: list[str], cwd: Path) -> str:
    from launcher.gitutil import git

    return git(args, cwd, hint="the workflow checks out with `fetch-depth: 0` so both commits are present; "
                               "locally, `git fetch` the base first").stdout


def _is_runspec(path: str, root: str) -> bool:
    prefix = root.rstrip("/") + "/" if root not in ("", ".") else ""
    return path.startswith(prefix) and path.endswith(RUNSPEC_SUFFIXES)


def changed_paths(cwd: Path, base: str, head: str, *, merge_base: bool) -> list[str]:
    """Files added, copied, modified or renamed-to between two commits (deletions are not listed)."""
    for rev in (base, head):
        if rev.startswith("-") or any(c.isspace() for c in rev):  # never let a revision become a git option
            raise LauncherError(f"{rev!r} is not a commit", hint="pass a SHA, branch or tag name")
    spec = f"{base}...{head}" if merge_base else f"{base}..{head}"
    # --no-renames: a renamed runspec counts as added at its new path; -z: any file name survives.
    out = _git(["diff", "--name-only", "--no-renames", "--diff-filter=d", "-z", spec, "--"], cwd)
    return [p for p in out.split("\0") if p]


def tracked_runspecs(cwd: Path, root: str) -> list[str]:
    out = _git(["ls-files", "-z", "--", root], cwd)
    return [p for p in out.split("\0") if p]


# ---------------------------------------------------------------------------------------------------------
# what a runspec asks for

def _truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return False


def _targets(cwd: Path) -> dict:
    """[tool.launcher.targets] of the nearest pyproject.toml at or above cwd.

    Read raw, not through load_config: routing must not fail on a config problem that `launch` reports."""
    from launcher import tomlcompat as tomllib
    from launcher.config import find_project

    project = find_project(cwd)
    if project is None:
        return {}
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    targets = data.get("tool", {}).get("launcher", {}).get("targets", {})
    return targets if isinstance(targets, dict) else {}


DEFAULT_TARGET = "azb-cpu"  # the built-in job_launchers/XT default; launcher_section normally supplies it


def describe(runspec: str, cwd: Path, *, target_override: str = "", targets: dict | None = None) -> ChangedRunspec:
    from launcher.runspec.api import launcher_section

    section = launcher_section(cwd / runspec)
    launch = _truthy(section.get("enabled", 0))
    target = ""
    backend = ""
    if launch:
        target = target_override or str(section.get("compute_target") or DEFAULT_TARGET)
        conf = (targets or {}).get(target)
        if isinstance(conf, dict) and conf.get("backend"):
            backend = str(conf["backend"])
        else:
            # Unknown targets go to the gated job: it runs no payload code, and `launch` reports the error.
            backend = "local" if target == "local" else "unknown"
    return ChangedRunspec(runspec=runspec, id=matrix_id(runspec), launch=launch, target=target, backend=backend)


def unsafe_reason(path: str) -> str:
    """Why a changed path cannot go on to the later jobs ('' when it can): control characters (a newline makes
    a fake workflow command or splits a file list), format characters (bidi overrides), line separators, and
    paths that leave the repository (a crafted event's runspecs/../../x.yaml)."""
    import unicodedata

    bad = sorted({f"U+{ord(c):04X}" for c in path if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")})
    if bad:
        return f"it holds control or format characters ({', '.join(bad)})"
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        return "it is not a path inside the repository"
    return ""


class UnsafePaths(LauncherError):
    """Changed paths the pipeline refuses to pass on; `paths` names them (for one annotation each)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        shown = "; ".join(f"{json.dumps(p)}: {unsafe_reason(p)}" for p in paths[:10])
        super().__init__(f"refusing changed paths: {shown}",
                         hint="rename the files (letters, digits, '-', '_', '.', '/' and spaces are safe); "
                              "nothing was validated or launched")

    def annotations(self) -> list[str]:
        from launcher.github import format_annotation

        return [format_annotation("error", f"refusing the changed path {json.dumps(p)}: {unsafe_reason(p)}; "
                                           "rename it", title="unsafe file name") for p in self.paths]


def _inside(cwd: Path, rel: str) -> bool:
    full = (cwd / rel).resolve()
    return full.is_file() and full.is_relative_to(cwd.resolve())


def check_runspec_path(runspec: str, cwd: Path, root: str) -> str:
    """A runspec named by a user (workflow_dispatch input): relative, under the root, existing."""
    raw = runspec.strip()
    p = Path(raw)
    if not raw or p.is_absolute() or ".." in p.parts or unsafe_reason(raw):
        raise LauncherError(f"runspec {runspec!r} must be a path relative to the repository, without '..'",
                            hint=f"for example {root}/my_experiment.yaml")
    rel = p.as_posix()
    if rel.startswith("./"):
        rel = rel[2:]
    if not _is_runspec(rel, root):
        raise LauncherError(f"runspec {rel!r} is not a .yaml/.yml file under {root}/",
                            hint=f"runspecs live in {root}/; move it there or pass --root")
    if not (cwd / rel).is_file():
        near = runspec_files(cwd, root)
        raise LauncherError(f"runspec {rel!r} does not exist in this commit",
                            hint=did_you_mean(rel, near) or f"the runspecs here: {', '.join(near[:10]) or 'none'}")
    return rel


def runspec_files(cwd: Path, root: str) -> list[str]:
    base = cwd / root
    if not base.is_dir():
        return []
    return sorted(p.relative_to(cwd).as_posix() for p in base.rglob("*") if p.suffix in RUNSPEC_SUFFIXES)


def find_changed(*, cwd: Path, root: str = "runspecs", event=None, base: str = "", head: str = "",
                 runspec: str = "", target: str = "", launch_on_push: bool = False) -> ChangedResult:
    """The stage: work out the runspecs, and describe each."""
    name = event.name if event else ""
    fork = bool(event and event.is_fork)
    pr = event.pr_number if event and name.startswith("pull_request") else None
    origin = event.origin if event else "local"
    branch = event.branch if event else ""
    note = ""
    paths: list[str]

    if event and name == "workflow_dispatch" and not runspec:
        runspec = str(event.inputs.get("runspec") or "")
        if not runspec:
            raise LauncherError("the workflow_dispatch event has no `runspec` input",
                                hint="run the workflow with the runspec input set, e.g. runspecs/x.yaml")
        target = target or str(event.inputs.get("target") or "")

    if runspec:
        paths = [check_runspec_path(runspec, cwd, root)]
        note = "named runspec"
    else:
        merge_base = True
        if not (base and head):
            if event is None:
                raise UsageError("nothing to compare", hint="pass --base SHA --head SHA, --runspec PATH or an event")
            if name.startswith("pull_request"):
                pr_obj = event.pull_request
                base = base or str((pr_obj.get("base") or {}).get("sha") or "")
                head = head or str((pr_obj.get("head") or {}).get("sha") or "")
            elif name == "push":
                base = base or str(event.payload.get("before") or "")
                head = head or str(event.payload.get("after") or "")
                merge_base = False
            else:
                raise LauncherError(f"event {name!r} does not name runspecs",
                                    hint="supported: pull_request, push, workflow_dispatch")
            if not (base and head):
                raise LauncherError(f"the {name} payload has no base/head commits ({event.source})")
        if name == "push" and event is not None and event.payload.get("deleted"):
            paths = []
            note = "branch deleted"
        elif base == ZERO_SHA:
            # A new branch: no "before". List what its commits touched, else every runspec.
            touched: list[str] = []
            for commit in (event.payload.get("commits") or []) if event else []:
                for key in ("added", "modified"):
                    touched.extend(str(x) for x in commit.get(key) or [])
            touched = [p for p in dict.fromkeys(touched) if (cwd / p).is_file()]
            paths = touched or tracked_runspecs(cwd, root)
            note = "new branch: " + ("the pushed commits' files" if touched else "all runspecs")
        else:
            paths = changed_paths(cwd, base, head, merge_base=merge_base)
    unsafe = [p for p in dict.fromkeys(paths) if unsafe_reason(p)]
    if unsafe:
        raise UnsafePaths(unsafe)
    paths = sorted(p for p in dict.fromkeys(paths) if _is_runspec(p, root) and _inside(cwd, p))
    targets = _targets(cwd)
    items = [describe(p, cwd, target_override=target, targets=targets) for p in paths]
    held = ""
    if fork:
        held = "fork pull request"
    elif name == "push" and not launch_on_push:
        # A push to the default branch is usually a merge: its runspecs were launched from their pull request,
        # and the merge commit would count as new code. Launch from a branch with workflow_dispatch instead.
        held = "push (launches come from pull requests and workflow_dispatch)"
    return ChangedResult(event=name or "local", base=base, head=head, fork=fork, pr=pr, origin=origin,
                         branch=branch, items=items, note=note, held=held)
