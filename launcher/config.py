"""Project configuration: the `[tool.launcher]` table of the nearest pyproject.toml.

    [tool.launcher]
    workspace = "ws1"                 # XT's workspace: run names are ws1/run41
    component_roots = ["components"]  # the project's own components, searched before the built-ins
    ledger = "jobs.md"
    store = ".launcher"               # the local store folder (git-ignored)
    run_command = "python run.py {runspec}"   # optional: the project's own entry point
    working_dir = "rl_nexus"          # where runs start (run, smoke, launched runs), relative to this file
    python_path = ["."]               # folders put first on PYTHONPATH, relative to this file (default ["."])
    xtlib = "auto"                    # the drop-in xtlib.run for runs: "auto" (unless one is installed) or
                                      # "launcher" (always the drop-in)
    code_extras = []                  # globs added to the code snapshot besides git-tracked files

    [tool.launcher.targets.local]     # always exists, even when not written
    backend = "local"
    capacity = 8                      # slots on this machine (default: the CPU count)

    [tool.launcher.targets.azb-cpu]
    backend = "azure-batch"
    ...                               # settings read by the Azure backend

Every problem is reported with the line of pyproject.toml it is on.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from launcher.diagnostics import ERROR, WARNING, Diagnostic, LauncherError, did_you_mean

BUILTIN_COMPONENTS = Path(__file__).resolve().parent / "components"
BACKEND_NAMES = ("local", "azure-batch")
_TOP_KEYS = ("workspace", "component_roots", "ledger", "store", "run_command", "working_dir", "python_path", "xtlib",
             "code_extras", "targets")
XTLIB_CHOICES = ("auto", "launcher")
_LOCAL_KEYS = ("backend", "capacity", "description")
#: Names a trusted config file (the default branch's pyproject.toml) whose [tool.launcher.targets] replace the
#: project's: the launch job, which holds the Azure credential, never takes targets from a pull request.
TRUSTED_CONFIG_ENV = "LAUNCHER_TRUSTED_CONFIG"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Target:
    name: str
    backend: str
    settings: dict
    line: int = 0  # line of its table in pyproject.toml (0 = implicit)
    file: str = ""  # the config file it was read from ("" = the project's pyproject.toml)


@dataclass
class Config:
    project_dir: Path
    file: Path | None = None  # pyproject.toml, None when there is none
    workspace: str = "ws1"
    project_component_roots: list[Path] = field(default_factory=list)
    ledger: str = "jobs.md"
    store: str = ".launcher"
    run_command: list[str] | None = None
    working_dir: str = "."  # posix, relative to project_dir
    python_path: list[str] = field(default_factory=lambda: ["."])  # posix, relative to project_dir
    xtlib: str = "auto"
    code_extras: list[str] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)  # deprecated settings, printed by load_config
    #: the trusted config file the targets came from (LAUNCHER_TRUSTED_CONFIG), "" for the project's own
    targets_from: str = ""

    @property
    def component_roots(self) -> list[Path]:
        """The project's own roots, then the built-ins (see with_builtins)."""
        return with_builtins(self.project_component_roots)

    def roots_with(self, extra: list[str] | list[Path]) -> list[Path]:
        """`--component-root` options first (relative to the current folder), then the configured roots."""
        out: list[Path] = []
        for r in [*(Path(e).resolve() for e in extra), *self.project_component_roots]:
            if r not in out:
                out.append(r)
        return with_builtins(out)

    @property
    def layout(self):
        from launcher.layout import Layout

        return Layout(working_dir=self.working_dir, python_path=tuple(self.python_path),
                      run_command=tuple(self.run_command) if self.run_command else None, xtlib=self.xtlib)

    @property
    def run_dir(self) -> Path:
        """Where runs of this project start (working_dir)."""
        return self.layout.run_dir(self.project_dir)

    @property
    def ledger_path(self) -> Path:
        return self.project_dir / self.ledger

    @property
    def store_dir(self) -> Path:
        return self.project_dir / self.store

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            where = self.targets_from or self.file or "pyproject.toml"
            hint = did_you_mean(name, self.targets) or (
                f"define it as [tool.launcher.targets.{name}] in {where}, "
                f"or pick one of: {', '.join(sorted(self.targets))}")
            if self.targets_from:
                hint += (f" (targets come from the trusted config {TRUSTED_CONFIG_ENV}: a pull request that adds or "
                         "changes a target launches after it is merged)")
            raise LauncherError(f"compute target '{name}' is not defined in the project's config",
                                hint=hint) from None


