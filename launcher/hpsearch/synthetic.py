"""A synthetic search objective whose optimum is known: for benchmarks/hp_search.py and the search tests.

Eight ordered hyperparameters of 4 to 10 values (the shape of rl_nexus tutorial 5's search), a smooth bowl per
hyperparameter, pairwise interactions (a valley that is not aligned with the axes: one value's best depends on
another's), and Gaussian noise on every run. The true value of the optimum is 100; `true_value` has no noise.
"""

from __future__ import annotations

import random

SIZES = (7, 4, 6, 10, 5, 6, 5, 6)
NAMES = ("seqlen", "disc", "clip", "lr", "rscale", "embed", "units", "out")
OPTIMUM = (4, 1, 3, 6, 2, 4, 3, 1)  # value indices of the best configuration
WEIGHTS = (6.0, 4.0, 3.0, 10.0, 3.0, 2.0, 2.0, 1.5)
INTERACTIONS = ((0, 3, 6.0), (1, 2, 3.0), (4, 5, 2.0))  # (i, j, weight): penalise (d_i - d_j)^2
PEAK = 100.0
NOISE = 1.0


def values(i: int) -> list:
    """The values of hyperparameter i: 1, 2, … (any ordered labels would do)."""
    return list(range(1, SIZES[i] + 1))


def _offsets(config: dict) -> list[float]:
    return [(values(i).index(config[n]) - OPTIMUM[i]) / (SIZES[i] - 1) for i, n in enumerate(NAMES)]


def true_value(config: dict) -> float:
    d = _offsets(config)
    penalty = sum(w * x * x for w, x in zip(WEIGHTS, d))
    penalty += sum(w * (d[i] - d[j]) ** 2 for i, j, w in INTERACTIONS)
    return PEAK - 10.0 * penalty


def noisy_value(config: dict, seed: int, noise: float = NOISE) -> float:
    return true_value(config) + random.Random(seed).gauss(0.0, noise)


def optimum() -> dict:
    return {n: values(i)[OPTIMUM[i]] for i, n in enumerate(NAMES)}
