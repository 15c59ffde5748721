"""Adaptive searches on the local backend: runs pull their assignment when they start, from the results so far.

The objective is tests/jobs/components/processors/Objective_Proc: 100 minus the steps from a known optimum, no
noise, so a run is as cheap as the launcher's start-up and every run's true value is known."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from jobs_project import git

from launcher.hpsearch.assign import inputs, read_state
from launcher.store.local import LocalStore


HERE = Path(__file__).resolve().parent
OPT = {"a": 6, "b": 2, "c": 5}
VALUES = list(range(1, 9))


def objective(hp: dict) -> float:
    return 100.0 - sum(abs(int(hp[k]) - v) for k, v in OPT.items())


def search_runspec(method: str, *, total_runs: int, nodes: int = 1, per_node: int = 1) -> str:
    hps = "".join(f"  - name: &{n}\n      ordered_tuning_values: {VALUES}\n      tuned_value: 1\n" for n in OPT)
    return f"""\
description: {method} search over a known objective
component: root/Root_Component
experiment_path: ../results/search
job_launcher:
  component: job_launchers/XT
  enabled: 1
  hp_tuning: {method}
  total_runs: {total_runs}
  compute_nodes: {nodes}
  runs_per_node: {per_node}
  compute_target: local
hyperparameters:
{hps}
processing_stages:
  - processing_stage:
      component: processors/Objective_Proc
      a: *a
      b: *b
      c: *c
      d: 3
