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

from tests import projects
from tests.projects import (PACKAGE, REPO, azure_target, example_runspecs, git, init_project, launcher_table,
                            status_here)

#: what the harness target adds to the shared shape: its endpoint allowed from the environment, a node setup, retries
#: and a price (the cost line)
HARNESS_EXTRA = """\
env_allow = ["TEST_BATCH_ENDPOINT"]
setup = ["echo node setup"]
max_retries = 2
price_per_node_hour = { dedicated = 0.1, spot = 0.02 }
"""


def harness_target(batch, azurite, container: str) -> str:
    """The `azb-cpu` target on the Batch test server and Azurite, its endpoint in TEST_BATCH_ENDPOINT."""
    return azure_target("azb-cpu", endpoint="${TEST_BATCH_ENDPOINT}", account=batch.account,
                        storage_url=azurite.account_url, container=container, python=sys.executable,
                        extra=HARNESS_EXTRA)


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

    def status(self, job: str) -> dict:
        """`launcher status JOB --target azb-cpu --format json`, in this process (see projects.status_here)."""
        return status_here(job, self.root, self.env(), target="azb-cpu")

    def wait(self, job: str, *, timeout: float = 120, until=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            summary = self.status(job)
            if until(summary) if until else summary["status"] in ("completed", "failed", "cancelled"):
                return summary
            if time.monotonic() > deadline:
                raise AssertionError(f"{job} did not get there in {timeout}s: {summary}")
            time.sleep(0.3)


def make_project(root: Path, batch, azurite, *, runspecs=("xt_walk_through.yaml",)) -> AzureProject:
    container = "t" + uuid.uuid4().hex[:12]
    init_project(root, PACKAGE + launcher_table() + harness_target(batch, azurite, container),
                 example_runspecs(*runspecs, target="azb-cpu"))
    return AzureProject(root, batch, azurite, container)


def tiny_runspec(*, total_runs=2, nodes=1, per_node=2, low_priority="false", hold="false", iters=1000,
                 report=100) -> str:
    return projects.tiny_runspec(description="tiny azure job", target="azb-cpu", total_runs=total_runs, nodes=nodes,
                                 per_node=per_node, low_priority=low_priority, hold=hold, iters=iters, report=report)
