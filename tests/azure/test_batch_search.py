"""DGD and Bayesian searches on the Azure path (Batch test server running tasks as processes, Azurite holding the store):
4 nodes x 4 slots, every run pulling its assignment through the blob store's compare-and-swap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.azure.azure_backend_support import make_project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from test_hp_search_local import OPT, add_objective_component, objective, search_runspec  # noqa: E402

from launcher.hpsearch.assign import read_state  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["dgd", "bayesian"])
def test_a_search_on_4_nodes_of_4_slots_records_every_assignment_once_and_replays(tmp_path, batch_server, azurite,
                                                                                   method):
    if method == "bayesian":
        pytest.importorskip("optuna", reason="hp_tuning: bayesian needs the search extra (Optuna)")
    project = make_project(tmp_path / "experiments", batch_server, azurite, runspecs=())
    add_objective_component(project)
    total = 20  # 16 start at once on the 16 slots; the last 4 start after some ended, so they learn from them
    project.write("runspecs/search.yaml", search_runspec(method, total_runs=total, nodes=4, per_node=4)
                  .replace("compute_target: local", "compute_target: azb-cpu"))
    job = json.loads(project.cli("launch", "runspecs/search.yaml", "--detach", "--format", "json", check=True,
                                 timeout=300).stdout)["job"]
    summary = project.wait(job, timeout=900)
    assert summary["status"] == "completed", summary

    store = project.store()
    state = read_state(store, job)
    entries = state["assignments"]
    assert sorted(e["number"] for e in entries) == list(range(total))  # no assignment given twice, none lost
    runs = project.json("runs", job, "--target", "azb-cpu")["runs"]
    assert sorted(e["run"] for e in entries) == sorted(r["run"] for r in runs)
    by_run = {r["run"]: r for r in runs}
    for e in entries:
        assert by_run[e["run"]]["hparams"] == e["hparams"] and by_run[e["run"]]["hpmax"] == objective(e["hparams"])
    assert any(e["known"] > 0 for e in entries)  # later runs did learn from earlier ones

    # The search's decisions, replayed here from the recorded results and seed, are the ones the nodes made.
    analysis = project.json("search", job, "--target", "azb-cpu")
    assert analysis["replay"] == [] and analysis["completed"] == total
    assert objective(analysis["best"]["best"]) == max(objective(e["hparams"]) for e in entries)
    assert set(analysis["best"]["best"]) == set(OPT)
