"""The search space of an adaptive search, as recorded in plan.json (`search`), and configuration keys."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Dimension:
    name: str
    values: list
    ordered: bool = True


@dataclass
class SearchSpace:
    method: str  # dgd | bayesian
    seed: int  # the search's recorded seed: with the recorded results, every choice can be replayed
    dimensions: list[Dimension] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        return cls(method=data["method"], seed=int(data["seed"]),
                   dimensions=[Dimension(**d) for d in data.get("dimensions", [])])

    @classmethod
    def from_hyperparameters(cls, method: str, seed: int, hyperparameters) -> "SearchSpace":
        return cls(method=method, seed=seed,
                   dimensions=[Dimension(h.name, list(h.values), bool(h.ordered)) for h in hyperparameters])

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def indices(self, hparams: dict) -> tuple[int, ...] | None:
        """The configuration as one value index per dimension; None when a value is not in the space (a run
        recorded before the runspec changed)."""
        out = []
        for d in self.dimensions:
            if d.name not in hparams:
                return None
            try:
                out.append(d.values.index(hparams[d.name]))
            except ValueError:
                return None
        return tuple(out)

    def values_of(self, idx: tuple[int, ...]) -> dict:
        return {d.name: d.values[i] for d, i in zip(self.dimensions, idx)}


def config_key(hparams: dict) -> str:
    """A stable text key of a configuration (for grouping runs and for JSON)."""
    return json.dumps(hparams, sort_keys=True, default=str)
