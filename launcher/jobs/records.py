"""The shapes of the records a job leaves in the store, and the keys they live under.

    jobs/<job>/job.json                 JobRecord: what was launched, where, with which code
    jobs/<job>/plan.json                JobPlan.to_dict(): parents, children, per-run hparams and seeds
    jobs/<job>/launched_job_spec.yaml   the runspec as launched (overrides applied)
    jobs/<job>/cancel                   present once `launcher cancel` asked the job to stop
    jobs/<job>/supervisor.json          local backend: the supervisor's pid, host and heartbeat
    jobs/<job>/search.jsonl             dgd/bayesian: the assignments runs pulled (launcher/hpsearch/assign.py)
    runs/<run>/run.json                 RunRecord of a parent (run41) or child run (run41.1)
    runs/<run>/console.txt, metrics.jsonl, summary.json, mirrored/<path under ../results>

Records are plain JSON dicts (the Azure agent reads and writes the same ones); the helpers here only name
keys, states and timestamps so that every writer spells them the same way.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone

# Run states (XT's, minus its internal ones). A run moves queued -> running -> one of the final states.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST = "queued", "running", "completed", "failed", "cancelled", "lost"
RUN_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST)
FINAL_STATES = (COMPLETED, FAILED, CANCELLED, LOST)

# Job states: "submitting" until the backend took it; "removed" when a launch failed half-way.
SUBMITTING, REMOVED = "submitting", "removed"
JOB_STATES = (SUBMITTING, QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, REMOVED)

CONSOLE_TAIL_LINES = 30


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    """Seconds since the epoch, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def hostname() -> str:
    return socket.gethostname()


def job_key(job: str, name: str) -> str:
    return f"jobs/{job}/{name}"


def run_key(run: str, name: str = "run.json") -> str:
    return f"runs/{run}/{name}"


def job_number(job: str) -> int:
    """'job12' -> 12 (for sorting); -1 when it is not a job name."""
    return int(job[3:]) if job.startswith("job") and job[3:].isdigit() else -1


def run_sort_key(run: str) -> tuple:
    """run41.10 after run41.9."""
    head, _, child = run.partition(".")
    num = head[3:] if head.startswith("run") else head
    return (int(num) if num.isdigit() else 0, int(child) if child.isdigit() else 0, run)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    # A killed process whose parent has not reaped it yet (or an init that never reaps) is a zombie: dead.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def new_run_record(*, run: str, job: str, workspace: str, parent: str, index: int, node: str,
                   hparams: dict, seed: int | None) -> dict:
    return {
        "run": run, "job": job, "workspace": workspace, "parent": parent, "index": index, "node": node,
        "status": QUEUED, "queued": now_iso(), "started": None, "ended": None, "exit_code": None,
        "hparams": hparams, "seed": seed, "metrics": {}, "iters": None, "hpmax": None,
        "console_tail": "", "host": None, "agent_pid": None, "pid": None, "heartbeat": None, "error": "",
    }


def elapsed_seconds(record: dict) -> float | None:
    start = parse_iso(record.get("started"))
    if start is None:
        return None
    end = parse_iso(record.get("ended")) or time.time()
    return max(0.0, end - start)
