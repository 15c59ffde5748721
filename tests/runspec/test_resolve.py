"""rl_nexus semantics of resolution: replacements and their typing, defaults, hyperparameters, randint, enabled."""

from __future__ import annotations

import pytest

from launcher.diagnostics import LauncherError
from launcher.runspec.api import resolve_file
from tests.conftest import COMPAT, needs_shared

pytestmark = needs_shared
from launcher.config import BUILTIN_COMPONENTS  # noqa: E402

ROOTS = [COMPAT / "components"]

SPEC = """\
component: root/Root_Component
cuda: false
string_replacements:
  <environment>: CartPole_Env
  <experiment_path>: ../results/x
  <horizon>: 500
  <name>: CP
hyperparameters:
  - name: &temp
      unordered_tuning_values: [0.5, 1.0, 2.0]
      tuned_value: 1.0
forward_definitions:
  - environment: &env
      component: environments/<environment>
      name: run_<name>
      max_ep_len: <horizon>
      seed: randint
processing_stages:
  - processing_stage:
      component: processors/Data_Collection
      temperature: *temp
      environment: *env
      behavior_policy_range: {min: 3}
      load_model_from: $datastore/policy/<name>
  - processing_stage:
      component: processors/Data_Collection
      enabled: 0
      environment: *env
"""


@pytest.fixture
def spec(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SPEC)
    return f


def stage(rs, i=0):
    return rs.data["processing_stages"][i]["processing_stage"]


def test_exact_match_keeps_type_substring_makes_string(spec):
    rs = resolve_file(spec, component_roots=ROOTS, seed=1)
    env = stage(rs)["environment"]
    assert env["component"] == "environments/CartPole_Env"  # replacement inside component:
    assert env["max_ep_len"] == 500 and isinstance(env["max_ep_len"], int)
    assert env["name"] == "run_CP"
    assert rs.data["experiment_path"] == "../results/x"  # root default <experiment_path> replaced


def test_defaults_are_merged_and_nested_mappings_replaced_whole(spec):
    rs = resolve_file(spec, component_roots=ROOTS, seed=1)
    s = stage(rs)
    assert s["num_episodes"] == 100 and s["save_data"] is True  # defaults filled in
    assert s["behavior_policy_range"] == {"min": 3}  # not merged with the default's max/step
    assert s["environment"]["fixed_length_episode"] is True  # the env component's own defaults


def test_datastore_from_environment(spec, monkeypatch):
    assert stage(resolve_file(spec, component_roots=ROOTS, seed=1))["load_model_from"] == "../datastore/policy/CP"
    monkeypatch.setenv("XT_DATA_DIR", "/mnt/data/")
    assert stage(resolve_file(spec, component_roots=ROOTS, seed=1))["load_model_from"] == "/mnt/data/policy/CP"


def test_overrides_are_typed_and_recorded(spec):
    rs = resolve_file(spec, component_roots=ROOTS, overrides={"<horizon>": "300", "<name>": "B"}, seed=1)
    assert stage(rs)["environment"]["max_ep_len"] == 300
    assert stage(rs)["environment"]["name"] == "run_B"
    assert rs.overrides == {"<horizon>": 300, "<name>": "B"}
    base = resolve_file(spec, component_roots=ROOTS, seed=1)
    assert rs.content_hash != base.content_hash


def test_hyperparameters_tuned_and_assigned(spec):
    rs = resolve_file(spec, component_roots=ROOTS, seed=1)
    assert stage(rs)["temperature"] == 1.0 and rs.hparams == {"temp": 1.0}
    rs2 = resolve_file(spec, component_roots=ROOTS, seed=1, hp_assignment={"temp": 2.0})
    assert stage(rs2)["temperature"] == 2.0 and rs2.hparams == {"temp": 2.0}
    with pytest.raises(LauncherError, match="tmp"):
        resolve_file(spec, component_roots=ROOTS, seed=1, hp_assignment={"tmp": 2.0})


def test_randint_is_drawn_per_occurrence_and_reproducible(spec):
    a = resolve_file(spec, component_roots=ROOTS, seed=7)
    b = resolve_file(spec, component_roots=ROOTS, seed=7)
    c = resolve_file(spec, component_roots=ROOTS, seed=8)
    seeds = [stage(a, i)["environment"]["seed"] for i in (0, 1)]
    assert all(isinstance(s, int) and 0 <= s <= 999_999_999 for s in seeds)
    assert seeds[0] != seeds[1]  # each copy of the alias draws its own value, as in rl_nexus
    assert a.seeds == b.seeds and a.seeds != c.seeds
    assert a.seed == 7


def test_enabled_is_normalised_and_special_sections_removed(spec):
    rs = resolve_file(spec, component_roots=ROOTS, seed=1)
    assert stage(rs, 1)["enabled"] is False and stage(rs, 0)["enabled"] is True
    assert not {"hyperparameters", "string_replacements", "forward_definitions"} & set(rs.data)
    assert rs.data["job_launcher"]["enabled"] is False  # the root's default launcher section


def test_missing_component_is_an_error_where_it_must_run(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("component: root/Root_Component\nexperiment_path: ../results\nprocessing_stages:\n"
                 "  - processing_stage:\n      component: processors/Nope\n")
    with pytest.raises(LauncherError) as exc:
        resolve_file(f, component_roots=ROOTS, seed=1)
    d = exc.value.diagnostics[0]
    assert d.code == "RS111" and (d.line, d.col) == (5, 18) and "Nope.yaml" in d.hint
    # Roots that are not a whole rl_nexus tree: "not checked" in validate (its code may live elsewhere).
    rs = resolve_file(f, component_roots=[BUILTIN_COMPONENTS], seed=1, require_components=False)
    assert rs.diagnostics[0].code == "RS110"
    # A whole rl_nexus tree: rl_nexus fails on it (FileNotFoundError), so validate says so too.
    with pytest.raises(LauncherError) as exc:
        resolve_file(f, component_roots=ROOTS, seed=1, require_components=False)
    assert exc.value.diagnostics[0].code == "RS111" and "FileNotFoundError" in exc.value.diagnostics[0].message


def test_placeholder_from_a_default_is_reported_at_the_component(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("component: root/Root_Component\nexperiment_path: ../results\nprocessing_stages:\n"
                 "  - processing_stage:\n      component: processors/Train_Policy\n")
    with pytest.raises(LauncherError) as exc:
        resolve_file(f, component_roots=ROOTS, seed=1, require_components=False)
    d = exc.value.diagnostics[0]
    assert d.code == "RS220" and "<experiment_path>" in d.message and "Train_Policy.yaml" in d.message
    assert d.line == 5  # the stage that pulled in the default
