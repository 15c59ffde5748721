"""Job plans: names, the spread of children over nodes, HP assignment (random, grid), launcher settings."""

from __future__ import annotations

import itertools

import pytest

from launcher.diagnostics import LauncherError
from launcher.jobs.plan import JobPlan, assign_hparams, build_plan, grid_points, launcher_settings, run_seed
from launcher.runspec.resolve import HyperParameter


def hp(name, values, tuned=None):
    return HyperParameter(name=name, values=list(values), ordered=True, tuned_value=tuned, path=())


def settings(**kw):
    base = {"enabled": True, "hp_tuning": False, "total_runs": 20, "compute_nodes": 5, "runs_per_node": 4,
            "compute_target": "local"}
    base.update(kw)
    return base


def test_children_spread_round_robin_over_parents_with_xt_names():
    plan = build_plan(job="job7", workspace="ws1", target="local", backend="local", settings=settings(),
                      parents=["run41", "run42", "run43", "run44", "run45"])
    names = [c.name for c in plan.children]
    assert len(names) == 20 and len(set(names)) == 20
    assert names[:6] == ["run41.1", "run42.1", "run43.1", "run44.1", "run45.1", "run41.2"]
    assert [c.name for c in plan.children_of("run43")] == ["run43.1", "run43.2", "run43.3", "run43.4"]
    assert [c.index for c in plan.children] == list(range(1, 21))
    assert plan.slots == 20


def test_uneven_total_runs_give_the_first_parents_one_more():
    plan = build_plan(job="job1", workspace="ws1", target="local", backend="local",
                      settings=settings(total_runs=7, compute_nodes=3), parents=["run1", "run2", "run3"])
    assert [len(plan.children_of(p)) for p in plan.parents] == [3, 2, 2]


def test_plan_round_trips_through_json():
    plan = build_plan(job="job1", workspace="ws1", target="local", backend="local",
                      settings=settings(total_runs=3, compute_nodes=1, hp_tuning="random"), parents=["run9"],
                      hyperparameters=[hp("lr", [0.1, 0.2])])
    import json

    again = type(plan).from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan


def test_grid_is_the_cartesian_product_in_declared_order_and_cycles():
    hps = [hp("lr", [0.05, 0.2]), hp("eps", [0.05, 0.1, 0.2])]
    points = grid_points(hps)
    assert points == [{"lr": a, "eps": b} for a, b in itertools.product([0.05, 0.2], [0.05, 0.1, 0.2])]
    assigned, notes = assign_hparams(hps, "grid", seeds=list(range(8)))
    assert assigned[:6] == points and assigned[6:] == points[:2]
    assert "cycled" in notes[0]
    exact, notes = assign_hparams(hps, "grid", seeds=list(range(6)))
    assert exact == points and notes == []


def test_random_draws_every_hp_from_its_values_reproducibly_per_seed():
    hps = [hp("lr", [1e-4, 1e-3, 1e-2]), hp("units", [64, 128, 256, 512])]
    seeds = [run_seed("job3", f"run5.{i}") for i in range(1, 41)]
    first, _ = assign_hparams(hps, "random", seeds)
    again, _ = assign_hparams(hps, "random", seeds)
    assert first == again  # the recorded seed reproduces the draw
    assert all(a["lr"] in hps[0].values and a["units"] in hps[1].values for a in first)
    assert len({(a["lr"], a["units"]) for a in first}) > 3  # runs differ


def test_no_tuning_gives_every_run_the_tuned_values():
    assigned, _ = assign_hparams([hp("lr", [0.1, 0.2], tuned=0.2)], False, seeds=[1, 2])
    assert assigned == [{"lr": 0.2}, {"lr": 0.2}]


def test_run_seeds_differ_between_runs_and_jobs():
    assert run_seed("job1", "run1.1") != run_seed("job1", "run1.2")
    assert run_seed("job1", "run1.1") != run_seed("job2", "run1.1")
    assert run_seed("job1", "run1.1") == run_seed("job1", "run1.1")


@pytest.mark.parametrize("tuning", ["dgd", "bayesian"])
def test_adaptive_search_plans_runs_without_values_and_records_the_space_and_seed(tuning):
    settings = launcher_settings({"job_launcher": {"enabled": True, "hp_tuning": tuning, "total_runs": 3}})
    hps = [HyperParameter("lr", [0.1, 0.2, 0.4], True, 0.2, ()), HyperParameter("opt", ["a", "b"], False, "a", ())]
    plan = build_plan(job="job1", workspace="ws1", target="local", backend="local", settings=settings,
                      parents=["run1"], hyperparameters=hps)
    assert [c.hparams for c in plan.children] == [{}, {}, {}]  # pulled when each run starts
    assert plan.search == {"method": tuning, "seed": run_seed("job1", "search"),
                           "dimensions": [{"name": "lr", "values": [0.1, 0.2, 0.4], "ordered": True},
                                          {"name": "opt", "values": ["a", "b"], "ordered": False}]}
    assert JobPlan.from_dict(plan.to_dict()).search == plan.search


def test_unknown_search_method_is_refused():
    with pytest.raises(LauncherError, match="random, grid, dgd, bayesian or false"):
        launcher_settings({"job_launcher": {"enabled": True, "hp_tuning": "hyperband"}})


@pytest.mark.parametrize("key,value", [("total_runs", 0), ("compute_nodes", "2"), ("runs_per_node", True),
                                       ("total_runs", 10001)])
def test_bad_counts_are_refused(key, value):
    with pytest.raises(LauncherError, match=key):
        launcher_settings({"job_launcher": {"enabled": True, key: value}})


def test_launcher_settings_normalise_false_tuning():
    s = launcher_settings({"job_launcher": {"enabled": 1, "hp_tuning": 0, "total_runs": 3}})
    assert s["hp_tuning"] is False and s["enabled"] is True and s["total_runs"] == 3
