"""Running one Batch task on a simulated compute node, as a local process.

What a node agent does for a task, in order: download ``resourceFiles`` into the working directory,
run ``commandLine`` (split with shlex, never through a shell) with stdout/stderr going to
``stdout.txt``/``stderr.txt`` one level above the working directory, retry a non-zero exit up to the
retry limit, kill it at ``maxWallClockTime``, then upload ``outputFiles`` according to their upload
condition. This module knows nothing about HTTP or the service's bookkeeping: it gets a
``TaskRun`` (a snapshot taken by the service) and a ``TaskHandle`` (to report retries and to be
killed), and returns an ``Outcome``.
"""

from __future__ import annotations

import glob
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import blob_http
from .blob_http import TransferError

WILDCARDS = set("*?[")


@dataclass
class TaskRun:
    """Everything needed to run one task once it has a node (a snapshot: no shared state)."""

    task_id: str
    task_dir: Path
    command_line: str
    env: dict[str, str]
    resource_files: list[dict] = field(default_factory=list)
    output_files: list[dict] = field(default_factory=list)
    max_wall_clock: float | None = None  # seconds
    max_retries: int = 0  # -1 = unlimited

    @property
    def working_dir(self) -> Path:
        return self.task_dir / "wd"


@dataclass
class Outcome:
    """How a run ended. ``requeue``: the node went away (preemption); the task goes back to active."""

    requeue: bool = False
    exit_code: int | None = None
    failure: dict | None = None

    @property
    def result(self) -> str:
        return "failure" if self.failure else "success"


class TaskHandle(Protocol):
    def attach(self, process: subprocess.Popen) -> bool:
        """Register the running process; False when a kill was already requested."""

    def detach(self) -> None: ...

    @property
    def kill_reason(self) -> str | None:
        """None, "preempt" (requeue) or "terminate" (task or job terminated / deleted)."""

    def retried(self) -> None:
        """Count one retry (the service shows retryCount while the task runs)."""


def failure(code: str, message: str, category: str = "usererror") -> dict:
    return {"category": category, "code": code, "message": message, "details": [{"name": "Message", "value": message}]}


def run_task(run: TaskRun, handle: TaskHandle) -> Outcome:
    run.working_dir.mkdir(parents=True, exist_ok=True)
    try:
        for resource in run.resource_files:
            fetch_resource_file(resource, run.working_dir)
    except TransferError as exc:
        return Outcome(failure=failure(exc.code, str(exc)))

    outcome = _run_attempts(run, handle)
    if outcome.requeue:
        return outcome
    try:
        upload_output_files(run, outcome)
    except TransferError as exc:
        outcome.failure = failure(exc.code, str(exc))
    return outcome


def _run_attempts(run: TaskRun, handle: TaskHandle) -> Outcome:
    try:
        argv = shlex.split(run.command_line)
    except ValueError as exc:
        return Outcome(failure=failure("CommandLaunchFailed", f"The command line cannot be parsed: {exc}"))
    if not argv:
        return Outcome(failure=failure("CommandLaunchFailed", "The command line is empty."))
    deadline = time.monotonic() + run.max_wall_clock if run.max_wall_clock is not None else None
    retries = 0
    while True:
        exit_code, timed_out = _run_once(run, argv, handle, deadline)
        if exit_code is None:  # the program could not be started
            return Outcome(failure=failure("CommandProgramNotFound", f"The program {argv[0]!r} was not found."))
        reason = handle.kill_reason
        if reason == "preempt":
            return Outcome(requeue=True)
        if reason == "terminate":
            return Outcome(exit_code=exit_code, failure=failure("TaskEnded", "The task was terminated by a request to terminate it or its job."))
        if timed_out:
            return Outcome(exit_code=exit_code, failure=failure("TaskEnded", "The task exceeded its maximum wall clock time and was terminated."))
        if exit_code == 0:
            return Outcome(exit_code=0)
        if run.max_retries != -1 and retries >= run.max_retries:
            return Outcome(exit_code=exit_code, failure=failure("FailureExitCode", "The task process exited with an unexpected exit code."))
        retries += 1
        handle.retried()


