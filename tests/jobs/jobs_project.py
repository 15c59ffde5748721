"""Helpers for job tests: a real git project in tmp_path with the repo's example runspecs, the launcher CLI as
real processes, and clean-up of every process a test's jobs started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from launcher.backends.local import _kill  # the backend's own kill, so tests stop runs exactly as cancel does
from tests.projects import (PACKAGE, REPO, example_runspecs, git, init_project, launcher_table, status_here,  # noqa: F401
                            local_target, tiny_runspec)

def pyproject(capacity: int) -> str:
    return PACKAGE + launcher_table() + local_target("local", capacity=capacity) + local_target("one-slot", capacity=1)


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / ".launcher"

    def write(self, rel: str, text: str, *, commit: bool = True) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if commit:
            git(self.root, "add", rel)
            git(self.root, "commit", "-q", "-m", f"add {rel}")
        return path

    def cli(self, *args: str, timeout: float = 240, check: bool = False,
            env: dict | None = None) -> subprocess.CompletedProcess:
        """`launcher ARGS` as a real process in the project (env: extra environment variables)."""
        proc = subprocess.run([sys.executable, "-m", "launcher", *map(str, args)], cwd=self.root,
                              capture_output=True, text=True, timeout=timeout, env={**cli_env(), **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"launcher {' '.join(map(str, args))} -> {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        proc = self.cli(*args, "--format", "json", check=True)
        return json.loads(proc.stdout)

    def read(self, key: str):
        path = self.store / key
        return json.loads(path.read_text()) if path.is_file() else None

    def ledger_rows(self) -> list[str]:
        path = self.root / "jobs.md"
        if not path.is_file():
            return []
        return [line for line in path.read_text().splitlines() if line.startswith("| job") and "launched" not in line]

    def wait(self, job: str, *, timeout: float = 120, until=None) -> dict:
        """Poll `launcher status JOB` (in this process) until the job ended (or `until(summary)` holds)."""
        deadline = time.monotonic() + timeout
        while True:
            summary = status_here(job, self.root, cli_env())
            if (until(summary) if until else summary["status"] in ("completed", "failed", "cancelled")):
                return summary
            if time.monotonic() > deadline:
                raise AssertionError(f"{job} did not get there in {timeout}s: {summary}")
            time.sleep(0.3)

    def wait_supervisor_gone(self, job: str, *, timeout: float = 60) -> None:
        """Until the job's supervisor wrote its last record and exited. A followed launch returns once the job
        has ended, while its supervisor may still be removing the job's code tree and writing supervisor.json."""
        deadline = time.monotonic() + timeout
        while True:
            sup = self.read(f"jobs/{job}/supervisor.json") or {}
            if sup.get("finished") and not _running(sup.get("pid")):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the supervisor of {job} did not finish in {timeout}s: {sup}")
            time.sleep(0.05)

    def wait_run(self, run: str, predicate, *, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            rec = self.read(f"runs/{run}/run.json") or {}
            if predicate(rec):
                return rec
            if time.monotonic() > deadline:
                raise AssertionError(f"{run} did not get there in {timeout}s: {rec}")
            time.sleep(0.1)


def _running(pid) -> bool:
    """Whether pid is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError, ValueError):
        return False


def cli_env() -> dict:
    env = dict(os.environ)
    env["LAUNCHER_MIRROR_INTERVAL"] = "0.3"  # mirror often: tests look at mirrored files of short runs
    env["LAUNCHER_FOLLOW_INTERVAL"] = "0.1"  # a followed launch returns as soon as its short job ended
    env.pop("GITHUB_ACTIONS", None)  # the ledger's origin is 'local: <user>' here, also in CI
    # A CI job that can mint an OIDC token makes local launches refuse; the tests that want that set it.
    env.pop("ACTIONS_ID_TOKEN_REQUEST_URL", None)
    env.pop("LAUNCHER_ALLOW_LOCAL_WITH_TOKEN", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def make_project(root: Path, *, capacity: int = 4) -> Project:
    init_project(root, pyproject(capacity), example_runspecs("xt_walk_through.yaml", "random_search.yaml",
                                                             "grid_search.yaml"))
    return Project(root)


def stop_everything(proj: Project) -> None:
    """Kill what the test's jobs left running: supervisors and run process groups (recorded pids only)."""
    for sup in proj.store.glob("jobs/*/supervisor.json"):
        data = json.loads(sup.read_text())
        if not data.get("finished") and data.get("pid"):
            _kill(data["pid"], group=False)
    for rec_path in proj.store.glob("runs/*/run.json"):
        rec = json.loads(rec_path.read_text())
        if rec.get("status") == "running" and rec.get("pid"):
            _kill(rec["pid"], group=True)

