"""Execute a resolved runspec locally: Root_Component semantics, console, metrics, repro spec, summary.

What rl_nexus's `python run.py spec.yaml` does with the launcher disabled (research notes B.1):
the root component runs the enabled processing stages in order ("(not enabled)" for the others), each stage
reports metrics, and the run ends with the hpmax objective. Into experiment_path (relative to the current
folder, as in rl_nexus) it writes console.txt, a copy of the runspec, repro_spec.yaml, metrics.jsonl,
summary.json and, when log_to_tensorboard is on, TensorBoard event files.
"""

from __future__ import annotations

import copy
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from launcher.diagnostics import LauncherError
from launcher.runtime.component import Component, ComponentError, Settings
from launcher.runtime.console import Console
from launcher.runtime.files import write_json_atomic, write_text_atomic
from launcher.runtime.loader import ComponentLoader
from launcher.runtime.metrics import Reporter
from launcher.runtime.summary import COMPLETED, FAILED, NOT_ENABLED, NOT_RUN, RunError, RunSummary, StageSummary
from launcher.runspec.components import display_path

MIRRORED_PREFIX = "../results"  # XT mirrors the run's ../results tree live (research notes C.10)
RUNTIME_DIR = Path(__file__).resolve().parent


@dataclass
class RunInput:
    """What the executor needs from the resolver (a ResolvedSpec carries all of it)."""

    data: dict[str, Any]  # the fully explicit spec
    source_path: Path | None = None
    source_text: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    seed: int | None = None
    component_files: dict[str, Path] = field(default_factory=dict)
    hp_search: bool = False  # a child run of an HP search (prints "Objective being maximized ...")

    @classmethod
    def from_resolved(cls, rs: Any, *, hp_search: bool = False) -> RunInput:
        return cls(data=rs.data, source_path=Path(rs.source_path) if rs.source_path else None,
                   source_text=rs.source_text, hparams=dict(rs.hparams), seeds=dict(rs.seeds), seed=rs.seed,
                   component_files=dict(rs.component_files), hp_search=hp_search)


class StageFailed(Exception):
    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


def repro_spec(data: dict[str, Any], run_seed: int | None) -> dict[str, Any]:
    """The spec to replay this run: everything resolved, no launcher section, the generators' seed fixed."""
    out = {k: copy.deepcopy(v) for k, v in data.items() if k != "job_launcher"}
    if "random_seed" in out and run_seed is not None:
        out["random_seed"] = run_seed
    return out


def dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)


