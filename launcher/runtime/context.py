"""What a component and its stage reporter may use of the run they are part of: the lowest layer of the runtime.

component.py and metrics.py depend on this interface only; executor.py implements it (LocalRun) and imports
them. So the package reads top-down, executor -> component, metrics, loader -> context, with no import circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

# No import of the modules above this one, not even for annotations: they name Console, Reporter, Component.


class RunContext(Protocol):
    console: Any  # runtime.console.Console
    output_dir: Path
    run_seed: int
    reporter: Any  # runtime.metrics.Reporter of the running stage, or None

    def elapsed_hours(self) -> float:
        """Hours since the run started (the first column of a report line)."""

    def create(self, spec: Any, spec_path: str) -> Any:
        """Build the sub-component held by a setting (None when null or not enabled)."""

    def record_report(self, reporter: Any, x: int, hours: float, values: dict[str, float | None]) -> None:
        """Write one report to metrics.jsonl (and TensorBoard)."""
