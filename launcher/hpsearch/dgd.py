"""Distributed Grid Descent: the next configuration from the results so far, with no central point of control.

The behaviour of XT's DGD (xtlib/hparams/hp_search_dgd.py in microsoft/ExperimentTools) and of Appendix B of
"Working Memory Graphs" (Loynd et al., arXiv 1911.07141), written anew:

- runs are grouped by configuration ("run sets"); with no result yet, a configuration is drawn at random;
- otherwise the best run set is taken, and its neighbourhood: itself and every configuration one step away in
  exactly one hyperparameter (the next lower or higher of its ordered values);
- each neighbour is weighted by how many runs it lacks to pass the best-sampled neighbour (ceiling = the most
  runs of any neighbour + 1, weight = ceiling - its runs), and one is drawn by weight.

Where this differs from XT, and why:
- the best run set is the one with the highest *estimated* value (estimate.py: means shrunk by how many runs
  back them), not the plain mean, so one lucky run of a noisy objective does not capture the search;
- runs that hold an assignment but have not finished count in the run sets' sizes, so runs starting at the same
  time spread over the neighbourhood instead of all drawing the same under-sampled neighbour;
- an unordered hyperparameter has no "next" value: every other value of it is a neighbour;
- values keep the order the runspec lists them in (XT sorts them), which is what ordered_tuning_values says.
"""

from __future__ import annotations

import random

from launcher.hpsearch.estimate import ConfigStats, best
from launcher.hpsearch.space import SearchSpace, config_key


def random_config(space: SearchSpace, rng: random.Random) -> dict:
    return {d.name: d.values[rng.randrange(len(d.values))] for d in space.dimensions}


def group_results(space: SearchSpace, results: list[tuple[dict, float]]) -> list[ConfigStats]:
    """Run sets in order of their first result; runs whose values are not in the space are left out."""
    groups: dict[str, ConfigStats] = {}
    for hparams, score in results:
        if space.indices(hparams) is None:
            continue
        hp = {n: hparams[n] for n in space.names}
        key = config_key(hp)
        groups.setdefault(key, ConfigStats(key, hp, [])).scores.append(float(score))
    return list(groups.values())


def neighbourhood(space: SearchSpace, centre: dict) -> list[dict]:
    """centre and every configuration one step from it in exactly one hyperparameter."""
    idx = space.indices(centre)
    out = [dict(centre)]
    for pos, d in enumerate(space.dimensions):
        here = idx[pos]
        steps = ([here - 1, here + 1] if d.ordered else [i for i in range(len(d.values)) if i != here])
        for i in steps:
            if 0 <= i < len(d.values):
                out.append(space.values_of(idx[:pos] + (i,) + idx[pos + 1:]))
    return out


def choose(space: SearchSpace, results: list[tuple[dict, float]], pending: list[dict],
           rng: random.Random, *, as_xt: bool = False) -> dict:
    """The next configuration: results are (hparams, hpmax) of completed runs, pending the hparams of runs
    that hold an assignment and have not finished. as_xt=True behaves as XT's DGD (the plain mean picks the
    best, pending runs are not counted), for the benchmark's comparison."""
    groups = group_results(space, results)
    if not groups:
        return random_config(space, rng)
    if as_xt:  # XT: the last of the run sets with the highest mean
        centre = max(reversed(groups), key=lambda g: g.mean).hparams
    else:
        centre = best(groups)[0].hparams
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.key] = g.runs
    for hp in ([] if as_xt else pending):
        if space.indices(hp) is not None:
            key = config_key({n: hp[n] for n in space.names})
            counts[key] = counts.get(key, 0) + 1
    hood = neighbourhood(space, centre)
    sizes = [counts.get(config_key(c), 0) for c in hood]
    ceiling = max(sizes) + 1
    weights = [ceiling - n for n in sizes]
    return dict(rng.choices(hood, weights=weights)[0])
