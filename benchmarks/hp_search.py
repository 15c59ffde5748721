"""Search quality: the regret of random, dgd and bayesian on a synthetic objective whose optimum is known.

    python benchmarks/hp_search.py [--runs 200] [--seeds 10] [--slots 16] [--noise 1.0] [--methods …]

The objective (launcher/hpsearch/synthetic.py) has 8 ordered hyperparameters of 4 to 10 values (rl_nexus
tutorial 5's shape), interactions and noise. Each search gets `runs` runs, `slots` at a time (4 nodes x 4 slots):
a run's values are chosen when it starts, knowing the results of the runs that finished, with the others
pending, exactly as the assignment step hands them to the search (launcher/hpsearch/assign.py choose()). Regret
= optimum minus the true (noise-free) value of the configuration the search ends up calling best (the highest
estimated hpmax, the same rule for every method). Printed: each method's median regret over the seeds, next to
random's and XT's DGD (dgd-xt) in the same run. Goal: dgd and bayesian each at most half of random's median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launcher.hpsearch import synthetic as S  # noqa: E402
from launcher.hpsearch.assign import choose, decision_rng  # noqa: E402
from launcher.hpsearch.dgd import choose as dgd_choose  # noqa: E402
from launcher.hpsearch.dgd import group_results, random_config  # noqa: E402
from launcher.hpsearch.estimate import best  # noqa: E402
from launcher.hpsearch.space import Dimension, SearchSpace  # noqa: E402


def search(method: str, seed: int, runs: int, slots: int, noise: float = S.NOISE) -> float:
    space = SearchSpace("dgd" if method == "dgd-xt" else method, seed, [Dimension(n, S.values(i), True) for i, n in enumerate(S.NAMES)])
    rng = random.Random(seed)
    assigned: list[dict] = []
    results: list[tuple[dict, float]] = []

    def complete_next() -> None:
        hp = assigned[len(results)]
        results.append((hp, S.noisy_value(hp, seed * 1_000_003 + len(results), noise)))

    for k in range(runs):
        while len(results) < k - slots + 1:  # a slot frees up when the oldest running run ends
            complete_next()
        if method == "random":
            hp = random_config(space, rng)
        elif method == "dgd-xt":  # XT's DGD: plain means, pending runs not counted
            hp = dgd_choose(space, results, assigned[len(results):], decision_rng(space, k), as_xt=True)
        else:
            hp = choose(space, results, assigned[len(results):], decision_rng(space, k))
        assigned.append(hp)
    while len(results) < len(assigned):
        complete_next()
    top = best(group_results(space, results))
    return S.PEAK - S.true_value(top[0].hparams)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--noise", type=float, default=S.NOISE, help="sd of the noise on every run")
    parser.add_argument("--methods", default="random,dgd-xt,dgd,bayesian",
                        help="dgd-xt: DGD as XT runs it (plain means, pending runs not counted)")
    args = parser.parse_args()
    methods = args.methods.split(",")
    if "random" not in methods:
        methods.insert(0, "random")
    print(f"synthetic objective: 8 hyperparameters {S.SIZES}, optimum {S.PEAK}, noise sd {args.noise}; "
          f"{args.runs} runs per search, {args.slots} at a time, {args.seeds} seeds")
    medians = {}
    for method in methods:
        start = time.perf_counter()
        regrets = [search(method, seed, args.runs, args.slots, args.noise) for seed in range(args.seeds)]
        medians[method] = statistics.median(regrets)
        secs = time.perf_counter() - start
        print(f"  {method:9s} median regret {medians[method]:7.2f}   (seeds: "
              + " ".join(f"{r:.1f}" for r in regrets) + f")   {secs / (args.runs * args.seeds) * 1000:.1f} ms/run")
    base = medians["random"]
    ok = True
    for method in methods:
        if method in ("random", "dgd-xt"):
            continue
        ratio = medians[method] / base if base else float("inf")
        goal = ratio <= 0.5
        ok &= goal
        print(f"  {method} / random median regret: {ratio:.2f}  (goal <= 0.50: {'met' if goal else 'NOT met'})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