class LocalRun:
    """The per-run state components reach through their API properties (the RunContext of context.py)."""

    def __init__(self, inp: RunInput, loader: ComponentLoader, console: Console, output_dir: Path,
                 run_seed: int) -> None:
        self.inp = inp
        self.loader = loader
        self.console = console
        self.output_dir = output_dir
        self.run_seed = run_seed
        self.started = time.monotonic()
        self.reporter: Reporter | None = None
        self.stages: list[StageSummary] = []
        self._metrics_fh: TextIO | None = None
        self._tb: Any = None

    # -- used by components -------------------------------------------------------------------------------
    def elapsed_hours(self) -> float:
        return (time.monotonic() - self.started) / 3600.0

    def create(self, spec: Any, spec_path: str) -> Component | None:
        if spec is None:
            return None
        if not isinstance(spec, dict) or "component" not in spec:
            raise ComponentError(f"{spec_path} is not a component (a mapping with a 'component' key)")
        if "enabled" in spec and not spec["enabled"]:
            return None
        cls = self.loader.load(spec["component"])
        return cls(Settings(spec["component"], spec), self, spec_path)

    def record_report(self, reporter: Reporter, x: int, hours: float, values: dict[str, float | None]) -> None:
        line = {"stage": reporter.stage, "component": reporter.component, "iteration": x,
                "x_axis": reporter.x_axis, "hours": round(hours, 6), "metrics": values}
        if self._metrics_fh is not None:
            self._metrics_fh.write(json.dumps(line) + "\n")
            self._metrics_fh.flush()
        if self._tb is not None:
            for name, v in values.items():
                if v is not None:
                    self._tb.add_scalar(f"s{reporter.stage}-{name}", v, x)

    # -- Root_Component semantics -------------------------------------------------------------------------
    def run_processing_stages(self, stages: Any) -> None:
        if not isinstance(stages, list):
            raise ComponentError("processing_stages must be a list of '- processing_stage:' items")
        n = len(stages)
        specs = stage_specs(stages)
        self.stages = plan_stages(specs)
        for i, (stage, spec) in enumerate(zip(self.stages, specs), 1):
            enabled = stage.enabled
            self.console.line(f"Processing stage {i} of {n}")
            if not enabled:
                stage.status = NOT_ENABLED
                self.console.line("(not enabled)")
                continue
            self._run_stage(stage, spec, f"$.processing_stages[{i - 1}].processing_stage")

    def _run_stage(self, stage: StageSummary, spec: Any, path: str) -> None:
        t0 = time.monotonic()
        self.reporter = Reporter(self, stage.index, stage.component)
        try:
            comp = self.create(spec, path)
            self.console.line(f"{stage.name}:  Started")
            comp.execute()
        except Exception as exc:
            stage.status = FAILED
            stage.seconds = time.monotonic() - t0
            error = _run_error(exc, stage.index)
            stage.error = error.message
            self._close_stage(stage)
            self.console.line(f"{stage.name}:  Failed ({error.message})")
            raise StageFailed(error) from exc
        stage.seconds = time.monotonic() - t0
        stage.status = COMPLETED
        self._close_stage(stage)
        obj = stage.objective
        if obj and obj["value"] is not None:
            self.console.line(f"Stage summary ({obj['aggregate']} {obj['long_name']}): {obj['value']:8.5f}")
        self.console.line(f"{stage.name}:  Completed")

    def _close_stage(self, stage: StageSummary) -> None:
        rep = self.reporter
        if rep is None:
            return
        stage.reports = rep.reports
        stage.last_iteration = rep.last_x
        stage.last_metrics = rep.last_values()
        if rep.objective is not None:
            stage.objective = {**rep.objective.to_dict(), "value": rep.lifetime(rep.objective.short_name)}
        self.reporter = None

    # -- files --------------------------------------------------------------------------------------------
    def open_outputs(self, log_to_tensorboard: bool) -> str:
        self._metrics_fh = open(self.output_dir / "metrics.jsonl", "w", encoding="utf-8", newline="\n")
        if not log_to_tensorboard:
            return "off"
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            note = "skipped: tensorboardX is not installed (pip install 'runspec-launcher[tensorboard]')"
            self.console.line(f"TensorBoard event files {note}")
            return note
        self._tb = SummaryWriter(logdir=str(self.output_dir))
        return "written"

    def close(self) -> None:
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _run_error(exc: BaseException, stage: int | None) -> RunError:
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, LauncherError):
        return RunError(message=exc.message, stage=stage, hint=exc.hint, traceback=trace)
    return RunError(message=f"{type(exc).__name__}: {exc}", stage=stage, type=type(exc).__name__,
                    location=_component_frame(exc), traceback=trace)


def _component_frame(exc: BaseException) -> str:
    """'Boom_Proc.py:12 in execute': the innermost frame outside the runtime, i.e. in component code."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if not Path(fr.filename).resolve().is_relative_to(RUNTIME_DIR):
            return f"{display_path(fr.filename)}:{fr.lineno} in {fr.name}"
    return ""


def stage_specs(stages: Any) -> list[Any]:
    return [item.get("processing_stage") if isinstance(item, dict) else None for item in stages or []]


def plan_stages(specs: list[Any]) -> list[StageSummary]:
    """All stages listed up front, so a failure leaves the later ones as "not run" in the summary."""
    return [StageSummary(index=i, component=str(spec.get("component", "?")) if isinstance(spec, dict) else "?",
                         enabled=bool(spec.get("enabled", True)) if isinstance(spec, dict) else True)
            for i, spec in enumerate(specs, 1)]


def preflight(data: dict[str, Any], loader: ComponentLoader) -> None:
    """Find the code of every component the run will create before stage 1 starts, not an hour into it."""
    loader.code_path(str(data.get("component")))
    stages = data.get("processing_stages")
    for i, spec in enumerate(stage_specs(stages if isinstance(stages, list) else []), 1):
        try:
            for name in enabled_components(spec):
                loader.code_path(name)
        except LauncherError as exc:
            raise StageFailed(RunError(message=exc.message, stage=i, hint=exc.hint)) from None


def enabled_components(data: Any) -> list[str]:
    """Every component the run will create: the root, enabled stages and their enabled sub-components."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "component" in v:
                if "enabled" in v and not v["enabled"]:
                    return
                out.append(v["component"])
            for k, child in v.items():
                if k != "job_launcher":
                    walk(child)
        elif isinstance(v, list):
            for child in v:
                walk(child)

    walk(data)
    return list(dict.fromkeys(out))


