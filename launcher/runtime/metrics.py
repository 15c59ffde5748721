"""Metrics: declared by a stage, reported every iters_per_report, condensed into a stage objective.

As in rl_nexus (utils/metric.py): the first metric a stage declares is its objective; its lifetime value
(the mean over all reports, or max/min) is the stage summary; hpmax is the last executed stage's objective,
negated where lower is better. A report prints one console line, appends one line to metrics.jsonl and,
when enabled, one TensorBoard scalar per metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from launcher.runtime.context import RunContext

AGGREGATES = ("mean", "max", "min")


@dataclass(frozen=True)
class Metric:
    short_name: str  # "rew": the column name in report lines and metrics.jsonl
    long_name: str  # "reward per step": used in "Stage summary (mean reward per step)"
    fmt: str = "{:7.5f}"  # how one value prints in a report line (rl_nexus: "      0.00200 rew")
    higher_is_better: bool = True
    aggregate: str = "mean"  # how reports condense into the stage's lifetime value

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"Metric {self.short_name}: aggregate must be one of {AGGREGATES}")

    def to_dict(self) -> dict[str, Any]:
        return {"short_name": self.short_name, "long_name": self.long_name,
                "higher_is_better": self.higher_is_better, "aggregate": self.aggregate}


@dataclass
class _Series:
    metric: Metric
    total: float = 0.0
    weight: float = 0.0
    best: float | None = None
    last: float | None = None

    def add(self, value: float, weight: float) -> None:
        self.last = value
        if math.isnan(value):  # a period without data (no episode ended): shown, not averaged
            return
        self.total += value * weight
        self.weight += weight
        if self.best is None:
            self.best = value
        elif self.metric.aggregate == "max":
            self.best = max(self.best, value)
        elif self.metric.aggregate == "min":
            self.best = min(self.best, value)

    @property
    def lifetime(self) -> float | None:
        if self.metric.aggregate == "mean":
            return self.total / self.weight if self.weight else None
        return self.best


@dataclass
class Reporter:
    """One per executed stage. Components call define() once, then report() every iters_per_report."""

    run: RunContext
    stage: int  # 1-based
    component: str
    x_axis: str = "iters"
    metrics: list[Metric] = field(default_factory=list)
    reports: int = 0
    last_x: int | None = None
    _series: dict[str, _Series] = field(default_factory=dict)

    def define(self, *metrics: Metric, x_axis: str = "iters") -> None:
        """Declare the stage's metrics; the first is the stage objective (and hpmax for the last stage)."""
        self.x_axis = x_axis
        self.metrics = list(metrics)
        self._series = {m.short_name: _Series(m) for m in metrics}

    def report(self, x: int, values: Mapping[str, float], *, weight: float = 1.0, saved: bool = False) -> None:
        """Record one period: `values` maps each declared short name to the period's aggregate."""
        unknown = [k for k in values if k not in self._series]
        if unknown:
            raise KeyError(f"report(): metric(s) {unknown} were not declared with reporter.define()")
        hours = self.run.elapsed_hours()
        parts = [f"{hours:7.3f} hrs  {x:12,d} {self.x_axis}"]
        clean: dict[str, float | None] = {}
        for m in self.metrics:
            v = float(values.get(m.short_name, math.nan))
            self._series[m.short_name].add(v, weight)
            text = m.fmt.format(v) if not math.isnan(v) else "n/a".rjust(len(m.fmt.format(0.0)))
            parts.append("      " + text + " " + m.short_name)
            clean[m.short_name] = None if math.isnan(v) else v
        if saved:
            parts.append("    SAVED")
        self.reports += 1
        self.last_x = x
        self.run.console.line("".join(parts))
        self.run.record_report(self, x, hours, clean)

    # -- read by the root after the stage ----------------------------------------------------------------
    @property
    def objective(self) -> Metric | None:
        return self.metrics[0] if self.metrics else None

    def lifetime(self, short_name: str) -> float | None:
        s = self._series.get(short_name)
        return s.lifetime if s else None

    def last_values(self) -> dict[str, float | None]:
        # NaN (a period without data) becomes None: summary.json stays valid JSON.
        return {k: (None if s.last is None or math.isnan(s.last) else s.last) for k, s in self._series.items()}
