"""Adaptive searches converge better than random on the synthetic objective (optimum known), through the real
assignment step on a real store; and every recorded decision replays from the recorded results."""

from __future__ import annotations

import statistics

import pytest
from search_sim import drive, plan_for, random_results, regret_of, synthetic_space

from launcher.hpsearch import synthetic as S
from launcher.hpsearch.assign import read_state, replay
from launcher.store.local import LocalStore


def search_regret(tmp_path, method: str, seed: int, total: int, slots: int) -> tuple[float, dict]:
    store = LocalStore(tmp_path / f"{method}{seed}")
    plan = plan_for(f"job{seed}", synthetic_space(method, seed), total)
    entries = drive(store, plan, slots=slots)
    # the results from the run records (the last runs ended after the last pull)
    results = [(e["hparams"], store.read_json(f"runs/{e['run']}/run.json")["hpmax"]) for e in entries]
    return regret_of(results), read_state(store, plan["job"])


def test_dgd_regret_is_under_half_of_random_with_runs_pulling_through_the_store(tmp_path):
    total, slots, seeds = 60, 4, range(6)
    dgd = [search_regret(tmp_path, "dgd", s, total, slots)[0] for s in seeds]
    rnd = [regret_of(random_results(s, total)) for s in seeds]
    assert statistics.median(dgd) <= 0.5 * statistics.median(rnd), (dgd, rnd)


def test_bayesian_regret_is_below_random(tmp_path):
    pytest.importorskip("optuna", reason="hp_tuning: bayesian needs the search extra (Optuna)")
    total, slots, seeds = 40, 4, range(3)
    bayes = [search_regret(tmp_path, "bayesian", s, total, slots)[0] for s in seeds]
    rnd = [regret_of(random_results(s, total)) for s in seeds]
    assert statistics.median(bayes) < statistics.median(rnd), (bayes, rnd)


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_a_search_replays_from_its_recorded_results_and_seed(tmp_path, method):
    if method == "bayesian":
        pytest.importorskip("optuna", reason="hp_tuning: bayesian needs the search extra (Optuna)")
    _, state = search_regret(tmp_path, method, 5, 24, 3)
    from launcher.hpsearch.assign import with_results

    store = LocalStore(tmp_path / f"{method}5")
    state = with_results(store, state)
    assert replay(state) == []
    # a different result makes the replay differ from what was recorded: the replay really recomputes
    first_done = next(e for e in state["assignments"] if e["result"])
    first_done["result"]["hpmax"] = S.PEAK + 50  # as if that run had been far better
    assert replay(state), "a changed result should change later decisions"
