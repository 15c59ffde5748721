"""The runtime: executes a resolved runspec locally, as rl_nexus's `python run.py spec.yaml` does.

Component authors import the small writing API from here:

    from launcher.runtime import Component, Metric

Everything else (executor, console, metrics, repro spec, summary) lives in the submodules and is imported
by the `run` and `smoke` commands only when they run, so the CLI starts fast.
"""

from __future__ import annotations

from launcher.runtime.component import Component, ComponentError, Settings
from launcher.runtime.metrics import Metric

__all__ = ["Component", "ComponentError", "Metric", "Settings"]
