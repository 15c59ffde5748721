"""`launcher smoke`: the pre-flight sanity run of the rl_nexus tutorial, automated.

Make a temporary copy of the runspec with the launcher disabled and every enabled stage cut short
(max_iterations -> a small number, iters_per_report and the components' other SMOKE_SCALABLE knobs scaled
with it), run it as a subprocess `python -m launcher run` in a temporary folder under a wall-clock limit,
then check what the tutorial asks a user to check: every enabled stage started and completed,
repro_spec.yaml has no launcher section and matches the runspec apart from the truncation, hpmax was
reported. The result is one SmokeReport; launcher/report/smoke.py renders it.

The copy is the resolved runspec (defaults filled, replacements done, hyperparameters and randint values
concrete, drawn from a recorded seed): truncating resolved values is exact where editing YAML text through
anchors and defaults would not be.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from launcher.diagnostics import LauncherError
from launcher.layout import XT_METRICS_ENV, Layout, local_datastore
from launcher.report.numbers import fmt as _fmt_number

DEFAULT_ITERATIONS = 1000
DEFAULT_TIMEOUT = 120.0
TAIL_LINES = 30
ALWAYS_SCALED = ("max_iterations", "iters_per_report")  # rl_nexus processors' size knobs
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Change:
    path: str  # "$.processing_stages[0].processing_stage.max_iterations"
    original: Any
    smoke: Any

    def __str__(self) -> str:
        return f"{self.path}: {self.original!r} -> {self.smoke!r}"


@dataclass
class StageOutcome:
    index: int
    component: str
    enabled: bool
    status: str
    reports: int = 0
    objective: dict[str, Any] | None = None
    last_metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class SmokeReport:
    runspec: str
    ok: bool = False
    iterations: int = DEFAULT_ITERATIONS
    timeout: float = DEFAULT_TIMEOUT
    seed: int | None = None
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stages: list[StageOutcome] = field(default_factory=list)
    hpmax: float | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    truncated: list[Change] = field(default_factory=list)
    repro_diff: list[str] = field(default_factory=list)  # original runspec vs repro_spec.yaml, one line each
    checks: list[Check] = field(default_factory=list)
    failing_stage: str | None = None  # "2 of 4 (processors/RL_Proc)", "resolve" or None
    error: str | None = None
    console_tail: list[str] = field(default_factory=list)
    traceback: str | None = None  # only with --verbose
    out_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["truncated"] = [asdict(c) for c in self.truncated]
        d["seconds"] = round(self.seconds, 3)
        return d


# -- truncation ----------------------------------------------------------------------------------------------

def smoke_scalable(py_path: Path | None, class_name: str) -> tuple[str, ...]:
    """A component's SMOKE_SCALABLE tuple, read from its source without importing it (no ML imports here)."""
    import ast

    if py_path is None or not py_path.is_file():
        return ()
    try:
        tree = ast.parse(py_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for stmt in node.body:
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else \
                    (stmt.target if isinstance(stmt, ast.AnnAssign) else None)
                if isinstance(target, ast.Name) and target.id == "SMOKE_SCALABLE" and stmt.value is not None:
                    try:
                        value = ast.literal_eval(stmt.value)
                    except ValueError:
                        return ()
                    return tuple(v for v in value if isinstance(v, str))
    return ()


def truncate(data: dict[str, Any], iterations: int, component_files: dict[str, Path]) -> list[Change]:
    """Disable the launcher and shrink every enabled stage in place; returns what changed."""
    changes: list[Change] = []
    jl = data.get("job_launcher")
    if isinstance(jl, dict) and jl.get("enabled"):
        changes.append(Change("$.job_launcher.enabled", jl["enabled"], False))
        jl["enabled"] = False
    cache: dict[str, tuple[str, ...]] = {}

    def knobs(name: str) -> tuple[str, ...]:
        if name not in cache:
            yml = component_files.get(name)
            cache[name] = smoke_scalable(Path(yml).with_suffix(".py") if yml else None, name.rsplit("/", 1)[-1])
        return cache[name]

    for i, item in enumerate(data.get("processing_stages") or []):
        stage = item.get("processing_stage") if isinstance(item, dict) else None
        if not isinstance(stage, dict) or not stage.get("enabled", True):
            continue
        path = f"$.processing_stages[{i}].processing_stage"
        max_it = stage.get("max_iterations")
        factor = iterations / max_it if _is_int(max_it) and max_it > iterations else None
        _scale(stage, path, factor, iterations, knobs, changes, top=True)
    return changes


def _scale(comp: dict, path: str, factor: float | None, iterations: int, knobs, changes: list[Change],
           *, top: bool) -> None:
    names = set(knobs(str(comp.get("component", ""))))
    if top:
        names |= set(ALWAYS_SCALED)
    for key in [k for k in comp if k in names]:
        value = comp[key]
        if not _is_int(value) or value <= 0:
            continue
        new = max(1, round(value * factor)) if factor is not None else min(value, iterations)
        if new != value:
            comp[key] = new
            changes.append(Change(f"{path}.{key}", value, new))
    if top and _is_int(comp.get("iters_per_report")) and _is_int(comp.get("max_iterations")) \
            and comp["iters_per_report"] > comp["max_iterations"]:
        comp["iters_per_report"] = comp["max_iterations"]
    for key, value in comp.items():
        if isinstance(value, dict) and "component" in value and value.get("enabled", True):
            _scale(value, f"{path}.{key}", factor, iterations, knobs, changes, top=False)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -- comparison ----------------------------------------------------------------------------------------------

def diff_values(a: Any, b: Any, path: str = "$") -> list[tuple[str, Any, Any]]:
    """(path, a, b) for every leaf that differs; '<missing>' marks a key present on one side only."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            out += diff_values(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff_values(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [(path, a, b)]


def _repro_diff(original: dict, repro: dict, source_text: str) -> list[str]:
    from launcher.runspec.resolve import SPECIAL_SECTIONS

    lines = []
    if "job_launcher" in original and "job_launcher" not in repro:
        lines.append("- job_launcher: not in repro_spec.yaml (a local run does not launch)")
    resolved = [s for s in SPECIAL_SECTIONS
                if any(ln.startswith(f"{s}:") for ln in source_text.splitlines())]
    if resolved:
        lines.append(f"- {', '.join(resolved)}: resolved into the values")
    for path, a, b in diff_values({k: v for k, v in original.items() if k != "job_launcher"}, repro):
        lines.append(f"~ {path}: {a!r} -> {b!r}")
    return lines


# -- the run ------------------------------------------------------------------------------------------------

def smoke(runspec: str | Path, *, component_roots: list[Path], project_dir: Path | None = None,
          extra_roots: list[str] | None = None, overrides: dict[str, str] | None = None,
          iterations: int = DEFAULT_ITERATIONS, timeout: float = DEFAULT_TIMEOUT, out_dir: str | Path | None = None,
          verbose: bool = False, seed: int | None = None, config=None) -> SmokeReport:
    """`config`: the project's config; with it (in a git repository) the smoke runs the code snapshot that
    `launch` would upload, from working_dir, as a launched run does."""
    import shutil
    import tempfile

    from launcher.runtime.executor import dump_yaml
    from launcher.runspec.api import resolve_file

    report = SmokeReport(runspec=str(runspec), iterations=iterations, timeout=timeout)
    if seed is None:
        import random

        seed = random.SystemRandom().randrange(2**31)
    report.seed = seed
    try:
        # $datastore as the run will see it: the node's XT_DATA_DIR, else ../datastore beside working_dir
        # (the copy runs elsewhere, so the folder is named absolutely).
        datastore = os.environ.get("XT_DATA_DIR") or (
            str(local_datastore(config.project_dir, config.layout)) if config is not None else None)
        rs = resolve_file(runspec, component_roots=component_roots, overrides=overrides or {}, seed=seed,
                          require_components=True, datastore=datastore)
    except LauncherError as exc:
        from launcher.report.text import render_diagnostic

        report.failing_stage = "resolve"
        report.error = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
        report.console_tail = [ln for d in exc.diagnostics for ln in render_diagnostic(d).splitlines()][-TAIL_LINES:]
        report.checks.append(Check("runspec resolves", False, exc.message))
        return report
    report.hparams = dict(rs.hparams)
    data = copy.deepcopy(rs.data)
    report.truncated = truncate(data, iterations, rs.component_files)
    experiment_path = str(data.get("experiment_path") or "")
    layout = config.layout if config is not None else Layout()

    tmp = Path(tempfile.mkdtemp(prefix="launcher-smoke-"))
    try:
        try:
            code_root, cwd, from_snapshot = _prepare_code(tmp, config, layout, experiment_path)
        except LauncherError as exc:
            report.failing_stage = "snapshot"
            report.error = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            report.checks.append(Check("code snapshot", False, exc.message))
            return report
        copy_path = tmp / "spec" / Path(runspec).name
        copy_path.parent.mkdir()
        copy_path.write_text(f"# launcher smoke: truncated copy of {Path(runspec).name} (seed {seed})\n"
                             + dump_yaml(data), encoding="utf-8")
        argv = [sys.executable, "-m", "launcher", "run", str(copy_path), "--seed", str(seed)]
        if from_snapshot:
            argv += ["--project", str(code_root)]
        elif config is not None and config.file is not None:
            roots = [str(r) for r in config.project_component_roots]
            argv += [a for r in roots for a in ("--component-root", r)]
        elif project_dir is not None:
            argv += ["--project", str(project_dir)]
        for r in extra_roots or []:
            argv += ["--component-root", str(Path(r).resolve())]
        if verbose:
            argv.append("--verbose")
        xt_metrics = tmp / "xt_metrics.jsonl"
        env = {XT_METRICS_ENV: str(xt_metrics)}
        if config is not None and not os.environ.get("XT_DATA_DIR"):
            env["XT_DATA_DIR"] = str(local_datastore(config.project_dir, layout))
        stdout, stderr = _run_child(argv, cwd, timeout, report, env)
        exp_dir = (cwd / experiment_path) if experiment_path else cwd
        _evaluate(report, rs, data, exp_dir, stdout, stderr, verbose, xt_metrics=xt_metrics,
                  external=bool(config is not None and config.run_command))
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            shutil.copytree(tmp, out, dirs_exist_ok=True)
            report.out_dir = str(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _prepare_code(tmp: Path, config, layout: Layout, experiment_path: str) -> tuple[Path, Path, bool]:
    """(code root, working folder, whether it is the snapshot). The code root is nested so that
    experiment_path's leading '..' parts, counted from working_dir, stay inside the temp folder."""
    from launcher import gitutil

    wd_depth = 0 if layout.working_dir in (".", "") else len(Path(layout.working_dir).parts)
    code_root = tmp.joinpath(*(["w"] * max(1, _leading_parents(experiment_path) - wd_depth)))
    cwd = layout.run_dir(code_root)
    in_git = config is not None and config.file is not None and gitutil.is_repo(config.project_dir)
    if in_git:
        from launcher.launch import run_output_paths, snapshot_excludes
        from launcher.package import build_snapshot, extract_snapshot

        snapshot = build_snapshot(config.project_dir, extras=config.code_extras, allow_dirty=True,
                                  exclude=snapshot_excludes(config), run_outputs=run_output_paths(config))
        code_root.mkdir(parents=True)
        extract_snapshot(snapshot.zip_bytes, code_root)
        if not cwd.is_dir():
            raise LauncherError(f"working_dir '{layout.working_dir}' is not in the code snapshot",
                                hint="commit its files (git add), or fix working_dir in [tool.launcher]")
        return code_root, cwd, True
    if config is not None and config.run_command:
        raise LauncherError(f"{config.project_dir} is not a git repository: smoke runs the code snapshot that "
                            "launch would upload, and there is none", hint="git init, add and commit the project")
    cwd.mkdir(parents=True)
    return code_root, cwd, False


def _leading_parents(path: str) -> int:
    n = 0
    for part in Path(path).parts:
        if part != "..":
            break
        n += 1
    return n


def _run_child(argv: list[str], cwd: Path, timeout: float, report: SmokeReport,
               extra_env: dict[str, str] | None = None) -> tuple[str, str]:
    import signal
    import subprocess

    env = dict(os.environ, **(extra_env or {}))
    env.pop("XT_RUN_NAME", None)  # a smoke run is never an HP-search child
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.monotonic()
    # A session of its own, so a hanging stage and anything it started can be killed as a group.
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        report.timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate()
    report.seconds = time.monotonic() - t0
    report.exit_code = proc.returncode
    return stdout or "", stderr or ""


def _evaluate(report: SmokeReport, rs, data: dict, exp_dir: Path, stdout: str, stderr: str, verbose: bool, *,
              xt_metrics: Path | None = None, external: bool = False) -> None:
    import json

    import yaml

    from launcher.runtime.executor import repro_spec

    console = _read(exp_dir / "console.txt") or stdout
    lines = console.splitlines()
    report.console_tail = lines[-TAIL_LINES:]
    summary = None
    try:
        summary = json.loads(_read(exp_dir / "summary.json") or "null")
    except ValueError:
        pass
    stage_specs = [(item.get("processing_stage") or {}) if isinstance(item, dict) else {}
                   for item in data.get("processing_stages") or []]
    n = len(stage_specs)
    if not summary and xt_metrics is not None:  # a project's own run.py: what it logged through xtlib.run
        report.hpmax = _logged_hpmax(xt_metrics)
    if summary:
        report.hpmax = summary.get("hpmax")
        for s in summary.get("stages", []):
            report.stages.append(StageOutcome(index=s["index"], component=s["component"], enabled=s["enabled"],
                                              status=s["status"], reports=s.get("reports", 0),
                                              objective=s.get("objective"), last_metrics=s.get("last_metrics", {}),
                                              seconds=round(s.get("seconds", 0.0), 3)))
    progress = _stage_progress(lines, stage_specs)
    if not summary:  # killed (timeout) or crashed before writing summary.json: follow the console
        words = {"completed": "completed", "started": "killed" if report.timed_out else "started",
                 "not started": "not run"}
        for i, spec in enumerate(stage_specs, 1):
            enabled = bool(spec.get("enabled", True))
            report.stages.append(StageOutcome(i, str(spec.get("component", "?")), enabled,
                                              words[progress[i]] if enabled else "not enabled"))

    # 1. exit code
    if report.timed_out:
        report.checks.append(Check("finished in time", False, f"killed after {report.timeout:g} s"))
    else:
        report.checks.append(Check("exit code 0", report.exit_code == 0,
                                   "" if report.exit_code == 0 else f"exit code {report.exit_code}"))
    # 2. every enabled stage started and completed (read from the console, as a user would)
    missing = [f"stage {i} ({state})" for i, state in progress.items() if state != "completed"]
    report.checks.append(Check("every enabled stage started and completed", not missing,
                               ", ".join(missing) if missing else f"{len(progress)} of {n} stages enabled"))
    # 3. repro_spec.yaml
    repro_text = _read(exp_dir / "repro_spec.yaml")
    repro = None
    if repro_text is None:
        report.checks.append(Check("repro_spec.yaml matches the runspec", False, "repro_spec.yaml was not written"))
    else:
        try:
            repro = yaml.safe_load(repro_text)
        except yaml.YAMLError as exc:
            report.checks.append(Check("repro_spec.yaml matches the runspec", False, f"not valid YAML: {exc}"))
    if isinstance(repro, dict) and external:
        # rl_nexus's own Root_Component writes only the settings its components read: no comparison with the
        # launcher's resolution, only what the checklist asks (it exists, without a launcher section).
        report.checks.append(Check("repro_spec.yaml matches the runspec", "job_launcher" not in repro,
                                   "it has a job_launcher section" if "job_launcher" in repro
                                   else "written by the project's run command, without a launcher section"))
    elif isinstance(repro, dict):
        expected = repro_spec(data, data.get("random_seed"))
        unexpected = diff_values(expected, repro)
        if "job_launcher" in repro:
            detail = "it has a job_launcher section"
        elif unexpected:
            detail = "unexpected difference at " + ", ".join(p for p, _, _ in unexpected[:5])
        else:
            detail = f"differs from the runspec only by the truncation ({len(report.truncated)} values)"
        report.checks.append(Check("repro_spec.yaml matches the runspec", "job_launcher" not in repro
                                   and not unexpected, detail))
        report.repro_diff = _repro_diff(rs.data, repro, rs.source_text)
    # 4. hpmax
    hp_line = any(ln.startswith("Objective ") and "(hpmax):" in ln and "n/a" not in ln for ln in lines)
    report.checks.append(Check("hpmax reported", hp_line and report.hpmax is not None,
                               "hpmax " + _fmt_number(report.hpmax) if report.hpmax is not None and hp_line
                               else "no hpmax line on the console"))
    report.ok = all(c.ok for c in report.checks)
    if report.ok:
        return
    # What the run printed on stderr besides the launcher's own error (python's "can't open file ...", the
    # last lines of a traceback) belongs with the console lines: the reason must show without --verbose.
    extra = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("launcher: ")
             and not (ln.startswith("  ") and _error_lines(stderr) and ln.strip() in _error_lines(stderr))]
    if extra:
        report.console_tail = (lines + extra)[-TAIL_LINES:]
    # -- what failed, for the reader
    failing = [i for i, state in progress.items() if state != "completed"]
    if failing:
        i = failing[0]
        report.failing_stage = f"{i} of {n} ({stage_specs[i - 1].get('component', '?')})"
    err = (summary or {}).get("error") or {}
    if report.timed_out:
        report.error = f"timed out after {report.timeout:g} s" + (
            f" in stage {report.failing_stage}" if report.failing_stage else "")
    else:
        last_err = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
        report.error = _error_lines(stderr) or err.get("message") or (
            f"the run exited with code {report.exit_code}: {last_err}" if report.exit_code and last_err else "") \
            or next((f"{c.name}: {c.detail}" for c in report.checks if not c.ok), "failed")
    if verbose:
        report.traceback = err.get("traceback") or stderr or None