def _run_once(run: TaskRun, argv: list[str], handle: TaskHandle, deadline: float | None) -> tuple[int | None, bool]:
    """One attempt: returns (exit code or None if it could not start, whether the deadline hit)."""
    with open(run.task_dir / "stdout.txt", "wb") as out, open(run.task_dir / "stderr.txt", "wb") as err:
        try:
            process = subprocess.Popen(
                argv,
                cwd=run.working_dir,
                env=run.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, so a kill reaches its children too
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            return None, False
        if not handle.attach(process):
            kill_process_group(process)
        timed_out = False
        try:
            process.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_process_group(process)
            process.wait()
        finally:
            handle.detach()
    code = process.returncode
    # A process killed by a signal reports -signal in Python; a Linux node reports 128 + signal.
    return (128 - code if code < 0 else code), timed_out


def kill_process_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ------------------------------------------------------------------------------------ resource files
def fetch_resource_file(resource: dict, working_dir: Path) -> None:
    file_path = resource.get("filePath") or ""
    if resource.get("httpUrl"):
        if not file_path:
            raise TransferError("ResourceFileCreateFailed", "A resource file with httpUrl needs a filePath.")
        target = blob_http.safe_join(working_dir, file_path)
        blob_http.download(resource["httpUrl"], target)
        _apply_mode(target, resource.get("fileMode"))
    elif resource.get("storageContainerUrl"):
        container = resource["storageContainerUrl"]
        # Blob names keep their full path (prefix included) under filePath, as on a real node.
        for name in blob_http.list_blobs(container, resource.get("blobPrefix") or ""):
            target = blob_http.safe_join(working_dir, os.path.join(file_path, name))
            blob_http.download(blob_http.blob_url(container, name), target)
            _apply_mode(target, resource.get("fileMode"))
    else:
        raise TransferError(
            "BlobDownloadMiscError",
            "The test server supports resource files with httpUrl or storageContainerUrl only.",
        )


def _apply_mode(target: Path, mode: str | None) -> None:
    if mode:
        os.chmod(target, int(mode, 8))


# ---------------------------------------------------------------------------------------- output files
def upload_output_files(run: TaskRun, outcome: Outcome) -> None:
    succeeded = outcome.failure is None
    for spec in run.output_files:
        condition = (spec.get("uploadOptions") or {}).get("uploadCondition", "").lower()
        if condition == "tasksuccess" and not succeeded or condition == "taskfailure" and succeeded:
            continue
        container = (spec.get("destination") or {}).get("container") or {}
        headers = {h["name"]: h["value"] for h in container.get("uploadHeaders") or []}
        for path, blob_name in match_output_files(run.working_dir, spec["filePattern"], container.get("path")):
            blob_http.upload(path, blob_http.blob_url(container["containerUrl"], blob_name), headers)


def match_output_files(working_dir: Path, pattern: str, dest_path: str | None) -> list[tuple[Path, str]]:
    """Files matching ``pattern`` (relative to the working dir) and the blob name for each.

    Batch rules: a pattern without wildcards names one file and ``path`` is its blob name; a pattern
    with wildcards keeps each file's path below the pattern's fixed leading folders, under ``path``
    as a virtual folder.
    """
    full = os.path.normpath(os.path.join(working_dir, pattern))
    files = sorted(Path(p) for p in glob.glob(full, recursive=True) if os.path.isfile(p))
    if not any(ch in pattern for ch in WILDCARDS):
        return [(f, dest_path or f.name) for f in files]
    fixed: list[str] = []
    for part in Path(pattern).parts:
        if any(ch in part for ch in WILDCARDS):
            break
        fixed.append(part)
    base = os.path.normpath(os.path.join(working_dir, *fixed))
    prefix = (dest_path or "").strip("/")
    result = []
    for f in files:
        relative = os.path.relpath(f, base).replace(os.sep, "/")
        result.append((f, f"{prefix}/{relative}" if prefix else relative))
    return result
