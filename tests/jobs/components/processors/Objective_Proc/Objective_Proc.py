"""A test stage whose objective is a known function of its settings: 100 minus the steps from (6, 2, 5, 3).

No noise, no training: a run takes as long as the launcher's own start-up, so a search of tens of runs is cheap,
and its best reachable value (100) is known."""

from __future__ import annotations

from launcher.runtime import Component, Metric

OPTIMUM = {"a": 6, "b": 2, "c": 5, "d": 3}


def objective(settings) -> float:
    return 100.0 - sum(abs(int(settings[k]) - v) for k, v in OPTIMUM.items())


class Objective_Proc(Component):
    def execute(self) -> None:
        self.reporter.define(Metric("score", "objective"))
        self.reporter.report(1, {"score": objective(self.settings)})