def _logged_hpmax(path: Path):
    """The last hpmax a run logged through the drop-in xtlib.run (rl_nexus: nexus_logger.finish_run)."""
    import json

    value = None
    for line in (_read(path) or "").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        metrics = row.get("metrics") if isinstance(row, dict) else None
        if isinstance(metrics, dict) and isinstance(metrics.get("hpmax"), (int, float)):
            value = metrics["hpmax"]
    return value


def _stage_progress(lines: list[str], specs: list[dict]) -> dict[int, str]:
    """Enabled stage index -> 'not started' | 'started' | 'completed', following the console's lines."""
    progress = {i: "not started" for i, s in enumerate(specs, 1) if s.get("enabled", True)}
    current = None
    for ln in lines:
        if ln.startswith("Processing stage ") and " of " in ln:
            try:
                current = int(ln.split()[2])
            except ValueError:
                current = None
            continue
        if current in progress:
            name = str(specs[current - 1].get("component", "")).rsplit("/", 1)[-1]
            if ln == f"{name}:  Started":
                progress[current] = "started"
            elif ln == f"{name}:  Completed" and progress[current] == "started":
                progress[current] = "completed"
    return progress


def _error_lines(stderr: str) -> str:
    """The child's 'launcher: error: ...' message with its indented detail lines (no traceback)."""
    out: list[str] = []
    for ln in stderr.splitlines():
        if ln.startswith("launcher: "):
            out = [ln[len("launcher: "):].removeprefix("error: ")]
        elif out and ln.startswith("  ") and not ln.startswith("  File "):
            out.append(ln.strip())
        elif out:
            break
    return "\n".join(out)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
