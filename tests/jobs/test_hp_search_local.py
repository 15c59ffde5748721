"""Adaptive searches on the local backend: runs pull their assignment when they start, from the results so far.

The objective is tests/jobs/components/processors/Objective_Proc: 100 minus the steps from a known optimum, no
noise, so a run is as cheap as the launcher's start-up and every run's true value is known."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
