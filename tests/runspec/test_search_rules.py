"""Lint of adaptive searches: dgd and bayesian run now (no 'not run yet' warning), and what a method cannot use
gets a diagnostic at the hyperparameter: a single value (nothing to search), unordered values under DGD."""

from __future__ import annotations

import json

import pytest

from tests.projects import tiny_runspec

LR = "  - name: &lr\n      ordered_tuning_values: [0.05, 0.1, 0.2]\n      tuned_value: 0.1\n"
DISC_ORDERED = "  - name: &disc\n      ordered_tuning_values: [0.9, 0.95]\n      tuned_value: 0.95\n"
DISC_UNORDERED = "  - name: &disc\n      unordered_tuning_values: [0.9, 0.95]\n      tuned_value: 0.95\n"
DISC_SINGLE = "  - name: &disc\n      ordered_tuning_values: [0.95]\n      tuned_value: 0.95\n"
LR_SINGLE = "  - name: &lr\n      ordered_tuning_values: [0.1]\n      tuned_value: 0.1\n"


def spec(method: str, hps: str) -> str:
    return tiny_runspec(description=None, hp_tuning=method, total_runs=4, per_node=4, experiment="s",
                        hyperparameters="hyperparameters:\n" + hps,
                        stage_extra="      learning_rate: *lr\n      discount_factor: *disc\n")


def line_of(text: str, start: str) -> int:
    """The number of the first line of text that starts with `start`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def lint(run_cli, tmp_path, method: str, hps: str):
    path = tmp_path / "s.yaml"
    path.write_text(spec(method, hps), encoding="utf-8")
    code, out, err = run_cli("lint", "--format", "json", path, cwd=tmp_path)
    assert "Traceback" not in err
    return code, [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] in ("LR043", "LR044")]


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_an_ordered_search_lints_clean(run_cli, tmp_path, method):
    assert lint(run_cli, tmp_path, method, LR + DISC_ORDERED) == (0, [])


def test_unordered_values_under_dgd_are_flagged_at_the_hyperparameter(run_cli, tmp_path):
    code, diags = lint(run_cli, tmp_path, "dgd", LR + DISC_UNORDERED)
    disc = line_of(spec("dgd", LR + DISC_UNORDERED), "  - name: &disc")
    assert code == 0 and [(d["code"], d["line"]) for d in diags] == [("LR044", disc)]
    assert "'disc' has unordered values" in diags[0]["message"] and "ordered_tuning_values" in diags[0]["hint"]
    assert lint(run_cli, tmp_path, "bayesian", LR + DISC_UNORDERED) == (0, [])  # TPE models them as categories


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_a_single_value_is_flagged_and_a_search_with_nothing_to_search_too(run_cli, tmp_path, method):
    code, diags = lint(run_cli, tmp_path, method, LR + DISC_SINGLE)
    disc = line_of(spec(method, LR + DISC_SINGLE), "  - name: &disc")
    assert code == 0 and [(d["code"], d["line"]) for d in diags] == [("LR043", disc)]
    assert "'disc' has a single value" in diags[0]["message"]
    code, diags = lint(run_cli, tmp_path, method, LR_SINGLE + DISC_SINGLE)
    assert [(d["code"], d["line"]) for d in diags] == [("LR043", line_of(spec(method, LR), "  hp_tuning:"))]
    assert "nothing to search" in diags[0]["message"]
