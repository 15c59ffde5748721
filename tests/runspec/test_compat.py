"""Every runspec of the rl_nexus codebase is judged as rl_nexus itself judges it (its component yaml files as
the component root): clean where rl_nexus accepts it, an error at the exact line where it rejects it."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import COMPAT, SHARED, needs_shared

pytestmark = needs_shared

# file -> (code, line, col) of the first error, or None when rl_nexus accepts it. Settled by running rl_nexus's
# own loader (hp_handler.preprocess, oyaml, yaml_utils.expand_dict, SpecTree) with these component files: a
# component whose yaml is missing fails there with FileNotFoundError (get_comp_spec), at the first component
# expand_dict meets.
EXPECTED = {
    "cartpole_collect_data.yml": ("RS101", 38, 7),  # Data_Collection.yaml contains no 'model_path' property
    "cartpole_ope.yaml": None,
    "cartpole_ppo.yaml": None,
    "cartpole_rl_training.yaml": None,
    "cartpole_xt.yaml": None,
    "cartpolev2_smooth.yaml": None,
    "cartpolev2_sparse.yaml": None,
    "datastore_access.yaml": ("RS111", 21, 18),  # processors/RL_Proc: not in the fork's components
    "dgd_hp_search.yaml": ("RS111", 48, 18),  # agents/AAC_Agent
    "random_hp_search.yaml": ("RS111", 48, 18),  # agents/AAC_Agent
    "xt_fast_walk_through.yaml": ("RS111", 22, 18),  # environments/Maze_Env
    "xt_walk_through.yaml": ("RS111", 20, 18),  # env_wrappers/Env_Formatter
    "start/spec.yaml": ("RS111", 9, 1),  # the root's default stage processors/RL_Proc
    "start/xt_config.yaml": ("RS014", 3, 1),  # XT's config, not a runspec: no root component
}


def test_every_compat_runspec_is_listed():
    found = {p.relative_to(COMPAT / "specs").as_posix() for p in (COMPAT / "specs").rglob("*.y*ml")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("command", ["validate", "lint"])
def test_compat_runspec(name, command, run_cli, tmp_path):
    path = COMPAT / "specs" / name
    code, out, err = run_cli(command, "--format", "json", "--component-root", COMPAT / "components", path,
                             cwd=tmp_path)
    assert "Traceback" not in err
    result = json.loads(out)
    errors = [(d["code"], d["line"], d["col"]) for d in result["files"][0]["diagnostics"] if d["severity"] == "error"]
    expected = EXPECTED[name]
    if expected is None:
        assert code == 0 and errors == [], errors
    else:
        assert code == 1 and errors and errors[0] == expected, errors


def test_compat_dgd_search_lints_with_only_what_dgd_cannot_use(run_cli, tmp_path):
    """dgd_hp_search.yaml's launcher section on a runspec whose components exist (the fork lacks AAC_Agent)."""
    from tests.conftest import REPO

    text = (REPO / "runspecs" / "random_search.yaml").read_text().replace("hp_tuning: random", "hp_tuning: dgd")
    assert "hp_tuning: dgd" in text
    spec = tmp_path / "dgd.yaml"
    spec.write_text(text)
    code, out, _ = run_cli("lint", "--format", "json", spec, cwd=tmp_path)
    diags = [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] in ("LR043", "LR044")]
    # dgd runs now; only its unordered hyperparameter (size) is flagged: DGD has no neighbouring value for it
    assert code == 0 and [(d["code"], "'size'" in d["message"]) for d in diags] == [("LR044", True)], diags


def test_missing_components_are_named_with_where_they_were_looked_for(run_cli, tmp_path):
    code, out, _ = run_cli("validate", "--format", "json", "--component-root", COMPAT / "components",
                           COMPAT / "specs" / "xt_walk_through.yaml", cwd=tmp_path)
    errors = [d for d in json.loads(out)["files"][0]["diagnostics"] if d["code"] == "RS111"]
    assert code == 1
    assert any("processors/SSL_Train_Proc" in d["message"] and "SSL_Train_Proc.yaml" in d["hint"]
               and "FileNotFoundError" in d["message"] for d in errors)


def test_demo_components_never_stand_in_for_an_rl_nexus_tree(run_cli, tmp_path):
    """No processing_stages: the fork's root default is processors/RL_Proc, which the fork lacks; the launcher's
    own demo RL_Proc must not make the runspec valid."""
    spec = tmp_path / "no_stages.yaml"
    spec.write_text("component: root/Root_Component\nstring_replacements:\n  <experiment_path>: ../results\n")
    code, out, _ = run_cli("validate", "--format", "json", "--component-root", COMPAT / "components", spec,
                           cwd=tmp_path)
    diags = json.loads(out)["files"][0]["diagnostics"]
    assert code == 1
    assert [d["code"] for d in diags if d["severity"] == "error"] == ["RS111"]
    assert "processors/RL_Proc" in diags[0]["message"] and "Root_Component.yaml" in diags[0]["message"]


def test_tutorial_runspec_validates(run_cli, tmp_path):
    """The seed tutorial's example (the indented block after 'here is the top of') validates."""
    text = (SHARED / "seed" / "launching_jobs_tutorial.md").read_text()
    block = re.search(r"here is the top of[^\n]*\n\n((?:    [^\n]*\n)+)", text).group(1)
    spec = "".join(line[4:] + "\n" for line in block.splitlines())
    assert "component: root/Root_Component" in spec and "total_runs: 20" in spec
    f = tmp_path / "tutorial.yaml"
    f.write_text(spec)
    code, out, err = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    assert code == 0, out + err
