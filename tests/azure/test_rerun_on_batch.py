"""`launcher rerun` onto an Azure target: the original job's snapshot is copied from the local store into the
blob store (Azurite) and the run happens on the Batch test server with that code, not the current commit's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.azure.azure_backend_support import git, make_project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from test_hp_search_local import add_objective_component, search_runspec  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_local_run_rerun_on_batch_runs_the_original_code(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "experiments", batch_server, azurite, runspecs=())
    add_objective_component(project)
    project.write("runspecs/grid.yaml", search_runspec("grid", total_runs=1))
    project.cli("launch", "runspecs/grid.yaml", "--target", "local", check=True, timeout=300)
    local = json.loads((project.root / ".launcher" / "runs" / "run1.1" / "run.json").read_text())
    first = json.loads((project.root / ".launcher" / "jobs" / "job1" / "job.json").read_text())
    assert local["status"] == "completed"
    code = project.root / "components/processors/Objective_Proc/Objective_Proc.py"
    code.write_text(code.read_text().replace("return 100.0 - ", "return -900.0 - "))
    git(project.root, "commit", "-qam", "change the objective")

    store = project.store()
    assert not store.exists(first["code_key"])  # the blob store never had the original code
    out = json.loads(project.cli("rerun", "run1.1", "--target", "azb-cpu", "--format", "json", check=True,
                                 timeout=600).stdout)
    assert out["summary"]["status"] == "completed", out
    (again,) = project.json("runs", out["job"], "--target", "azb-cpu")["runs"]
    assert again["hpmax"] == local["hpmax"]  # the original objective, run on a Batch node
    job = store.read_json(f"jobs/{out['job']}/job.json")
    assert job["code_key"] == first["code_key"] and job["commit"] == first["commit"] and store.exists(job["code_key"])
    assert job["rerun_of"]["target"] == "local" and job["target"] == "azb-cpu"