def execute(inp: RunInput, *, roots: list[Path], stream: TextIO | None) -> RunSummary:
    """Run the spec; always returns a summary (status failed with an error when a stage failed).

    Raises LauncherError only for a spec that cannot start (no experiment_path)."""
    data = inp.data
    experiment_path = data.get("experiment_path")
    if not isinstance(experiment_path, str) or not experiment_path:
        raise LauncherError("the runspec has no experiment_path", hint="set experiment_path (e.g. ../results/x), "
                            "or define <experiment_path> in string_replacements")
    output_dir = Path(experiment_path)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LauncherError(f"cannot create experiment_path {experiment_path}: {exc.strerror}") from None
    run_seed = data.get("random_seed")
    if not isinstance(run_seed, int) or isinstance(run_seed, bool):
        run_seed = inp.seed if inp.seed is not None else 0
    summary = RunSummary(runspec=str(inp.source_path or ""), experiment_path=experiment_path,
                         hparams=dict(inp.hparams), seeds=dict(inp.seeds), seed=inp.seed, random_seed=run_seed,
                         hp_search=inp.hp_search)
    console = Console(stream)
    console.open_file(output_dir / "console.txt")
    loader = ComponentLoader(roots, inp.component_files)
    run = LocalRun(inp, loader, console, output_dir, run_seed)
    try:
        _write_inputs(inp, output_dir, run_seed)
        if not experiment_path.replace("\\", "/").startswith(MIRRORED_PREFIX):
            console.line(f"WARNING: experiment_path {experiment_path} is not under {MIRRORED_PREFIX}, "
                         "so a remote run's results would not be mirrored.")
        summary.tensorboard = run.open_outputs(bool(data.get("log_to_tensorboard")))
        if inp.hparams:
            console.line("Chosen hyperparameter values:")
            for k, v in inp.hparams.items():
                console.line(f"  {k}: {v}")
        try:
            if isinstance(data.get("processing_stages"), list):
                run.stages = plan_stages(stage_specs(data["processing_stages"]))
            preflight(data, loader)
            root = run.create(data, "$")
            if root is None:
                raise ComponentError("the root component is not enabled")
            root.execute()
        except StageFailed as exc:
            summary.error = exc.error
            if not any(st.status != NOT_RUN for st in run.stages):  # preflight: nothing started
                console.line(f"ERROR: {exc.error.message}")
        except Exception as exc:
            summary.error = _run_error(exc, None)
            console.line(f"ERROR: {summary.error.message}")
        summary.stages = run.stages
        if summary.error is None:
            summary.hpmax = _hpmax(run.stages)
            label = "being" if inp.hp_search else "that would be"
            console.line("")
            if summary.hpmax is not None:
                console.line(f"Objective {label} maximized by hyperparameter tuning (hpmax): {summary.hpmax:8.5f}")
            else:
                console.line(f"Objective {label} maximized by hyperparameter tuning (hpmax): n/a "
                             "(the last executed stage reported no metrics)")
            console.line("")
            console.line("All processing stages completed.")
        else:
            summary.status = FAILED
    finally:
        run.close()
        console.close()
        summary.seconds = time.monotonic() - run.started
        write_json_atomic(output_dir / "summary.json", summary.to_dict())
    return summary


def _hpmax(stages: list[StageSummary]) -> float | None:
    executed = [s for s in stages if s.status == COMPLETED]
    if not executed or not executed[-1].objective or executed[-1].objective["value"] is None:
        return None
    obj = executed[-1].objective
    return obj["value"] if obj["higher_is_better"] else -obj["value"]


def _write_inputs(inp: RunInput, output_dir: Path, run_seed: int) -> None:
    repro_path = output_dir / "repro_spec.yaml"
    if inp.source_path is not None:
        copy_path = output_dir / inp.source_path.name
        same = copy_path.exists() and inp.source_path.exists() and os.path.samefile(copy_path, inp.source_path)
        if not same and copy_path != repro_path:
            text = inp.source_text if inp.source_text is not None else inp.source_path.read_text(encoding="utf-8")
            write_text_atomic(copy_path, text)
    header = ("# repro_spec.yaml: the fully resolved runspec of this run"
              + (f" (from {inp.source_path.name})" if inp.source_path else "") + ".\n"
              "# Defaults filled in, replacements done, randint and hyperparameter values concrete.\n"
              "# Run it again with `launcher run repro_spec.yaml` to reproduce the run.\n")
    write_text_atomic(repro_path, header + dump_yaml(repro_spec(inp.data, run_seed)))