def is_rl_nexus_tree(root: Path) -> bool:
    """A root with its own root/Root_Component.yaml is a whole rl_nexus components/ folder."""
    return (Path(root) / "root" / "Root_Component.yaml").is_file()


def with_builtins(roots: list[Path]) -> list[Path]:
    """The roots to search: the user's, then the built-ins, unless a user root is a whole rl_nexus tree.

    rl_nexus looks for components only in its own components/ folder (utils/yaml_utils.py get_comp_spec), so a
    component that tree lacks fails there; the launcher's demo components (processors/RL_Proc,
    environments/Maze_Env) must never stand in for it. A project with only a few components of its own keeps
    the built-in root and demo workload behind them."""
    roots = [Path(r) for r in roots]
    if any(is_rl_nexus_tree(r) for r in roots if Path(r).resolve() != BUILTIN_COMPONENTS):
        return roots
    return [*roots, BUILTIN_COMPONENTS]


def _default_paths_checked(cfg: Config) -> Config:
    """The default ledger and store of a project without [tool.launcher], held to the same rules."""
    for key in ("ledger", "store"):
        value = getattr(cfg, key)
        why = _outside(cfg.project_dir, value)
        if not why and key == "ledger" and (cfg.project_dir / value).is_symlink():
            why = "is a symlink; the launcher writes only a plain file"
        if why:
            raise LauncherError(f"{key} '{value}' {why}", hint="make it a plain file or folder inside the project")
    return cfg


def _outside(project_dir: Path, rel: str) -> str:
    """Why project_dir/rel is refused ('' when it is not): it resolves outside the project through a symlink that
    git tracks, i.e. one a commit (a pull request) brought. A link made on the machine itself (a runner's store
    kept on another disk) is the machine owner's choice and stays allowed."""
    root = project_dir.resolve()
    full = (project_dir / rel).resolve()
    if full == root or full.is_relative_to(root):
        return ""
    link = _committed_link(project_dir, rel)
    return f"resolves to {full}, outside the project, through the committed symlink '{link}'" if link else ""


