"""`launcher run`: a runspec executed as rl_nexus runs it locally, with its files and exit codes."""

from __future__ import annotations

import json
import re

import yaml

from tests.conftest import needs_shared
from rt_helpers import COMPAT, REPO, SPECS, TEST_COMPONENTS, read_summary

WALK = REPO / "runspecs" / "xt_walk_through.yaml"
REPORT_LINE = re.compile(r"^ +\d+\.\d{3} hrs +[\d,]+ iters +(\d+\.\d{5}|n/a) rew +(\d+\.\d{5}|n/a) win$")


def _hpmax_from_console(text: str) -> float:
    m = re.search(r"^Objective (?:that would be|being) maximized by hyperparameter tuning \(hpmax\): +(-?[\d.]+)$",
                  text, re.M)
    assert m, text[-2000:]
    return float(m.group(1))


def test_walk_through_runs_all_stages_and_writes_its_files(run_cli, workdir):
    code, out, err = run_cli("run", WALK, cwd=workdir)
    assert code == 0, err
    assert "launching is `launcher launch`" in err  # the launcher section is enabled, but run stays local
    lines = out.splitlines()
    for i in range(1, 5):
        assert f"Processing stage {i} of 4" in lines
    assert lines.count("RL_Proc:  Started") == 4 and lines.count("RL_Proc:  Completed") == 4
    assert sum(1 for ln in lines if REPORT_LINE.match(ln)) == 20 + 10 + 20 + 10
    assert sum(1 for ln in lines if ln.startswith("Stage summary (mean reward per step): ")) == 4
    assert lines[-1] == "All processing stages completed."
    hpmax = _hpmax_from_console(out)

    exp = workdir.parent / "results" / "walk_through"
    assert (exp / "console.txt").read_text() == out  # every console line, and nothing else
    assert (exp / "xt_walk_through.yaml").read_text() == WALK.read_text()
    repro = yaml.safe_load((exp / "repro_spec.yaml").read_text())
    for gone in ("job_launcher", "hyperparameters", "string_replacements", "forward_definitions"):
        assert gone not in repro
    text = (exp / "repro_spec.yaml").read_text()
    assert ": randint" not in text and "<experiment_path>" not in text and "<environment>" not in text
    stage0 = repro["processing_stages"][0]["processing_stage"]
    assert stage0["environment"]["size"] == 8  # defaults filled in
    assert isinstance(stage0["environment"]["agent_placement_seed"], int)
    assert stage0["save_model_to"] == "../results/walk_through/rl/Maze_Env/policy.json"
    assert isinstance(repro["random_seed"], int)

    metrics = [json.loads(ln) for ln in (exp / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 60
    assert metrics[0]["stage"] == 1 and metrics[0]["iteration"] == 5000 and set(metrics[0]["metrics"]) == {"rew", "win"}
    assert [m["stage"] for m in metrics].count(4) == 10

    summary = read_summary(exp)
    assert summary["status"] == "completed"
    assert abs(summary["hpmax"] - hpmax) < 1e-5
    assert [s["status"] for s in summary["stages"]] == ["completed"] * 4
    assert summary["hpmax"] == summary["stages"][3]["objective"]["value"]
    assert any(k.endswith("agent_placement_seed") for k in summary["seeds"])
    assert (exp / "rl" / "Maze_Env" / "finetuned_policy.json").is_file()
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        assert "TensorBoard event files skipped" in out
    else:
        assert list(exp.glob("events.out.tfevents.*")), "log_to_tensorboard: true writes event files"


def test_repro_spec_reproduces_the_run(run_cli, workdir):
    code, out, _ = run_cli("run", WALK, cwd=workdir)
    assert code == 0
    exp = workdir.parent / "results" / "walk_through"
    first = read_summary(exp)
    first_metrics = [json.loads(ln)["metrics"] for ln in (exp / "metrics.jsonl").read_text().splitlines()]
    saved = workdir / "repro_spec.yaml"
    saved.write_text((exp / "repro_spec.yaml").read_text())

    code, out2, err = run_cli("run", saved, cwd=workdir)
    assert code == 0, err
    assert "launching is" not in err  # no launcher section in a repro spec
    second = read_summary(exp)
    assert second["hpmax"] == first["hpmax"]
    assert _hpmax_from_console(out2) == _hpmax_from_console(out)
    assert [json.loads(ln)["metrics"] for ln in (exp / "metrics.jsonl").read_text().splitlines()] == first_metrics
    # and running the repro spec again yields the same repro spec (apart from its header)
    assert yaml.safe_load((exp / "repro_spec.yaml").read_text()) == yaml.safe_load(saved.read_text())


def test_seed_makes_randint_draws_reproducible(run_cli, workdir):
    spec = REPO / "runspecs" / "grid_search.yaml"
    exp = workdir.parent / "results" / "grid_search"
    assert run_cli("run", spec, "--seed", "42", cwd=workdir)[0] == 0
    a = (exp / "repro_spec.yaml").read_text(), read_summary(exp)
    assert run_cli("run", spec, "--seed", "42", cwd=workdir)[0] == 0
    b = (exp / "repro_spec.yaml").read_text(), read_summary(exp)
    assert a[0] == b[0] and a[1]["hpmax"] == b[1]["hpmax"] and a[1]["seeds"] == b[1]["seeds"]
    assert a[1]["seed"] == 42
    assert run_cli("run", spec, "--seed", "43", cwd=workdir)[0] == 0
    assert (exp / "repro_spec.yaml").read_text() != a[0]


def test_hp_config_file_sets_the_hyperparameters(run_cli, workdir):
    hp = workdir / "hp.yaml"
    hp.write_text("hyperparameter-runset:\n  lr: 0.4\n  disc: 0.8\n  eps: 0.2\n  size: 6\n")
    code, out, err = run_cli("run", REPO / "runspecs" / "random_search.yaml", "--hp-config", hp, cwd=workdir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:5] == ["Chosen hyperparameter values:", "  lr: 0.4", "  disc: 0.8", "  eps: 0.2", "  size: 6"]
    assert "Objective being maximized by hyperparameter tuning (hpmax):" in out  # an HP-search child run
    exp = workdir.parent / "results" / "random_search"
    summary = read_summary(exp)
    assert summary["hparams"] == {"lr": 0.4, "disc": 0.8, "eps": 0.2, "size": 6} and summary["hp_search"]
    stage = yaml.safe_load((exp / "repro_spec.yaml").read_text())["processing_stages"][0]["processing_stage"]
    assert (stage["learning_rate"], stage["discount_factor"], stage["exploration_rate"]) == (0.4, 0.8, 0.2)
    assert stage["environment"]["size"] == 6


def test_downloaded_hp_config_is_picked_up_under_a_job(run_cli, workdir, monkeypatch):
    (workdir / "downloaded_hp_config.yaml").write_text(
        "hyperparameter-runset:\n  lr: 0.05\n  eps: 0.2\n")
    monkeypatch.setenv("XT_RUN_NAME", "run7.3")
    code, out, err = run_cli("run", REPO / "runspecs" / "grid_search.yaml", cwd=workdir)
    assert code == 0, err
    assert out.splitlines()[:3] == ["Chosen hyperparameter values:", "  lr: 0.05", "  eps: 0.2"]
    monkeypatch.delenv("XT_RUN_NAME")
    code, out, _ = run_cli("run", REPO / "runspecs" / "grid_search.yaml", cwd=workdir)
    assert out.splitlines()[:3] == ["Chosen hyperparameter values:", "  lr: 0.2", "  eps: 0.1"]  # tuned values


def test_format_json_prints_the_summary(launcher_proc, workdir):
    p = launcher_proc("run", REPO / "runspecs" / "grid_search.yaml", "--format", "json", "--seed", "5", cwd=workdir)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)  # stdout is only the summary; the console went to stderr
    assert data["status"] == "completed" and data["seed"] == 5 and data["hpmax"] is not None
    assert "Processing stage 1 of 2" in p.stderr


def test_failing_stage_exits_1_with_a_clear_message(launcher_proc, workdir):
    p = launcher_proc("run", SPECS / "boom.yaml", "--component-root", TEST_COMPONENTS, cwd=workdir)
    assert p.returncode == 1
    assert "stage 2 of 3 (processors/Boom_Proc) failed: ValueError: boom at iteration 60" in p.stderr
    assert re.search(r"at .*Boom_Proc\.py:\d+ in execute", p.stderr)
    assert "Traceback" not in p.stderr
    assert "Boom_Proc:  Failed (ValueError: boom at iteration 60)" in p.stdout
    exp = workdir.parent / "results" / "boom"
    summary = read_summary(exp)
    assert summary["status"] == "failed" and summary["error"]["stage"] == 2
    assert [s["status"] for s in summary["stages"]] == ["completed", "failed", "not run"]
    assert summary["stages"][1]["reports"] == 5  # what it reported before failing is kept

    p = launcher_proc("run", SPECS / "boom.yaml", "--component-root", TEST_COMPONENTS, "--verbose", cwd=workdir)
    assert p.returncode == 1 and "Traceback (most recent call last)" in p.stderr


@needs_shared
def test_component_without_code_is_named_with_where_it_looked(run_cli, workdir):
    spec = COMPAT / "specs" / "cartpole_ppo.yaml"
    code, out, err = run_cli("run", spec, "--component-root", COMPAT / "components", cwd=workdir)
    assert code == 1
    assert "processors/Train_Policy has no code" in err and "Train_Policy.py does not exist" in err
    assert "RL_Proc" not in out and "Started" not in out  # found before any stage ran


def test_unknown_component_fails_before_running(run_cli, workdir):
    code, out, err = run_cli("run", SPECS / "missing.yaml", "--component-root", TEST_COMPONENTS, cwd=workdir)
    assert code == 1
    assert "processors/Nonexistent_Proc not found" in err and "looked for" in err
    assert "Traceback" not in err


def test_lower_is_better_objective_is_negated_and_disabled_stages_are_skipped(run_cli, workdir):
    code, out, err = run_cli("run", SPECS / "quiet.yaml", "--component-root", TEST_COMPONENTS, cwd=workdir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[lines.index("Processing stage 1 of 2") + 1] == "(not enabled)"
    expected_mean = sum(2.0 / it for it in range(100, 1001, 100)) / 10
    assert abs(_hpmax_from_console(out) + expected_mean) < 1e-5  # the negated mean over all reports
    exp = workdir.parent / "results" / "quiet"
    summary = read_summary(exp)
    assert [s["status"] for s in summary["stages"]] == ["not enabled", "completed"]
    draws = [json.loads(ln)["metrics"]["draw"] for ln in (exp / "metrics.jsonl").read_text().splitlines()]
    # the component's generator is seeded from random_seed, which repro_spec.yaml records
    (workdir / "again.yaml").write_text((exp / "repro_spec.yaml").read_text())
    assert run_cli("run", workdir / "again.yaml", "--component-root", TEST_COMPONENTS, cwd=workdir)[0] == 0
    assert [json.loads(ln)["metrics"]["draw"] for ln in (exp / "metrics.jsonl").read_text().splitlines()] == draws


def test_run_command_runs_the_projects_entry_point(launcher_proc, tmp_path):
    import sys

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.launcher]\n" + f"run_command = [{json.dumps(sys.executable)}, \"run.py\", \"{{runspec}}\"]\n")
    (project / "run.py").write_text(
        "import json, os, sys\n"
        "hp = open('downloaded_hp_config.yaml').read() if os.path.exists('downloaded_hp_config.yaml') else None\n"
        "json.dump({'argv': sys.argv[1:], 'run': os.environ.get('XT_RUN_NAME'),\n"
        "           'data': os.environ.get('XT_DATA_DIR'), 'hp': hp}, open('seen.json', 'w'))\n"
        "sys.exit(3)\n")
    (project / "spec.yaml").write_text("component: root/Root_Component\n")
    (project / "hp.yaml").write_text("hyperparameter-runset:\n  lr: 0.5\n")
    p = launcher_proc("run", "spec.yaml", "--set", "<environment>=Maze_Env", "--hp-config", "hp.yaml",
                      "--run-name", "run9.1", cwd=project, env={"XT_DATA_DIR": "/data/x"})
    assert p.returncode == 3, p.stderr  # the entry point's exit code is the run's
    seen = json.loads((project / "seen.json").read_text())
    assert seen["argv"] == ["spec.yaml", "--environment", "Maze_Env"]  # rl_nexus's override form, no shell
    assert seen["run"] == "run9.1" and seen["data"] == "/data/x"
    assert yaml.safe_load(seen["hp"]) == {"hyperparameter-runset": {"lr": 0.5}}


def test_built_in_runs_start_in_working_dir_and_import_through_python_path(tmp_path, launcher_proc):
    """The same layout without a run_command: the executor runs from working_dir, and a component imports a
    project module through python_path (the repository root), as rl_nexus code does."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "helper.py").write_text("VALUE = 0.5\n")
    comp = tmp_path / "work" / "components" / "processors" / "Import_Proc"
    comp.mkdir(parents=True)
    (comp / "Import_Proc.yaml").write_text("component: processors/Import_Proc\nenabled: 1\nmax_iterations: 10\n"
                                          "iters_per_report: 5\n")
    (comp / "Import_Proc.py").write_text(
        "from launcher.runtime import Component, Metric\nfrom pkg.helper import VALUE\n\n\n"
        "class Import_Proc(Component):\n    def execute(self):\n"
        "        self.reporter.define(Metric('v', 'value'))\n"
        "        for it in (5, 10):\n            self.reporter.report(it, {'v': VALUE})\n")
    (tmp_path / "pyproject.toml").write_text('[tool.launcher]\nworking_dir = "work"\npython_path = ["."]\n'
                                             'component_roots = ["work/components"]\n')
    spec = tmp_path / "work" / "s.yaml"
    spec.write_text("component: root/Root_Component\nexperiment_path: ../results/imp\nprocessing_stages:\n"
                    "  - processing_stage:\n      component: processors/Import_Proc\n")
    proc = launcher_proc("run", "s.yaml", cwd=tmp_path / "work")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "results" / "imp" / "summary.json").is_file()  # ../results from working_dir
