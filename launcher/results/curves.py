"""Learning curves from the store: each run's metrics.jsonl as series, grouped and aggregated for a plot.

A metrics.jsonl line is one report: {"stage": 1, "iteration": 5000, "x_axis": "iters", "hours": 0.06,
"metrics": {"rew": 0.1, "win": 0.2}} (what `launcher run` writes; older or foreign lines with the metrics at
the top level are read too). A metric is named as in `launcher runs`: s1-rew; a bare name (rew) means the
last stage that reports it. Without a name, the plot shows the objective of the last stage, the metric
that hpmax is made of.

Aggregation follows `xt plot`: runs of a group are combined at every x that any of them reported, with a
shadow of one standard deviation (or min..max) around the mean (or median).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field

from launcher.diagnostics import LauncherError, UsageError, did_you_mean
from launcher.jobs import records as R

AGGREGATES = ("mean", "median")
SHADOWS = ("std", "minmax", "none")
_X_KEYS = ("iteration", "iters", "iter", "step")
_NOT_METRICS = ("stage", "component", "x_axis", "hours", "time", *_X_KEYS)


@dataclass
class RunCurves:
    run: str
    job: str
    status: str
    hparams: dict
    hpmax: float | None
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # "s1-rew" -> [(x, y)]
    x_axis: dict[str, str] = field(default_factory=dict)  # "s1" -> "iters"
    order: list[str] = field(default_factory=list)  # metric names as the stages defined them


@dataclass
class Line:
    """One line of a plot: a run's curve, or a group's aggregate with its shadow band."""

    label: str
    xs: list[float]
    ys: list[float]
    low: list[float] | None = None
    high: list[float] | None = None
    runs: int = 1

    def to_dict(self) -> dict:
        return {"label": self.label, "x": self.xs, "y": self.ys, "low": self.low, "high": self.high,
                "runs": self.runs}


def parse_metrics_jsonl(text: str) -> tuple[dict[str, list[tuple[float, float]]], dict[str, str], list[str]]:
    """(series by metric name, x axis name by stage, metric names in order) of a metrics.jsonl."""
    series: dict[str, list[tuple[float, float]]] = {}
    x_axis: dict[str, str] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if not isinstance(row, dict):
            continue
        x = next((row[k] for k in _X_KEYS if _number(row.get(k))), None)
        if x is None:
            continue
        stage = row.get("stage", 1)
        prefix = stage if isinstance(stage, str) and stage.startswith("s") else f"s{stage}"
        x_axis.setdefault(prefix, str(row.get("x_axis") or next(k for k in _X_KEYS if _number(row.get(k)))))
        values = row["metrics"] if isinstance(row.get("metrics"), dict) else {
            k: v for k, v in row.items() if k not in _NOT_METRICS}
        for key, value in values.items():
            if key == "hpmax":
                continue
            if _number(value) and not math.isnan(value):
                series.setdefault(f"{prefix}-{key}", []).append((float(x), float(value)))
            else:
                series.setdefault(f"{prefix}-{key}", [])
    return {k: v for k, v in series.items() if v}, x_axis, [k for k in series if series[k]]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_curves(store, runs: list[dict]) -> list[RunCurves]:
    """Every run's curves as the store has them now (a running run's so far)."""
    out = []
    for r in runs:
        text = store.read_text(R.run_key(r["run"], "metrics.jsonl")) if hasattr(store, "read_text") else None
        series, x_axis, order = parse_metrics_jsonl(text or "")
        out.append(RunCurves(run=r["run"], job=r.get("job", ""), status=r.get("status", ""),
                             hparams=r.get("hparams") or {}, hpmax=r.get("hpmax"), series=series,
                             x_axis=x_axis, order=order))
    return out


def all_metrics(curves: list[RunCurves]) -> list[str]:
    names: list[str] = []
    for c in curves:
        for n in c.order:
            if n not in names:
                names.append(n)
    return names


def default_metric(curves: list[RunCurves]) -> str:
    """The objective of the last stage: the first metric the last reporting stage defined (hpmax's metric)."""
    names = all_metrics(curves)
    if not names:
        raise LauncherError("no run of these jobs has reported a metric yet",
                            hint="wait for the first report (iters_per_report), or check `launcher runs JOB`")
    last_stage = max(_stage(n) for n in names)
    return next(n for n in names if _stage(n) == last_stage)


def resolve_metric(name: str | None, curves: list[RunCurves]) -> str:
    if name is None:
        return default_metric(curves)
    names = all_metrics(curves)
    if name in names:
        return name
    bare = [n for n in names if n.partition("-")[2] == name]
    if bare:
        return max(bare, key=_stage)
    raise UsageError(f"no run of these jobs reports a metric {name!r}",
                     hint=did_you_mean(name, names + [n.partition("-")[2] for n in names])
                     or ("metrics: " + ", ".join(names) if names else "no metrics reported yet"))


def _stage(name: str) -> int:
    head = name.partition("-")[0][1:]
    return int(head) if head.isdigit() else 0


def x_label(metric: str, curves: list[RunCurves]) -> str:
    stage = metric.partition("-")[0]
    return next((c.x_axis[stage] for c in curves if stage in c.x_axis), "iters")


def group_key(c: RunCurves, group: str) -> str:
    if group == "run":
        return c.run
    if group == "job":
        return c.job
    name = group[3:]
    return f"{name}={_text(c.hparams.get(name))}"


def _text(v) -> str:
    from launcher.report.numbers import fmt

    return fmt(v) if v is not None else "n/a"


def check_group(group: str, curves: list[RunCurves]) -> None:
    if group in ("run", "job"):
        return
    if not group.startswith("hp:") or not group[3:]:
        raise UsageError(f"--group {group!r}: expected run, job or hp:NAME", hint="for example --group hp:lr")
    names = sorted({k for c in curves for k in c.hparams})
    if group[3:] not in names:
        raise UsageError(f"--group {group!r}: no run of these jobs has a hyperparameter {group[3:]!r}",
                         hint=did_you_mean(group[3:], names) or (f"hyperparameters: {', '.join(names)}" if names
                                                                 else "these runs have no hyperparameters"))


def lines(curves: list[RunCurves], metric: str, *, group: str = "run", aggregate: str = "mean",
          shadow: str = "std") -> list[Line]:
    """The plot's lines: one per run for --group run, else one aggregate per group (in first-seen order)."""
    if aggregate not in AGGREGATES:
        raise UsageError(f"--aggregate {aggregate!r}", hint=did_you_mean(aggregate, AGGREGATES) or
                         f"one of: {', '.join(AGGREGATES)}")
    if shadow not in SHADOWS:
        raise UsageError(f"--shadow {shadow!r}", hint=did_you_mean(shadow, SHADOWS) or f"one of: {', '.join(SHADOWS)}")
    check_group(group, curves)
    with_data = [c for c in curves if c.series.get(metric)]
    if group == "run":
        return [Line(c.run, [x for x, _ in c.series[metric]], [y for _, y in c.series[metric]]) for c in with_data]
    groups: dict[str, list[RunCurves]] = {}
    for c in with_data:
        groups.setdefault(group_key(c, group), []).append(c)
    if group.startswith("hp:"):  # lines in the order of the HP's values (numbers by size), not of first runs
        name = group[3:]
        values = {label: members[0].hparams.get(name) for label, members in groups.items()}
        numeric = all(_number(v) for v in values.values())
        groups = dict(sorted(groups.items(), key=lambda kv: values[kv[0]] if numeric else str(values[kv[0]])))
    return [aggregate_line(label, members, metric, aggregate, shadow) for label, members in groups.items()]


def aggregate_line(label: str, members: list[RunCurves], metric: str, aggregate: str, shadow: str) -> Line:
    at: dict[float, list[float]] = {}
    for c in members:
        for x, y in c.series[metric]:
            at.setdefault(x, []).append(y)
    xs = sorted(at)
    center = statistics.fmean if aggregate == "mean" else statistics.median
    ys = [center(at[x]) for x in xs]
    low = high = None
    if shadow == "std":
        spread = [statistics.pstdev(at[x]) if len(at[x]) > 1 else 0.0 for x in xs]
        low = [y - s for y, s in zip(ys, spread)]
        high = [y + s for y, s in zip(ys, spread)]
    elif shadow == "minmax":
        low, high = [min(at[x]) for x in xs], [max(at[x]) for x in xs]
    return Line(f"{label} ({aggregate} of {len(members)})", xs, ys, low, high, runs=len(members))


def hp_points(curves: list[RunCurves]) -> dict[str, list[tuple[object, float]]]:
    """hpmax against each hyperparameter: name -> [(value, hpmax)] over completed runs (the others have none)."""
    out: dict[str, list[tuple[object, float]]] = {}
    for c in curves:
        if c.status != R.COMPLETED or not _number(c.hpmax):
            continue
        for name, value in c.hparams.items():
            out.setdefault(name, []).append((value, float(c.hpmax)))
    return out