"""


def add_objective_component(project) -> None:
    shutil.copytree(HERE / "components", project.root / "components")
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('workspace = "ws1"',
                                                       'workspace = "ws1"\ncomponent_roots = ["components"]'))
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "objective component")


def test_dgd_runs_pull_their_assignments_when_they_start_and_the_search_replays(project):
    add_objective_component(project)
    total = 8
    project.write("runspecs/dgd.yaml", search_runspec("dgd", total_runs=total, per_node=2))
    lint = project.cli("lint", "runspecs/dgd.yaml", "--format", "json", check=True)
    assert not {d["code"] for f in json.loads(lint.stdout)["files"] for d in f["diagnostics"]} & {"LR043", "LR044"}
    launched = json.loads(project.cli("launch", "runspecs/dgd.yaml", "--detach", "--format", "json",
                                      check=True).stdout)
    job = launched["job"]
    plan = project.read(f"jobs/{job}/plan.json")
    assert all(c["hparams"] == {} for c in plan["children"]) and plan["search"]["method"] == "dgd"
    summary = project.wait(job, timeout=300)
    assert summary["status"] == "completed", summary

    state = read_state(LocalStore(project.store), job)
    entries = sorted(state["assignments"], key=lambda e: e["number"])
    runs = {c["name"]: project.read(f"runs/{c['name']}/run.json") for c in plan["children"]}
    # every run pulled exactly one assignment, numbered 0..total-1, and its record and repro_spec say what ran
    assert [e["number"] for e in entries] == list(range(total))
    assert sorted(e["run"] for e in entries) == sorted(runs)
    for e in entries:
        rec = runs[e["run"]]
        assert rec["hparams"] == e["hparams"] and rec["hpmax"] == objective(e["hparams"])
        repro = yaml.safe_load((project.store / "runs" / e["run"] / "repro_spec.yaml").read_text())
        stage = repro["processing_stages"][0]["processing_stage"]
        assert {k: stage[k] for k in OPT} == e["hparams"]
    # two slots: the first runs start with nothing to go on; later ones knew results, and then each decision is
    # a step of at most one value in one hyperparameter from the best so far (DGD's neighbourhood)
    assert entries[0]["known"] == 0 and entries[-1]["known"] > 0
    for e in entries:
        results, _pending = inputs(entries, known=e["known"], before=e["number"])
        if results:
            top = max(results, key=lambda r: r[1])[0]  # no noise: the best estimate is the best result
            steps = sorted(abs(e["hparams"][k] - top[k]) for k in OPT)
            assert steps[:-1] == [0, 0] and steps[-1] <= 1, (e, top)

    analysis = project.json("search", job)
    assert analysis["replay"] == [] and analysis["completed"] == total
    best_value = max(objective(e["hparams"]) for e in entries)
    # the best configuration is the best result; its estimate is shrunk towards the mean (no replicate says the
    # objective has no noise)
    assert objective(analysis["best"]["best"]) == best_value and analysis["best"]["est_hpmax"] <= best_value
    text = project.cli("search", job, "--changes", check=True).stdout
    assert "BEST FOR" in text and "EST HPMAX" in text and "every assignment reproduced" in text


def _slow_objective(project, seconds: float) -> None:
    """The objective component of the test project, each run taking `seconds` (its `delay` setting)."""
    folder = project.root / "components" / "processors" / "Objective_Proc"
    code = folder / "Objective_Proc.py"
    code.write_text(code.read_text().replace("from __future__ import annotations\n",
                                             "from __future__ import annotations\n\nimport time\n")
                    .replace("        self.reporter.define(",
                             "        time.sleep(float(self.settings['delay']))\n        self.reporter.define("))
    spec = folder / "Objective_Proc.yaml"
    spec.write_text(spec.read_text() + f"delay: {seconds}  # seconds a run takes\n")
    git(project.root, "commit", "-qam", "a slow objective")


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_cancel_stops_an_adaptive_search_cleanly(project, method):
    if method == "bayesian":
        pytest.importorskip("optuna", reason="hp_tuning: bayesian needs the search extra (Optuna)")
    add_objective_component(project)
    _slow_objective(project, 3)
    total = 12
    project.write("runspecs/s.yaml", search_runspec(method, total_runs=total, per_node=2))
    job = json.loads(project.cli("launch", "runspecs/s.yaml", "--detach", "--format", "json", check=True).stdout)["job"]
    project.wait(job, timeout=300, until=lambda s: s["runs_completed"] >= 2 and s["runs_running"] >= 1)
    cancel = project.cli("cancel", job, "--format", "json", check=True)
    assert json.loads(cancel.stdout)["cancelled_runs"], cancel.stdout  # it stopped runs that were running
    store = LocalStore(project.store)
    pulled = read_state(store, job)["assignments"]
    summary = project.wait(job, timeout=60)
    assert summary["status"] == "cancelled" and summary["runs_running"] == 0 and summary["runs_queued"] == 0

    # no assignment after the cancel: the supervisor had stopped when cancel returned, and nothing pulls since
    entries = read_state(store, job)["assignments"]
    assert entries == pulled and [e["number"] for e in entries] == list(range(len(entries))) and len(entries) < total
    runs = {r["run"]: r for r in project.json("runs", job)["runs"]}
    assert len(runs) == total
    by_run = {e["run"]: e for e in entries}
    for name, run in runs.items():
        rec = project.read(f"runs/{name}/run.json")
        if name in by_run:  # it started and pulled: its record says what it ran, and it ran to an end
            assert rec["hparams"] == by_run[name]["hparams"] and rec.get("started")
            assert rec["status"] in ("completed", "cancelled"), rec
            assert (rec["status"] == "completed") == (rec.get("hpmax") is not None)
            if rec["status"] == "cancelled" and rec.get("pid"):
                with pytest.raises(ProcessLookupError):  # its process group is gone
                    os.killpg(rec["pid"], 0)
        else:  # never started: cancelled before it pulled anything
            assert rec["status"] == "cancelled" and not rec.get("hparams") and not rec.get("started"), rec
    assert any(r["status"] == "cancelled" and r["run"] in by_run for r in runs.values())  # one was stopped running

    # the search is still readable and replays: cancelled runs gave no result and every decision reproduces
    analysis = project.json("search", job)
    assert analysis["replay"] == [] and analysis["completed"] == sum(r["status"] == "completed" for r in runs.values())
    assert analysis["failed"] == total - analysis["completed"]
    assert "every assignment reproduced" in project.cli("search", job, check=True).stdout
