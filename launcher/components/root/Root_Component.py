"""The root component: runs the enabled processing stages in order, as rl_nexus's Root_Component does."""

from __future__ import annotations

from launcher.runtime import Component


class Root_Component(Component):
    def execute(self) -> None:
        # The stage loop (console lines, per-stage reporters, failure capture) is runtime machinery shared
        # with every run, so it lives in the runtime; the root only hands over its stages.
        self._run.run_processing_stages(self.settings["processing_stages"])
