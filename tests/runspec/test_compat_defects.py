"""The compat defects found by running rl_nexus's own loader (hp_handler.preprocess + oyaml + expand_dict +
SpecTree, public fork hoangminhle/Off-Policy) on more runspecs: each is judged here as that code judges it."""

from __future__ import annotations

import json

import pytest

from launcher.diagnostics import LauncherError
from launcher.runspec.api import resolve_file

HEAD = "component: root/Root_Component\n"


@pytest.fixture
def roots(tmp_path):
    """A project root with one processor (not a whole rl_nexus tree: the built-in root stays behind it)."""
    comp = tmp_path / "components" / "processors" / "P"
    comp.mkdir(parents=True)
    (comp / "P.yaml").write_text("component: processors/P\nenabled: 1\nunits: [8, 8]\nlr: 0.1\n"
                                 "max_iterations: 10\niters_per_report: 1\n")
    from launcher.config import BUILTIN_COMPONENTS

    return [tmp_path / "components", BUILTIN_COMPONENTS]


def write(tmp_path, text: str):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    return f


def stage(rs, i=0):
    return rs.data["processing_stages"][i]["processing_stage"]


def errors_of(tmp_path, roots, text):
    with pytest.raises(LauncherError) as exc:
        resolve_file(write(tmp_path, text), component_roots=roots, seed=1)
    return exc.value.diagnostics


HP_SCI = HEAD + """hyperparameters:
  - name: &lr
      ordered_tuning_values: [1e1, 2.5e-4]
      tuned_value: 1e1
string_replacements:
  <experiment_path>: ../results
processing_stages:
  - processing_stage:
      component: processors/P
      lr: *lr
"""


def test_scientific_notation_hp_values_are_numbers_as_hp_handler_makes_them(tmp_path, roots):
    # PyYAML reads `1e1` as a string; hp_handler's python_value_from_yaml makes it the float 10.0.
    rs = resolve_file(write(tmp_path, HP_SCI), component_roots=roots, seed=1)
    assert stage(rs)["lr"] == 10.0 and isinstance(stage(rs)["lr"], float)
    assert rs.hyperparameters[0].values == [10.0, 2.5e-4]


HP_LIST = HEAD + """hyperparameters:
  - name: &units
      unordered_tuning_values: [[32, 32], [64, 64]]
      tuned_value: [64,64]
string_replacements:
  <experiment_path>: ../results
processing_stages:
  - processing_stage:
      component: processors/P
      units: *units
"""


def test_list_valued_hyperparameters_are_accepted(tmp_path, roots):
    rs = resolve_file(write(tmp_path, HP_LIST), component_roots=roots, seed=1)
    assert stage(rs)["units"] == [64, 64]
    assert rs.hyperparameters[0].values == [[32, 32], [64, 64]]
    # a search run is given one of the lists
    rs = resolve_file(write(tmp_path, HP_LIST), component_roots=roots, seed=1, hp_assignment={"units": [32, 32]})
    assert stage(rs)["units"] == [32, 32]


def test_a_tuned_list_with_spaces_is_what_hp_handler_breaks_on(tmp_path, roots):
    """hp_handler takes the tuned value as the line's second word: `[64, 64]` leaves `[64,` in the YAML it then
    parses (ParserError in rl_nexus), so it is an error at that line."""
    diags = errors_of(tmp_path, roots, HP_LIST.replace("tuned_value: [64,64]", "tuned_value: [64, 64]"))
    assert [(d.code, d.line, d.col) for d in diags] == [("RS209", 5, 20)]
    assert "'[64,'" in diags[0].message and "[64,64]" in diags[0].hint


def test_exact_match_replacement_with_a_list_value(tmp_path, roots):
    text = HEAD + ("string_replacements:\n  <experiment_path>: ../results\n  <hidden>: [32, 32]\n"
                   "processing_stages:\n  - processing_stage:\n      component: processors/P\n      units: <hidden>\n")
    rs = resolve_file(write(tmp_path, text), component_roots=roots, seed=1)
    assert stage(rs)["units"] == [32, 32]


def test_block_style_tuning_values_are_rejected_as_hp_handler_does(tmp_path, roots):
    text = HP_SCI.replace("      ordered_tuning_values: [1e1, 2.5e-4]\n",
                          "      ordered_tuning_values:\n        - 1e1\n        - 2.5e-4\n")
    diags = errors_of(tmp_path, roots, text)
    assert [(d.code, d.line, d.col) for d in diags] == [("RS208", 4, 7)]
    assert "one line" in diags[0].message


def test_a_value_in_a_forward_definition_used_twice_is_reported_once(tmp_path, roots):
    text = HEAD + ("string_replacements:\n  <experiment_path>: ../results\nforward_definitions:\n"
                   "  - stage: &st\n      component: processors/P\n      nope: 1\n"
                   "processing_stages:\n  - processing_stage: *st\n  - processing_stage: *st\n")
    diags = errors_of(tmp_path, roots, text)
    assert [(d.code, d.line) for d in diags] == [("RS101", 7)]


def test_schema_messages_do_not_print_raw_schema_text(run_cli, tmp_path):
    f = write(tmp_path, HEAD + "string_replacements:\n  <x>: {a: 1}\n  <experiment_path>: ../results\n")
    code, out, _ = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    diags = [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] == "RS300"]
    assert code == 1 and diags
    assert "should not be valid" not in diags[0]["message"] and "{'type'" not in diags[0]["message"]
    assert "must not be a mapping" in diags[0]["message"]


def test_a_placeholder_defined_before_the_replacement_that_brings_it_says_why(tmp_path, roots):
    text = HEAD + ("string_replacements:\n  <experiment_path>: ../results\n  <b>: foo\n  <a>: <b>/x\n"
                   "processing_stages:\n  - processing_stage:\n      component: processors/P\n      lr: <a>\n")
    diags = [d for d in errors_of(tmp_path, roots, text) if d.code == "RS220"]
    assert len(diags) == 1 and "brings it in by <a>" in diags[0].message
    assert "one ordered pass" in diags[0].hint and "below <a>" in diags[0].hint
