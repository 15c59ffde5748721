"""A test stage that never ends, like a deadlocked data loader."""

from __future__ import annotations

import time

from launcher.runtime import Component


class Hang_Proc(Component):
    def execute(self) -> None:
        self.log("Hang_Proc: waiting forever")
        while True:
            time.sleep(0.05)
