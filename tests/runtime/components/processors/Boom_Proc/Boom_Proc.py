"""A test stage that reports a few times and then raises, like a buggy processor."""

from __future__ import annotations

from launcher.runtime import Component, Metric


class Boom_Proc(Component):
    SMOKE_SCALABLE = ("fail_at",)

    def execute(self) -> None:
        self.reporter.define(Metric("loss", "loss", higher_is_better=False))
        for it in range(self.settings["iters_per_report"], self.settings["max_iterations"] + 1,
                        self.settings["iters_per_report"]):
            if it > self.settings["fail_at"]:
                raise ValueError(f"boom at iteration {it}")
            self.reporter.report(it, {"loss": 1.0 / it})
