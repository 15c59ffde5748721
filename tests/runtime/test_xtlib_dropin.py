"""The drop-in xtlib.run for the runs the launcher starts, and the downloaded_hp_config.yaml they read."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from launcher.agent import latest_metrics
from launcher.layout import XTLIB_SHIM, Layout
from launcher.runtime.hpconfig import render_hp_config

# What rl_nexus's nexus_logger does: a report per period with stage='s<i>', then hpmax without a stage.
NEXUS_CALLS = """
from xtlib.run import Run as XTRun
r = XTRun()
r.log_hparams({"lr": 0.1})
r.log_metrics(data_dict={"hrs": 0.1, "iters": 500, "rew": 0.25}, step_name="iters", stage="s1")
r.log_metrics(data_dict={"hrs": 0.2, "iters": 1000, "rew": 0.75}, step_name="iters", stage="s1")
r.log_metrics(data_dict={"iters": 1000, "hpmax": 0.5}, step_name="iters")
r.tag_job({"plotted_metric": "s1-rew"})
r.close()
"""


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_log_metrics_lands_as_xt_named_metrics_and_hpmax(tmp_path):
    metrics = tmp_path / "xt_metrics.jsonl"
    env = Layout().env(tmp_path, {"PATH": os.environ["PATH"]})
    env.update(XT_RUN_NAME="run1.1", LAUNCHER_XT_METRICS=str(metrics))
    proc = run_python(NEXUS_CALLS, env)
    assert proc.returncode == 0, proc.stderr
    values, iters = latest_metrics(metrics)
    assert values == {"s1-hrs": 0.2, "s1-rew": 0.75, "hpmax": 0.5} and iters == 1000


def test_an_installed_xtlib_is_not_shadowed_unless_the_project_says_so(tmp_path):
    real = tmp_path / "site" / "xtlib"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n")
    (real / "run.py").write_text("class Run:\n    real = True\n")
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path / "site")}
    code = "import xtlib, xtlib.run; print(getattr(xtlib, 'REAL', False), getattr(xtlib.run.Run, 'real', False))"
    auto = run_python(code, Layout(xtlib="auto").env(tmp_path, base))
    assert auto.stdout.split() == ["True", "True"], auto.stderr
    assert "using the installed xtlib" in auto.stderr
    ours = run_python(code, Layout(xtlib="launcher").env(tmp_path, base))
    assert ours.stdout.split() == ["False", "False"], ours.stderr
    assert Layout().env(tmp_path, base)["PYTHONPATH"].split(os.pathsep)[1] == str(XTLIB_SHIM)


def test_python_path_folders_come_first_relative_to_the_project(tmp_path):
    env = Layout(working_dir="rl_nexus", python_path=(".", "lib")).env(tmp_path, {"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), str(tmp_path / "lib"), str(XTLIB_SHIM),
                                                   "/elsewhere"]


def test_downloaded_hp_config_is_what_hp_handler_reads():
    """hp_handler.read_hp_config_file: yaml.load(...)['hyperparameter-runset'][name] for every hyperparameter,
    then each value is written back into the runspec text: lists must stay one-line flow lists."""
    values = {"lr": 1e-05, "units": [32, 32], "clip": 128, "act": "relu", "norm": True, "none": None}
    text = render_hp_config(values)
    assert yaml.load(text, Loader=yaml.Loader)["hyperparameter-runset"] == values
    assert text.splitlines() == ["hyperparameter-runset:", "  lr: 1.0e-05", "  units: [32, 32]", "  clip: 128",
                                 "  act: relu", "  norm: true", "  none: null"]


def test_the_run_command_script_is_found_in_the_layout():
    assert Layout(working_dir="rl_nexus", run_command=("python", "run.py", "{runspec}")).script_in_snapshot() \
        == "rl_nexus/run.py"
    assert Layout(run_command=("python3", "-u", "tools/go.py", "{runspec}")).script_in_snapshot() == "tools/go.py"
    assert Layout(run_command=("python", "-m", "pkg.run", "{runspec}")).script() is None
    assert Layout(working_dir="a", run_command=("../run.py", "{runspec}")).script_in_snapshot() == "run.py"
