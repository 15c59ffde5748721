"""--set overrides written into the launched runspec's text (comments and anchors kept)."""

from __future__ import annotations

from launcher.launch import apply_overrides_text

SPEC = """\
component: root/Root_Component  # top
hyperparameters:
  - name: &lr
      ordered_tuning_values: [0.1, 0.2]
      tuned_value: 0.2
string_replacements:
  # the environment
  <environment>: Maze_Env
  <experiment_path>: ../results/x
processing_stages: []
"""


def test_existing_key_is_replaced_in_place():
    out = apply_overrides_text(SPEC, {"<environment>": "Taxi_Env"})
    assert '  <environment>: "Taxi_Env"  # --set\n' in out
    assert "Maze_Env" not in out
    assert out.count("\n") == SPEC.count("\n")  # line numbers of everything else unchanged
    assert "&lr" in out and "# top" in out


def test_new_key_goes_into_the_section_and_numbers_stay_numbers():
    out = apply_overrides_text(SPEC, {"<horizon>": "300"})
    assert "string_replacements:\n  <horizon>: 300  # --set\n  # the environment" in out


def test_section_is_added_when_missing():
    out = apply_overrides_text("component: root/Root_Component\n", {"<x>": "a b"})
    assert out.endswith('string_replacements:  # added by launcher launch --set\n  <x>: "a b"  # --set\n')


def test_flow_style_section_is_left_alone():
    assert apply_overrides_text("string_replacements: {<x>: 1}\n", {"<x>": "2"}) is None


def test_no_overrides_is_the_text_itself():
    assert apply_overrides_text(SPEC, {}) == SPEC
