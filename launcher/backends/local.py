"""The embedded local backend: child runs as processes on this machine.

submit() starts a detached supervisor process (launcher.backends.local_supervisor) in its own session, so the
job survives the command that launched it. The supervisor runs each child through the agent, at most
runs_per_node at once per node (parent run) and at most `capacity` at once on this machine across all jobs:
the machine's slots are lock files in <store>/slots/<target>/ held with flock while a run is running, so jobs
beyond capacity wait their turn and a crashed supervisor frees its slots automatically.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from launcher.backends.base import Backend
from launcher.diagnostics import LauncherError
from launcher.jobs import records as R
from launcher.jobs.plan import JobPlan

SUPERVISOR_START_TIMEOUT = 20.0
CANCEL_WAIT = 15.0


def capacity_of(target) -> int:
    return int(target.settings.get("capacity") or os.cpu_count() or 1)


class LocalBackend(Backend):
    name = "local"

    @property
    def root(self) -> Path:
        return Path(self.store.root)

    def submit(self, plan: JobPlan) -> None:
        log_path = self.root / "jobs" / plan.job / "supervisor.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "launcher.backends.local_supervisor", "--store", str(self.root),
                "--target", self.target.name, "--capacity", str(capacity_of(self.target)), plan.job]
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, cwd=self.config.project_dir if self.config else None)
        except OSError as exc:
            raise LauncherError(f"the local supervisor for {plan.job} could not be started: {exc}",
                                hint=f"check that the store folder {self.root} is writable") from None
        # Wait for the supervisor's first heartbeat, so a supervisor that cannot start fails the launch
        # (and leaves no orphaned job) instead of leaving runs queued forever.
        deadline = time.monotonic() + SUPERVISOR_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.store.exists(R.job_key(plan.job, "supervisor.json")):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise LauncherError(f"the local supervisor for {plan.job} did not start",
                            hint=" | ".join(tail) or f"see {log_path}")

    def discard(self, plan: JobPlan) -> None:
        """As Backend.discard, and the folders too (the supervisor's log, empty run folders)."""
        import shutil

        super().discard(plan)
        from launcher.shared_code import remove_tree

        shutil.rmtree(self.root / "jobs" / plan.job, ignore_errors=True)
        remove_tree(self.root / "work" / ".code" / plan.job)
        for run in [*plan.parents, *(c.name for c in plan.children)]:
            for folder in (self.root / "runs" / run, self.root / "work" / run):
                shutil.rmtree(folder, ignore_errors=True)

    def _stop(self, job: str) -> None:
        """The supervisor sees the cancel marker and stops its runs; if it is gone, stop them here."""
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            sup = self.store.read_json(R.job_key(job, "supervisor.json")) or {}
            if sup.get("finished") or not R.pid_alive(sup.get("pid")) or sup.get("host") != R.hostname():
                break
            time.sleep(0.1)
        else:  # a hung supervisor: stop it and its runs ourselves
            sup = self.store.read_json(R.job_key(job, "supervisor.json")) or {}
            _kill(sup.get("pid"), group=False)
        from launcher.jobs.status import child_names

        for name in child_names(self.store, job):
            rec = self.store.read_json(R.run_key(name)) or {}
            if rec.get("status") == R.RUNNING and rec.get("host") == R.hostname():
                _kill(rec.get("pid"), group=True)


def _kill(pid: int | None, *, group: bool) -> None:
    if not pid:
        return
    try:
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
