"""The rl_nexus-layout test project launched on an azure-batch target (Batch test server + Azurite), from
inside rl_nexus/: runs start in the snapshot's rl_nexus/, import through the root, log through the drop-in
xtlib.run, and read $datastore from the XT_DATA_DIR that the node provides."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.azure.azure_backend_support import AzureProject, git, harness_target
from tests.conftest import REPO

pytestmark = pytest.mark.slow
TEMPLATE = REPO / "tests" / "rl_nexus_project" / "template"


@pytest.fixture
def nexus(tmp_path, batch_server, azurite):
    import uuid

    root = tmp_path / "checkout"
    shutil.copytree(TEMPLATE, root)
    container = "t" + uuid.uuid4().hex[:12]
    target = harness_target(batch_server, azurite, container)
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + "\n" + target)
    spec = root / "rl_nexus" / "specs" / "x.yaml"
    spec.write_text(spec.read_text().replace("compute_target: local", "compute_target: azb-cpu"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    # What the node side provides (the datastore container as a folder, named by XT_DATA_DIR on the node).
    datastore = tmp_path / "node-datastore"
    datastore.mkdir()
    (datastore / "offset.txt").write_text("0.25\n")
    batch_server.service.node_env["XT_DATA_DIR"] = str(datastore)
    yield AzureProject(root, batch_server, azurite, container)
    batch_server.service.node_env.pop("XT_DATA_DIR", None)


def test_rl_nexus_project_launches_on_batch_and_reports_its_logged_metrics(nexus):
    import json
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "launcher", "launch", "specs/x.yaml", "--format", "json"],
                          cwd=nexus.root / "rl_nexus", capture_output=True, text=True, timeout=300, env=nexus.env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = json.loads(proc.stdout)["job"]
    assert nexus.wait(job, timeout=180)["status"] == "completed"
    runs = nexus.json("runs", job, "--target", "azb-cpu")["runs"]
    assert len(runs) == 3
    for r in runs:
        rate = r["hparams"]["rate"]
        assert r["status"] == "completed"
        assert r["metrics"]["s1-rew"] == pytest.approx(rate + 0.25)  # read from the node's datastore
        assert r["hpmax"] == pytest.approx(rate + 0.25)
    console = nexus.store().read_text(f"runs/{runs[0]['run']}/console.txt")
    assert "read offset 0.25 from the datastore" in console
