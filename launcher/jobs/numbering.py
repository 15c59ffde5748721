"""Job and run names from the store's atomic counters: job12 (global), run41 (per workspace), run41.3 (child)."""

from __future__ import annotations

import re

from launcher.store.base import Store

JOB_COUNTER = "jobs"
JOB_NAME_RE = re.compile(r"^job([1-9][0-9]*)$")
_WORKSPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def run_counter(workspace: str) -> str:
    if not isinstance(workspace, str) or not _WORKSPACE_RE.match(workspace):
        raise ValueError(f"workspace name {workspace!r} must be letters, digits, '_' or '-' (e.g. 'ws1')")
    return f"{workspace}-runs"


def next_job_name(store: Store, *, above: int = 0) -> str:
    """The next free job name, e.g. 'job12'. Never the same name twice for one store, and above job<above> (the
    highest job of the ledger the launch reads), so a fresh store never reuses a number the ledger holds."""
    return f"job{store.next_number(JOB_COUNTER, above=above)}"


def next_run_names(store: Store, workspace: str, count: int) -> list[str]:
    """`count` fresh parent run names of the workspace, e.g. ['run41', 'run42'], allocated in one step."""
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    return [f"run{n}" for n in store.next_numbers(run_counter(workspace), count)]


def job_number(name: str) -> int:
    """12 for 'job12'; ValueError for anything else."""
    m = JOB_NAME_RE.match(name or "")
    if not m:
        raise ValueError(f"{name!r} is not a job name like 'job12'")
    return int(m.group(1))
