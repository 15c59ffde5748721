"""Lint of adaptive searches: dgd and bayesian run now (no 'not run yet' warning), and what a method cannot use
gets a diagnostic at the hyperparameter: a single value (nothing to search), unordered values under DGD."""

from __future__ import annotations

import json

import pytest

SPEC = """\
component: root/Root_Component
experiment_path: ../results/s
job_launcher:
  component: job_launchers/XT
  enabled: 1
  hp_tuning: {method}
  total_runs: 4
  compute_nodes: 1
  runs_per_node: 4
  compute_target: local
hyperparameters:
{hps}
forward_definitions:
  - environment: &env
      component: environments/Maze_Env
      agent_placement_seed: randint
processing_stages:
  - processing_stage:
      component: processors/RL_Proc
      environment: *env
      learning_rate: *lr
      discount_factor: *disc
      max_iterations: 1000
      iters_per_report: 100
"""
LR = "  - name: &lr\n      ordered_tuning_values: [0.05, 0.1, 0.2]\n      tuned_value: 0.1\n"
DISC_ORDERED = "  - name: &disc\n      ordered_tuning_values: [0.9, 0.95]\n      tuned_value: 0.95\n"
DISC_UNORDERED = "  - name: &disc\n      unordered_tuning_values: [0.9, 0.95]\n      tuned_value: 0.95\n"
DISC_SINGLE = "  - name: &disc\n      ordered_tuning_values: [0.95]\n      tuned_value: 0.95\n"
LR_SINGLE = "  - name: &lr\n      ordered_tuning_values: [0.1]\n      tuned_value: 0.1\n"


def lint(run_cli, tmp_path, method: str, hps: str):
    path = tmp_path / "s.yaml"
    path.write_text(SPEC.format(method=method, hps=hps), encoding="utf-8")
    code, out, err = run_cli("lint", "--format", "json", path, cwd=tmp_path)
    assert "Traceback" not in err
    return code, [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] in ("LR043", "LR044")]


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_an_ordered_search_lints_clean(run_cli, tmp_path, method):
    assert lint(run_cli, tmp_path, method, LR + DISC_ORDERED) == (0, [])


def test_unordered_values_under_dgd_are_flagged_at_the_hyperparameter(run_cli, tmp_path):
    code, diags = lint(run_cli, tmp_path, "dgd", LR + DISC_UNORDERED)
    assert code == 0 and [(d["code"], d["line"]) for d in diags] == [("LR044", 15)]
    assert "'disc' has unordered values" in diags[0]["message"] and "ordered_tuning_values" in diags[0]["hint"]
    assert lint(run_cli, tmp_path, "bayesian", LR + DISC_UNORDERED) == (0, [])  # TPE models them as categories


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_a_single_value_is_flagged_and_a_search_with_nothing_to_search_too(run_cli, tmp_path, method):
    code, diags = lint(run_cli, tmp_path, method, LR + DISC_SINGLE)
    assert code == 0 and [(d["code"], d["line"]) for d in diags] == [("LR043", 15)]
    assert "'disc' has a single value" in diags[0]["message"]
    code, diags = lint(run_cli, tmp_path, method, LR_SINGLE + DISC_SINGLE)
    assert [(d["code"], d["line"]) for d in diags] == [("LR043", 6)]
    assert "nothing to search" in diags[0]["message"]
