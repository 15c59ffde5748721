"""Bayesian optimisation with Optuna's TPE sampler, asked afresh at every assignment.

Optuna's storage is not shared between the runs: each pull builds an in-memory study from the search's own
records (the completed runs' values and the still-running runs' assignments, as search.jsonl holds them), asks
it for one trial and throws it away. The run records are already the results' single source of truth, written
atomically per run, and the assignment step is already one atomic append to search.jsonl; a journal of Optuna's
kept beside them would be a second copy of the same facts that could disagree, and would need its own
compare-and-swap appends on Blob storage. Rebuilding costs a few milliseconds per hundred trials.

Ordered hyperparameters are integer dimensions over their value indices (TPE's Parzen estimators then treat
neighbouring values as alike); unordered ones are categorical. Running trials are told to TPE with
constant_liar, so runs that start together do not all get the same suggestion. The sampler's seed is drawn
from the decision's recorded seed, so a replay asks the same question and gets the same answer.
"""

from __future__ import annotations

import random
import warnings

from launcher.diagnostics import LauncherError
from launcher.hpsearch.space import SearchSpace

N_STARTUP_TRIALS = 10  # random configurations before TPE takes over (Optuna's default)


def _optuna():
    try:
        import optuna
    except ModuleNotFoundError:
        # The message alone reaches a run's record (its `error`), so it says how to fix it too.
        raise LauncherError("hp_tuning: bayesian needs Optuna, which is not installed here: install the search "
                            "extra (pip install 'runspec-launcher[search]'; on Azure, in the target's setup)",
                            hint="or use hp_tuning: dgd, which needs nothing extra") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def choose(space: SearchSpace, results: list[tuple[dict, float]], pending: list[dict],
           rng: random.Random) -> dict:
    optuna = _optuna()
    from optuna.distributions import CategoricalDistribution, IntDistribution
    from optuna.trial import TrialState, create_trial

    dists = {d.name: (IntDistribution(0, len(d.values) - 1) if d.ordered
                      else CategoricalDistribution(list(range(len(d.values))))) for d in space.dimensions}

    def params(hp: dict):
        idx = space.indices(hp)
        return None if idx is None else dict(zip(space.names, idx))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant_liar is flagged experimental
        sampler = optuna.samplers.TPESampler(seed=rng.randrange(2 ** 31), constant_liar=True,
                                             n_startup_trials=N_STARTUP_TRIALS)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        trials = []
        for hp, score in results:
            p = params(hp)
            if p is not None:
                trials.append(create_trial(params=p, distributions=dists, value=float(score)))
        for hp in pending:
            p = params(hp)
            if p is not None:
                trials.append(create_trial(params=p, distributions=dists, state=TrialState.RUNNING))
        study.add_trials(trials)
        trial = study.ask(dists)
    return {d.name: d.values[trial.params[d.name]] for d in space.dimensions}
