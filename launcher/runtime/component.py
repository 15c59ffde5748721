"""The component-writing API: a component is a class built from its resolved settings.

`<root>/<category>/<Name>/<Name>.py` defines `class <Name>(Component)`. The runtime builds it with its
settings (every default filled in by the resolver) and gives it, through properties, the run's reporter,
output folder and random generator. Processing stages implement `execute()`; sub-components are created
with `self.create("environment")`, exactly as the root creates stages. See docs/runtime.md.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.diagnostics import LauncherError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from launcher.runtime.context import RunContext
    from launcher.runtime.metrics import Reporter


class ComponentError(LauncherError):
    """A problem a component reports about its own settings or inputs: shown without a traceback."""


class Settings(Mapping):
    """A component's resolved settings, read-only; a missing key names the component and the near misses."""

    def __init__(self, component: str, data: Mapping[str, Any]) -> None:
        self._component = component
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            hint = did_you_mean(key, self._data) or f"its settings are: {', '.join(self._data)}"
            raise ComponentError(f"{self._component} has no setting '{key}'", hint=hint) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Settings({self._component}, {self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)


class Component:
    """Base class of every component. Override `setup()` to prepare and `execute()` to run as a stage."""

    #: Integer settings that `launcher smoke` may shrink, scaled with the stage's max_iterations (it reads
    #: this tuple from the source without importing the module, so keep it a literal tuple of strings).
    SMOKE_SCALABLE: tuple[str, ...] = ()

    def __init__(self, settings: Settings, run: RunContext, spec_path: str) -> None:
        self.settings = settings
        self.spec_path = spec_path  # "$.processing_stages[0].processing_stage": where it sits in the spec
        self._run = run
        self._rng: random.Random | None = None
        self.setup()

    # -- to override ----------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Called once after construction: read settings, create sub-components."""

    def execute(self) -> None:
        """Run as a processing stage; report metrics through `self.reporter`."""
        raise ComponentError(f"{self.component} cannot run as a processing stage: it has no execute() method")

    # -- the API ------------------------------------------------------------------------------------------
    @property
    def component(self) -> str:
        """'category/Name', as written in the runspec."""
        return str(self.settings.get("component", type(self).__name__))

    @property
    def name(self) -> str:
        return self.component.rsplit("/", 1)[-1]

    @property
    def reporter(self) -> Reporter:
        """The current stage's reporter: declare metrics, then report them every iters_per_report."""
        return self._run.reporter

    @property
    def output_dir(self) -> Path:
        """The run's experiment_path (created). Relative paths in settings are relative to the current folder."""
        return self._run.output_dir

    @property
    def rng(self) -> random.Random:
        """This component's generator, derived from the run's random_seed and its place in the spec, so a
        repro_spec.yaml (which records random_seed) replays every draw."""
        if self._rng is None:
            self._rng = random.Random(f"{self._run.run_seed}:{self.spec_path}")
        return self._rng

    def log(self, text: str) -> None:
        """One line on the console (stdout and console.txt)."""
        self._run.console.line(text)

    def create(self, key: str) -> Component | None:
        """Build the sub-component held by setting `key`; None when it is null or not enabled."""
        return self._run.create(self.settings[key], f"{self.spec_path}.{key}")
