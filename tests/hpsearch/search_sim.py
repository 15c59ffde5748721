"""A search driven through the real assignment step without run processes: each run's record is written as the
agent writes it (running, then completed with its hpmax), and its values come from pull_assignment() on a
real store. Runs finish in the order they started, `slots` at a time, like a full pool."""

from __future__ import annotations

import random

from launcher.hpsearch import synthetic as S
from launcher.hpsearch.assign import pull_assignment, read_state
from launcher.hpsearch.dgd import group_results
from launcher.hpsearch.estimate import best
from launcher.hpsearch.space import Dimension, SearchSpace
from launcher.jobs import records as R


def synthetic_space(method: str, seed: int) -> SearchSpace:
    return SearchSpace(method, seed, [Dimension(n, S.values(i), True) for i, n in enumerate(S.NAMES)])


def plan_for(job: str, space: SearchSpace, total: int) -> dict:
    return {"job": job, "workspace": "ws1", "search": space.to_dict(),
            "children": [{"name": f"run1.{i + 1}", "hparams": {}} for i in range(total)]}


def finish(store, run: str, hparams: dict, value: float | None, status: str = R.COMPLETED) -> None:
    rec = store.read_json(R.run_key(run))
    rec.update(status=status, hpmax=value, ended=R.now_iso())
    store.write_json(R.run_key(run), rec)


def drive(store, plan: dict, *, slots: int, value=lambda hp, k: S.noisy_value(hp, k)) -> list[dict]:
    """Run the plan's children through pull_assignment; returns the assignments in order."""
    running: list[tuple[str, dict]] = []
    for k, child in enumerate(plan["children"]):
        if len(running) == slots:
            run, hp = running.pop(0)
            finish(store, run, hp, value(hp, k))
        rec = R.new_run_record(run=child["name"], job=plan["job"], workspace="ws1", parent="run1", index=k + 1,
                               node="node0", hparams={}, seed=k)
        rec["status"] = R.RUNNING
        store.write_json(R.run_key(child["name"]), rec)
        running.append((child["name"], pull_assignment(store, plan, child["name"])))
    for k, (run, hp) in enumerate(running):
        finish(store, run, hp, value(hp, len(plan["children"]) + k))
    return sorted(read_state(store, plan["job"])["assignments"], key=lambda e: e["number"])


def regret_of(results: list[tuple[dict, float]]) -> float:
    """Optimum minus the true value of the configuration the search would pick (the best estimate)."""
    space = synthetic_space("dgd", 0)
    top = best(group_results(space, results))
    return S.PEAK - S.true_value(top[0].hparams)


def random_results(seed: int, total: int) -> list[tuple[dict, float]]:
    rng = random.Random(seed)
    out = []
    for k in range(total):
        hp = {n: rng.choice(S.values(i)) for i, n in enumerate(S.NAMES)}
        out.append((hp, S.noisy_value(hp, k)))
    return out
