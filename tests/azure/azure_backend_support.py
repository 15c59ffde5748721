"""Helpers for the Azure backend's tests: a real git project whose `azb-cpu` target points at the Batch test
server and Azurite (shared-key auth, keys in environment variables), and the launcher CLI as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PYPROJECT = """\
[project]
name = "demo-experiments"
version = "0"

[tool.launcher]
workspace = "ws1"

[tool.launcher.targets.azb-cpu]
backend = "azure-batch"
batch_endpoint = "${{TEST_BATCH_ENDPOINT}}"
env_allow = ["TEST_BATCH_ENDPOINT"]
batch_account = "{batch_account}"
storage_account_url = "{storage_url}"
container = "{container}"
auth = "shared-key"
batch_key_env = "TEST_BATCH_KEY"
storage_key_env = "TEST_STORAGE_KEY"
vm_size = "Standard_D2s_v3"
image = {{ publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }}
node_agent_sku = "batch.node.ubuntu 22.04"
setup = ["echo node setup"]
python = "{python}"
max_wall_clock = "30m"
max_retries = 2
mirror_interval = 0.3
price_per_node_hour = {{ dedicated = 0.1, spot = 0.02 }}
"""


def git(project: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True, text=True).stdout


class AzureProject:
    """A project folder (a git repo) with an azure-batch target on the test services."""

    def __init__(self, root: Path, batch, azurite, container: str) -> None:
        self.root, self.batch, self.azurite, self.container = root, batch, azurite, container

    def env(self, **extra: str) -> dict:
        env = dict(os.environ)
        env.pop("GITHUB_ACTIONS", None)
        env.pop("ACTIONS_ID_TOKEN_REQUEST_URL", None)
        env.update(TEST_BATCH_ENDPOINT=self.batch.endpoint, TEST_BATCH_KEY=self.batch.key,
                   TEST_STORAGE_KEY=self.azurite.account_key, LAUNCHER_AZURE_RETRY_BACKOFF="0.05")
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = 240, check: bool = False, **env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "launcher", *map(str, args)], cwd=self.root,
                              capture_output=True, text=True, timeout=timeout, env=self.env(**env))
        if check and proc.returncode != 0:
            raise AssertionError(f"launcher {' '.join(map(str, args))} -> {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--format", "json", check=True).stdout)

    def store(self):
        from azure.core.credentials import AzureNamedKeyCredential

        from launcher.store.azure_blob import AzureBlobStore

        return AzureBlobStore(f"{self.azurite.account_url}/{self.container}",
                              AzureNamedKeyCredential(self.azurite.account_name, self.azurite.account_key))

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        git(self.root, "add", rel)
        git(self.root, "commit", "-q", "-m", f"add {rel}")
        return path

    def ledger_rows(self) -> list[str]:
        path = self.root / "jobs.md"
        if not path.is_file():
            return []
        return [line for line in path.read_text().splitlines() if line.startswith("| job")]

    def wait(self, job: str, *, timeout: float = 120, until=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            summary = self.json("status", job, "--target", "azb-cpu")
            if until(summary) if until else summary["status"] in ("completed", "failed", "cancelled"):
                return summary
            if time.monotonic() > deadline:
                raise AssertionError(f"{job} did not get there in {timeout}s: {summary}")
            time.sleep(0.3)


def make_project(root: Path, batch, azurite, *, runspecs=("xt_walk_through.yaml",)) -> AzureProject:
    container = "t" + uuid.uuid4().hex[:12]
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(PYPROJECT.format(
        batch_account=batch.account, storage_url=azurite.account_url, container=container, python=sys.executable),
        encoding="utf-8")
    (root / ".gitignore").write_text(".launcher/\n/results/\n", encoding="utf-8")
    (root / "runspecs").mkdir()
    for name in runspecs:
        # the examples target `local` (a pull request to this repository launches without an account); here
        # they launch on this project's Azure target
        text = (REPO / "runspecs" / name).read_text(encoding="utf-8")
        (root / "runspecs" / name).write_text(text.replace("compute_target: local", "compute_target: azb-cpu"),
                                              encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return AzureProject(root, batch, azurite, container)


TINY = """\
description: tiny azure job
component: root/Root_Component
cuda: false
log_to_tensorboard: false
experiment_path: <experiment_path>
job_launcher:
  component: job_launchers/XT
  enabled: 1
  hp_tuning: false
  total_runs: {total_runs}
  compute_nodes: {nodes}
  runs_per_node: {per_node}
  compute_target: azb-cpu
  low_priority: {low_priority}
  hold: {hold}
string_replacements:
  <experiment_path>: ../results/tiny
forward_definitions:
  - environment: &env
      component: environments/Maze_Env
      agent_placement_seed: randint
processing_stages:
  - processing_stage:
      component: processors/RL_Proc
      environment: *env
      max_iterations: {iters}
      iters_per_report: {report}
"""


def tiny_runspec(*, total_runs=2, nodes=1, per_node=2, low_priority="false", hold="false", iters=1000,
                 report=100) -> str:
    return TINY.format(total_runs=total_runs, nodes=nodes, per_node=per_node, low_priority=low_priority, hold=hold,
                       iters=iters, report=report)
