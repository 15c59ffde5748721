"""A test stage whose metric is better when lower (hpmax is then negated) and that draws from self.rng."""

from __future__ import annotations

from launcher.runtime import Component, Metric


class Quiet_Proc(Component):
    SMOKE_SCALABLE = ("max_iterations", "iters_per_report")

    def execute(self) -> None:
        self.reporter.define(Metric("loss", "loss", "{:8.4f}", higher_is_better=False),
                             Metric("draw", "random draw"))
        step = self.settings["iters_per_report"]
        for it in range(step, self.settings["max_iterations"] + 1, step):
            self.reporter.report(it, {"loss": self.settings["loss_scale"] / it, "draw": self.rng.random()})
