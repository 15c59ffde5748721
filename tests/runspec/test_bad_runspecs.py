"""Bad runspecs: each gets exactly the expected code at the expected line and column, exit 1, no traceback.

A case is a runspec text with one `§` marking where the diagnostic must point (the marker is removed before
the file is written), so no line or column is counted by hand.
"""

from __future__ import annotations

import json

import pytest

COMPONENTS = "--component-root"

BASE = """\
component: root/Root_Component
cuda: false
experiment_path: ../results/cartpole
job_launcher:
  component: job_launchers/XT
  enabled: 1
  hp_tuning: false
  total_runs: 4
  compute_nodes: 2
  runs_per_node: 2
  compute_target: local
  low_priority: true
  hold: false
hyperparameters:
  - name: &lr
      ordered_tuning_values: [1.0e-4, 5.0e-4]
      tuned_value: 1.0e-4
string_replacements:
  <environment>: CartPole_Env
  <experiment_path>: ../results/cartpole
forward_definitions:
  - environment: &env
      component: environments/<environment>
      seed: randint
      max_ep_len: 200
processing_stages:
  - processing_stage:
      component: processors/Train_Policy
      max_iterations: 10000
      iters_per_report: 500
      environment: *env
      agent:
        component: agents/PPO2_Agent
        lr: *lr
        seed: randint
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


CASES = [
    # --- loading -----------------------------------------------------------------------------------------
    ("empty", "§", "RS003"),
    ("only-comments", "§# nothing here\n# at all\n", "RS003"),
    ("syntax-unclosed-flow", edit("[1.0e-4, 5.0e-4]", "[1.0e-4, 5.0e-4") .replace("      tuned_value", "      tuned_value§", 1), "RS005"),
    ("syntax-bad-indent", edit("  hold: false\n", "  hold: false\n   bad§: 1\n"), "RS005"),
    ("tab-indent", edit("  hold: false\n", "§\thold: false\n"), "RS004"),
    ("duplicate-key-root", edit("cuda: false\n", "cuda: false\n§cuda: true\n"), "RS009"),
    ("duplicate-key-stage", edit("      iters_per_report: 500\n", "      iters_per_report: 500\n      §iters_per_report: 600\n"), "RS009"),
    ("python-tag", edit("cuda: false", "cuda: §!!python/object/apply:os.system ['echo hi']"), "RS006"),
    ("unknown-tag", edit("cuda: false", "cuda: §!custom 1"), "RS006"),
    ("undefined-alias", edit("environment: *env", "environment: §*envv"), "RS011"),
    ("alias-before-anchor", edit("        lr: *lr", "        lr: §*rate"), "RS011"),
    ("complex-key", edit("cuda: false\n", "cuda: false\n§[a, b]: 1\n"), "RS007"),
    ("two-documents", BASE + "§---\ncomponent: root/Root_Component\n", "RS012"),
    ("root-is-list", "§- component: root/Root_Component\n", "RS013"),
    ("root-is-scalar", "§just a string\n", "RS013"),
    ("not-a-runspec", "§name: my config\nvalue: 3\n", "RS014"),
    ("wrong-root-component", edit("component: root/Root_Component", "component: §root/Other"), "RS014"),
    # --- components and defaults ---------------------------------------------------------------------------
    ("unknown-root-key", edit("cuda: false\n", "cuda: false\n§cudaa: true\n"), "RS101"),
    ("unknown-stage-key", edit("      max_iterations: 10000\n", "      max_iterations: 10000\n      §max_iteration: 5\n"), "RS101"),
    ("unknown-nested-component-key", edit("        seed: randint\n", "        seed: randint\n        §learning_rate: 0.1\n"), "RS101"),
    ("unknown-key-in-forward-definition", edit("      max_ep_len: 200\n", "      max_ep_len: 200\n      §max_episode_len: 3\n"), "RS101"),
    ("unknown-launcher-key", edit("  hold: false\n", "  hold: false\n  §nodes: 3\n"), "RS101"),
    ("bad-component-name", edit("component: processors/Train_Policy", "component: §Train_Policy"), "RS100"),
    ("component-name-not-string", edit("component: processors/Train_Policy", "component: §[processors, Train_Policy]"), "RS100"),
    ("wrong-type-int", edit("max_iterations: 10000", "max_iterations: §lots"), "RS102"),
    ("wrong-type-bool", edit("      iters_per_report: 500\n", "      iters_per_report: 500\n      train: §sometimes\n"), "RS102"),
    ("wrong-type-component-slot", edit("      environment: *env", "      environment: §CartPole"), "RS102"),
    ("wrong-type-list", edit("        seed: randint\n", "        seed: randint\n        optimizer: §[1, 2]\n"), "RS102"),
    ("enabled-not-boolean", edit("      max_iterations: 10000\n", "      enabled: §2\n      max_iterations: 10000\n"), "RS103"),
    ("enabled-word", edit("      max_iterations: 10000\n", "      enabled: §yes please\n      max_iterations: 10000\n"), "RS103"),
    # --- string replacements -------------------------------------------------------------------------------
    ("unresolved-placeholder", edit("experiment_path: ../results/cartpole\n", "experiment_path: §../results/<experiment>\n"), "RS220"),
    ("unresolved-in-component-name", edit("component: environments/<environment>", "component: §environments/<env_name>"), "RS220"),
    ("replacements-not-mapping", edit("string_replacements:\n  <environment>: CartPole_Env\n  <experiment_path>: ../results/cartpole\n",
                                      "string_replacements: §[<environment>, CartPole_Env]\n").replace("environments/<environment>", "environments/CartPole_Env"), "RS210"),
    # --- hyperparameters --------------------------------------------------------------------------------------
    ("hp-no-anchor", edit("  - name: &lr\n", "  - §name:\n").replace("        lr: *lr\n", ""), "RS202"),
    ("hp-both-value-kinds", edit("      tuned_value: 1.0e-4\n", "      unordered_tuning_values: [1]\n      tuned_value: 1.0e-4\n").replace("  - name: &lr", "  - §name: &lr"), "RS204"),
    ("hp-no-tuned-value", edit("      tuned_value: 1.0e-4\n", "").replace("  - name: &lr", "  - §name: &lr"), "RS206"),
    ("hp-unknown-key", edit("      tuned_value: 1.0e-4\n", "      tuned_value: 1.0e-4\n      §tuned_values: [1]\n"), "RS203"),
    ("hp-empty-values", edit("[1.0e-4, 5.0e-4]", "§[]"), "RS205"),
    ("hp-not-a-list", edit("hyperparameters:\n", "hyperparameters: §3\nx_hp:\n").replace("  - name: &lr\n      ordered_tuning_values: [1.0e-4, 5.0e-4]\n      tuned_value: 1.0e-4\n", "").replace("x_hp:\n", "").replace("        lr: *lr\n", ""), "RS201"),
    # --- the runspec schema -----------------------------------------------------------------------------------
    ("total-runs-zero", edit("total_runs: 4", "total_runs: §0"), "RS300"),
    ("total-runs-too-many", edit("total_runs: 4", "total_runs: §20000"), "RS300"),
    ("compute-nodes-zero", edit("compute_nodes: 2", "compute_nodes: §0"), "RS300"),
    ("runs-per-node-string", edit("runs_per_node: 2", "runs_per_node: §two"), "RS300"),
    ("hp-tuning-unknown", edit("hp_tuning: false", "hp_tuning: §randomm"), "RS300"),
    ("monitor-unknown", edit("  hold: false\n", "  hold: false\n  monitor: §window\n"), "RS300"),
    ("launcher-component-wrong", edit("component: job_launchers/XT", "component: §job_launchers/XTT").replace("XTT", "XT2"), "RS111"),
    ("compute-target-bad-name", edit("compute_target: local", "compute_target: §'azure batch!'"), "RS300"),
    ("stages-not-a-list", BASE.split("processing_stages:")[0] + "processing_stages: §stage1\n", "RS102"),
    ("stage-item-wrong-key", edit("  - processing_stage:\n", "  - §stage:\n"), "RS300"),
    ("forward-definition-two-keys", edit("      max_ep_len: 200\n", "      max_ep_len: 200\n    other: 1\n").replace("  - environment: &env", "  - §environment: &env"), "RS300"),
    ("low-priority-word", edit("low_priority: true", "low_priority: §maybe"), "RS300"),
]


def _materialise(text: str) -> tuple[str, int, int]:
    assert text.count("§") == 1, "mark exactly one place"
    idx = text.index("§")
    before = text[:idx]
    line = before.count("\n") + 1
    col = idx - (before.rfind("\n") + 1) + 1
    return text.replace("§", ""), line, col


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_base_runspec_is_valid(tmp_path, run_cli, compat_dir):
    f = tmp_path / "base.yaml"
    f.write_text(BASE)
    code, out, err = run_cli("lint", "--format", "json", COMPONENTS, compat_dir / "components", f, cwd=tmp_path)
    assert code == 0, out + err
    assert json.loads(out)["counts"]["errors"] == 0


@pytest.mark.parametrize("name,text,code", CASES, ids=[c[0] for c in CASES])
def test_bad_runspec(name, text, code, tmp_path, run_cli, compat_dir, yaml_loader):
    body, line, col = _materialise(text)
    f = tmp_path / f"{name}.yaml"
    f.write_text(body, encoding="utf-8")
    exit_code, out, err = run_cli("validate", "--format", "json", COMPONENTS, compat_dir / "components", f,
                                  cwd=tmp_path)
    assert exit_code == 1, out + err
    assert "Traceback" not in out + err
    diags = json.loads(out)["files"][0]["diagnostics"]
    errors = [(d["code"], d["line"], d["col"]) for d in diags if d["severity"] == "error"]
    if code == "RS003":  # an empty file has no line to point at
        assert errors and errors[0][0] == "RS003"
        return
    assert (code, line, col) in errors, f"expected {code} at {line}:{col}, got {errors}"
    # every message says what is wrong, and every error carries a position in the file
    assert all(d["message"] for d in diags)


@pytest.mark.parametrize("name,text,code", CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_text_report_quotes_the_line_with_a_caret(name, text, code, tmp_path, run_cli, compat_dir):
    body, line, col = _materialise(text)
    f = tmp_path / "x.yaml"
    f.write_text(body, encoding="utf-8")
    exit_code, out, err = run_cli("validate", COMPONENTS, compat_dir / "components", f, cwd=tmp_path)
    assert exit_code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{f}:") and f" {code} error: " in first


def test_not_utf8(tmp_path, run_cli):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"component: root/Root_Component\ndescription: caf\xe9\n")
    code, out, _ = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    d = json.loads(out)["files"][0]["diagnostics"][0]
    assert code == 1 and (d["code"], d["line"], d["col"]) == ("RS002", 2, 17)


def test_file_too_big(tmp_path, run_cli):
    f = tmp_path / "big.yaml"
    f.write_text("component: root/Root_Component\n" + "# padding\n" * 120_000)
    code, out, _ = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    assert code == 1 and json.loads(out)["files"][0]["diagnostics"][0]["code"] == "RS001"


def test_missing_file(tmp_path, run_cli):
    code, out, _ = run_cli("validate", "--format", "json", tmp_path / "nope.yaml", cwd=tmp_path)
    assert code == 1 and json.loads(out)["files"][0]["diagnostics"][0]["code"] == "RS000"


def test_alias_bomb_fails_fast_in_little_memory(tmp_path, run_cli):
    import resource
    import time

    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ", ".join([f"*{prev}"] * 10) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("component: root/Root_Component\n" + "\n".join(levels) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    code, out, _ = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    elapsed = time.perf_counter() - t
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert code == 1 and json.loads(out)["files"][0]["diagnostics"][0]["code"] == "RS008"
    assert elapsed < 5 and grown_mib < 200  # a 10**9-node expansion, refused at 10**5


# flow nesting up to 50,000 levels; block nesting costs two spaces a level, so 700 levels is near the size limit
@pytest.mark.parametrize("style,levels", [("flow", 65), ("flow", 999), ("flow", 1_001), ("flow", 50_000),
                                          ("block", 65), ("block", 700)])
def test_deep_nesting_is_refused(levels, style, tmp_path, run_cli, yaml_loader):
    # under libyaml's own limit (1,000) our count stops it; over it libyaml does, and both must say RS010
    if style == "flow":
        body = "x: " + "[" * levels + "]" * levels + "\n"
    else:
        body = "".join("  " * i + f"k{i}:\n" for i in range(levels)) + "  " * levels + "v\n"
    f = tmp_path / "deep.yaml"
    f.write_text("component: root/Root_Component\n" + body)
    code, out, err = run_cli("validate", "--format", "json", f, cwd=tmp_path)
    diag = json.loads(out)["files"][0]["diagnostics"][0]
    assert code == 1 and diag["code"] == "RS010", diag
    assert diag["line"] >= 2 and "deeper than 64 levels" in diag["message"]


def test_all_files_are_reported_before_exiting(tmp_path, run_cli, compat_dir):
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    bad1, bad2 = tmp_path / "bad1.yaml", tmp_path / "bad2.yaml"
    bad1.write_text(edit("total_runs: 4", "total_runs: 0"))
    bad2.write_text(edit("cuda: false\n", "cuda: false\ncudaa: 1\n"))
    code, out, _ = run_cli("validate", "--format", "json", COMPONENTS, compat_dir / "components", bad1, good, bad2,
                           cwd=tmp_path)
    files = json.loads(out)["files"]
    assert code == 1 and [f["valid"] for f in files] == [False, True, False]


def test_an_error_is_said_once(tmp_path, run_cli):
    code, out, err = run_cli("run", tmp_path / "nope.yaml", cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert err.count("file not found") == 1 and "RS000" in err
