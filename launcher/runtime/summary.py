"""The result of one run: what summary.json holds and what `launcher run --format json` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COMPLETED = "completed"
FAILED = "failed"
NOT_ENABLED = "not enabled"
NOT_RUN = "not run"  # after an earlier stage failed


@dataclass
class StageSummary:
    index: int  # 1-based, as printed ("Processing stage 2 of 4")
    component: str  # "processors/RL_Proc"
    enabled: bool
    status: str = NOT_RUN
    reports: int = 0
    last_iteration: int | None = None
    objective: dict[str, Any] | None = None  # metric description + "value" (the stage summary)
    last_metrics: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def name(self) -> str:
        return self.component.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


@dataclass
class RunError:
    message: str
    stage: int | None = None  # 1-based stage index, None when it happened outside a stage
    type: str = ""  # exception class name, "" for launcher errors
    location: str = ""  # "file.py:12 in execute" of the innermost component frame
    hint: str = ""
    traceback: str = ""  # full text; shown only with --verbose

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunSummary:
    runspec: str
    experiment_path: str
    status: str = COMPLETED
    hpmax: float | None = None
    hp_search: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)  # "$.path" -> drawn randint value
    seed: int | None = None  # the resolver's run seed (randint draws)
    random_seed: int | None = None  # the seed of the components' generators (in repro_spec.yaml)
    stages: list[StageSummary] = field(default_factory=list)
    seconds: float = 0.0
    tensorboard: str = ""  # "written", "off", or why it was skipped
    error: RunError | None = None

    @property
    def ok(self) -> bool:
        return self.status == COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {
            "runspec": self.runspec,
            "experiment_path": self.experiment_path,
            "status": self.status,
            "hpmax": self.hpmax,
            "hp_search": self.hp_search,
            "hparams": self.hparams,
            "seeds": self.seeds,
            "seed": self.seed,
            "random_seed": self.random_seed,
            "stages": [s.to_dict() for s in self.stages],
            "seconds": round(self.seconds, 3),
            "tensorboard": self.tensorboard,
            "error": self.error.to_dict() if self.error else None,
        }