def _committed_link(project_dir: Path, rel: str) -> str:
    """The first symlink on the way to project_dir/rel that git tracks ('' when none is)."""
    import subprocess

    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        prefix = Path(*parts[:i])
        if not (project_dir / prefix).is_symlink():
            continue
        try:
            out = subprocess.run(["git", "ls-files", "--stage", "--", prefix.as_posix()], cwd=project_dir,
                                 capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return prefix.as_posix()  # cannot tell: refuse
        if out.startswith("120000 "):
            return prefix.as_posix()
    return ""


def find_project(start: Path) -> Path | None:
    """The nearest folder at or above start that holds a pyproject.toml."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return None


def load_config(start: Path | str | None = None, *, project: Path | str | None = None,
                warn: bool = True) -> Config:
    """Load and validate the config; LauncherError with file:line diagnostics when it is wrong. Warnings (deprecated
    settings) are printed to stderr unless warn is False; they are in Config.warnings either way.

    With LAUNCHER_TRUSTED_CONFIG set, the targets come from that file alone (the project's are ignored,
    whatever they say): the launch job takes target definitions from the default branch."""
    cfg = _load_project_config(start, project)
    trusted_file = os.environ.get(TRUSTED_CONFIG_ENV, "").strip()
    if trusted_file:
        cfg.targets = load_trusted_targets(trusted_file)
        cfg.targets_from = trusted_file
        _with_local(cfg)
    if cfg.warnings and warn:
        import sys

        from launcher.report.text import render_diagnostic

        for d in cfg.warnings:
            sys.stderr.write(render_diagnostic(d))
    return cfg


def _load_project_config(start, project) -> Config:
    if project is not None:
        project_dir = Path(project).resolve()
        if not project_dir.is_dir():
            raise LauncherError(f"project folder not found: {project}")
    else:
        project_dir = find_project(Path(start or Path.cwd())) or Path(start or Path.cwd()).resolve()
    file = project_dir / "pyproject.toml"
    if not file.is_file():
        return _default_paths_checked(_with_local(Config(project_dir=project_dir)))
    text = file.read_text(encoding="utf-8")
    if "[tool.launcher" not in text:
        return _default_paths_checked(_with_local(Config(project_dir=project_dir, file=file)))
    from launcher import tomlcompat as tomllib
    rel = os.path.relpath(file)
    display = str(file) if rel.startswith("..") else rel  # diagnostics name the file as the user sees it
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        raise _config_error([Diagnostic("CF001", ERROR, f"invalid TOML: {exc}", display, line, col,
                                        hint="fix the TOML syntax")])
    table = doc.get("tool", {}).get("launcher", {})
    lines = _KeyLines(text)
    cfg = Config(project_dir=project_dir, file=file)
    diags: list[Diagnostic] = []

    def bad(key_path: tuple[str, ...], message: str, hint: str = "") -> None:
        line = lines.find(key_path)
        diags.append(Diagnostic("CF002", ERROR, message, display, line, 1 if line else 0, hint=hint,
                                path="tool.launcher." + ".".join(key_path)))

    if not isinstance(table, dict):
        bad((), "[tool.launcher] must be a table")
        raise _config_error(diags)
    from launcher.adopt.changes import DEPRECATED

    table = _renamed(table, DEPRECATED, lines, display, cfg.warnings)
    for key in table:
        if key not in _TOP_KEYS:
            bad((key,), f"unknown setting '{key}' in [tool.launcher]",
                did_you_mean(key, _TOP_KEYS) or f"known settings: {', '.join(_TOP_KEYS)}")
    ws = table.get("workspace", "ws1")
    if not isinstance(ws, str) or not _NAME_RE.match(ws):
        bad(("workspace",), f"workspace must be a short name of letters, digits, '-' or '_', not {ws!r}",
            'for example workspace = "ws1"')
    else:
        cfg.workspace = ws
    roots = table.get("component_roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        bad(("component_roots",), "component_roots must be a list of folder names",
            'for example component_roots = ["components"]')
    else:
        for r in roots:
            p = (project_dir / r).resolve()
            if not p.is_dir():
                bad(("component_roots",), f"component root '{r}' is not a folder",
                    "create it or remove it from component_roots (paths are relative to pyproject.toml)")
            elif why := _outside(project_dir, r):
                bad(("component_roots",), f"component root '{r}' {why}",
                    "keep the project's components inside it; name others with --component-root")
            cfg.project_component_roots.append(p)
    for key in ("ledger", "store"):
        value = table.get(key, getattr(cfg, key))
        if not isinstance(value, str) or not value or os.path.isabs(value) or ".." in Path(value).parts:
            bad((key,), f"{key} must be a path inside the project, not {value!r}")
        elif why := _outside(project_dir, value):
            # checked on the resolved path: a committed symlink (to a folder or the file) would make the launcher
            # write outside the checkout
            bad((key,), f"{key} '{value}' {why}", "make it a plain file or folder inside the project")
        elif key == "ledger" and (project_dir / value).is_symlink():
            bad((key,), f"the ledger '{value}' is a symlink; the launcher writes only a plain file",
                "replace the link by the file itself (git rm the link, commit the ledger)")
        else:
            setattr(cfg, key, value)
    run_command = table.get("run_command")
    if run_command is not None:
        if isinstance(run_command, str):
            try:
                run_command = shlex.split(run_command)
            except ValueError as exc:
                bad(("run_command",), f"run_command cannot be split into arguments: {exc}")
                run_command = None
        if run_command is not None and (not isinstance(run_command, list) or not run_command
                                        or not all(isinstance(a, str) for a in run_command)):
            bad(("run_command",), "run_command must be a command line or a list of arguments",
                'for example run_command = "python run.py {runspec}"')
        elif run_command is not None:
            if not any("{runspec}" in a for a in run_command):
                bad(("run_command",), "run_command must contain {runspec} where the runspec path goes",
                    'for example run_command = "python run.py {runspec}"')
            cfg.run_command = run_command
    wd = table.get("working_dir", ".")
    if not _inside_project(wd):
        bad(("working_dir",), f"working_dir must be a folder inside the project, not {wd!r}",
            'for example working_dir = "rl_nexus" (relative to pyproject.toml)')
    elif not (project_dir / wd).is_dir():
        bad(("working_dir",), f"working_dir '{wd}' is not a folder",
            "create it or fix the path (relative to pyproject.toml)")
    else:
        cfg.working_dir = Path(wd).as_posix()
    pp = table.get("python_path", ["."])
    if not isinstance(pp, list) or not all(isinstance(p, str) for p in pp):
        bad(("python_path",), "python_path must be a list of folders",
            'for example python_path = ["."] (relative to pyproject.toml)')
    else:
        outside = [p for p in pp if not _inside_project(p)]
        if outside:
            bad(("python_path",), f"python_path entries must be folders inside the project, not {outside[0]!r}",
                'paths are relative to pyproject.toml; the project root is "."')
        else:
            cfg.python_path = [Path(p).as_posix() for p in pp]
    xtlib = table.get("xtlib", "auto")
    if xtlib not in XTLIB_CHOICES:
        bad(("xtlib",), f"xtlib must be one of {', '.join(XTLIB_CHOICES)}, not {xtlib!r}",
            did_you_mean(str(xtlib), XTLIB_CHOICES) or 'for example xtlib = "auto"')
    else:
        cfg.xtlib = xtlib
    extras = table.get("code_extras", [])
    if not isinstance(extras, list) or not all(isinstance(e, str) for e in extras):
        bad(("code_extras",), "code_extras must be a list of glob patterns")
    else:
        cfg.code_extras = extras
    if not os.environ.get(TRUSTED_CONFIG_ENV, "").strip():  # else: replaced by the trusted ones below
        _parse_targets(table.get("targets", {}), cfg, bad, lines, display)
    if diags:
        raise _config_error(diags)
    return _with_local(cfg)


def load_trusted_targets(path_text: str) -> dict[str, Target]:
    """[tool.launcher.targets.*] of a trusted config file (LAUNCHER_TRUSTED_CONFIG: the default branch's
    pyproject.toml, written by the workflow outside the checkout), or a LauncherError naming the file."""
    from launcher import tomlcompat as tomllib

    path = Path(path_text)
    env_hint = (f"{TRUSTED_CONFIG_ENV} names the trusted config whose [tool.launcher.targets] replace the project's; "
                "point it at the default branch's pyproject.toml (e.g. `git show origin/main:pyproject.toml > FILE`)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LauncherError(f"the trusted config {path_text} cannot be read: {getattr(exc, 'strerror', None) or exc}",
                            hint=env_hint) from None
    diags: list[Diagnostic] = []
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        raise _config_error([Diagnostic("CF001", ERROR, f"invalid TOML in the trusted config: {exc}", path_text,
                                        line, col, hint="fix the TOML syntax on the default branch")]) from None
    lines = _KeyLines(text)

    def bad(key_path: tuple[str, ...], message: str, hint: str = "") -> None:
        line = lines.find(key_path)
        diags.append(Diagnostic("CF002", ERROR, message, path_text, line, 1 if line else 0, hint=hint,
                                path="tool.launcher." + ".".join(key_path)))

    table = doc.get("tool", {}).get("launcher", {})
    holder = Config(project_dir=path.parent.resolve(), file=path)
    if not isinstance(table, dict):
        bad((), "[tool.launcher] must be a table")
    else:
        _parse_targets(table.get("targets", {}), holder, bad, lines, path_text)
    if diags:
        raise _config_error(diags)
    return holder.targets


def _parse_targets(targets, cfg: Config, bad, lines: "_KeyLines", display: str) -> None:
    if not isinstance(targets, dict):
        bad(("targets",), "targets must be tables: [tool.launcher.targets.<name>]")
        targets = {}
    for name, settings in targets.items():
        if not isinstance(settings, dict):
            bad(("targets", name), f"target '{name}' must be a table [tool.launcher.targets.{name}]")
            continue
        if not _NAME_RE.match(name):
            bad(("targets", name), f"target name {name!r} must be letters, digits, '-' or '_'")
        backend = settings.get("backend", "local" if name == "local" else None)
        if backend not in BACKEND_NAMES:
            bad(("targets", name, "backend") if "backend" in settings else ("targets", name),
                f"target '{name}': backend must be one of {', '.join(BACKEND_NAMES)}, not {backend!r}",
                did_you_mean(str(backend), BACKEND_NAMES) or 'for example backend = "local"')
            continue
        if backend == "local":
            for key in settings:
                if key not in _LOCAL_KEYS:
                    bad(("targets", name, key), f"target '{name}': unknown local setting '{key}'",
                        did_you_mean(key, _LOCAL_KEYS) or f"local targets take: {', '.join(_LOCAL_KEYS)}")
            cap = settings.get("capacity")
            if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
                bad(("targets", name, "capacity"), f"target '{name}': capacity must be a whole number ≥ 1")
        cfg.targets[name] = Target(name, backend, dict(settings), lines.find(("targets", name)), display)


def _inside_project(value) -> bool:
    """A relative path that stays inside the project folder ('.' is the project itself)."""
    if not isinstance(value, str) or not value or os.path.isabs(value):
        return False
    return not os.path.normpath(value).startswith("..")


def _renamed(table: dict, deprecated: dict[str, tuple[str, str]], lines: "_KeyLines", display: str,
             warnings: list[Diagnostic]) -> dict:
    """The table with deprecated keys read as their replacements (for one release), each with a warning
    naming the replacement; when both are set, the replacement wins and the warning says so."""
    out = dict(table)
    for old, (new, since) in deprecated.items():
        if old not in out:
            continue
        value = out.pop(old)
        line = lines.find((old,))
        both = new in out
        warnings.append(Diagnostic(
            "CF003", WARNING, f"'{old}' is deprecated since {since}: it is now '{new}'"
            + (f" (both are set: '{new}' is used)" if both else ""), display, line, 1 if line else 0,
            hint=f"rename it to {new}; `{old}` is read for one more release", path=f"tool.launcher.{old}"))
        out.setdefault(new, value)
    return out


def _with_local(cfg: Config) -> Config:
    cfg.targets.setdefault("local", Target("local", "local", {"backend": "local"}))
    return cfg


def _config_error(diags: list[Diagnostic]) -> LauncherError:
    first = diags[0]
    return LauncherError(f"the project's config is invalid ({len(diags)} problem{'s' * (len(diags) > 1)})",
                         hint=f"fix [tool.launcher] in {first.file}", diagnostics=diags)


class _KeyLines:
    """Line numbers of keys in the TOML text (tomllib keeps none), for diagnostics."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for no, line in enumerate(text.splitlines(), 1):
            m = self._HEADER.match(line)
            if m:
                table = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
                self.lines.setdefault(table, no)
                continue
            m = self._KEY.match(line)
            if m:
                key = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
                self.lines.setdefault(table + key, no)

    def find(self, key_path: tuple[str, ...]) -> int:
        full = ("tool", "launcher", *key_path)
        while full:
            if full in self.lines:
                return self.lines[full]
            full = full[:-1]
        return 0
