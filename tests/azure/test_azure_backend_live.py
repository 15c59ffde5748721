"""One launch against a real Azure account. Runs only when LAUNCHER_LIVE_AZURE=1 and the account's variables
are set (the only test allowed to skip); it costs a few node-minutes.

    LAUNCHER_LIVE_AZURE=1 AZURE_BATCH_ENDPOINT=https://acct.region.batch.azure.com \
    AZURE_STORAGE_ACCOUNT_URL=https://acct.blob.core.windows.net  pytest -m live tests/azure
(authentication: DefaultAzureCredential, e.g. after `az login`, or GitHub OIDC in Actions)
"""

from __future__ import annotations

import os

import pytest

from tests.azure.azure_backend_support import git, tiny_runspec

NEEDED = ("LAUNCHER_LIVE_AZURE", "AZURE_BATCH_ENDPOINT", "AZURE_STORAGE_ACCOUNT_URL")

LIVE_PYPROJECT = """\
[project]
name = "live-check"
version = "0"

[tool.launcher]
workspace = "live"

[tool.launcher.targets.azb-cpu]
backend = "azure-batch"
container = "launcher-live"
vm_size = "Standard_D2s_v3"
image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }
node_agent_sku = "batch.node.ubuntu 22.04"
setup = ["apt-get update -qq && apt-get install -y -qq python3-pip",
         "python3 -m pip install -q pyyaml jsonschema fastjsonschema rich azure-storage-blob"]
max_wall_clock = "45m"
max_retries = 1
"""


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.skipif(not all(os.environ.get(n) for n in NEEDED),
                    reason=f"live Azure test: set {', '.join(NEEDED)} to run it")
def test_a_tiny_job_runs_on_real_azure_batch(tmp_path):
    import json
    import subprocess
    import sys

    root = tmp_path / "live"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(LIVE_PYPROJECT, encoding="utf-8")
    (root / "runspecs").mkdir()
    (root / "runspecs" / "tiny.yaml").write_text(tiny_runspec(total_runs=2, per_node=2), encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    proc = subprocess.run([sys.executable, "-m", "launcher", "launch", "runspecs/tiny.yaml", "--format", "json"],
                          cwd=root, capture_output=True, text=True, timeout=2700)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["summary"]["status"] == "completed" and result["summary"]["runs_completed"] == 2
