"""What an Azure Batch task runs: one child run, through launcher.agent, against the blob store.

    python3 launcher-<sha>.pyz [--mirror-interval S] JOB RUN         (the bundle's bootstrap calls main())
    python3 -m launcher.azure.node_agent [--mirror-interval S] JOB RUN   (launcher_source = "installed")

The store URL (a container SAS) comes from the task's environment setting LAUNCHER_STORE_URL, never from the
command line, and is removed from the environment before the run starts, so the experiment's own process never
sees it. The code snapshot arrives as a Batch resource file (LAUNCHER_CODE_FILE, a read SAS on that one blob);
the agent reads it from there instead of the store.

Batch runs a task again when its node is preempted (requeue) or when it failed and retries are left; the run's
record then says lost/failed/running from the attempt before: that run starts again. A completed or cancelled
run is never run twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from launcher.jobs import records as R
from launcher.store.base import Store

STORE_ENV = "LAUNCHER_STORE_URL"
CODE_ENV = "LAUNCHER_CODE_FILE"


class LocalCodeStore(Store):
    """A store whose code snapshot comes from a local file (the task's resource file); all else delegated."""

    def __init__(self, inner: Store, code_key: str, code_file: Path) -> None:
        self.inner, self.code_key, self.code_file = inner, code_key, Path(code_file)
        self.description = inner.description

    def read_bytes(self, key):
        if key == self.code_key and self.code_file.is_file():
            return self.code_file.read_bytes()
        return self.inner.read_bytes(key)

    def write_bytes(self, key, data):
        self.inner.write_bytes(key, data)

    def exists(self, key):
        return (key == self.code_key and self.code_file.is_file()) or self.inner.exists(key)

    def list(self, prefix):
        return self.inner.list(prefix)

    def delete(self, key):
        self.inner.delete(key)

    def next_number(self, counter):
        return self.inner.next_number(counter)

    def update(self, key, change):
        return self.inner.update(key, change)


def prepare_rerun(store, job: str, run: str) -> str | None:
    """Reset the record of a run that Batch started again; returns its status before ('' when fresh), or None
    when the run must not run again (completed or cancelled)."""
    rec = store.read_json(R.run_key(run))
    if not rec:
        return ""
    status = rec.get("status")
    if status in (R.COMPLETED, R.CANCELLED):
        return None
    if status in (R.RUNNING, R.LOST, R.FAILED):
        rec.update(status=R.QUEUED, ended=None, exit_code=None, pid=None, agent_pid=None,
                   error="", previous_error=rec.get("error") or f"the node running it went away ({status})")
    # attempts: how many times a node agent took this run up (an earlier attempt left its batch_node behind).
    rec["attempts"] = int(rec.get("attempts") or 1) + 1 if rec.get("batch_node") else 1
    # The Batch node that runs it (the run's `node` stays the planned parent node, as in XT's tables).
    rec["batch_node"] = os.environ.get("AZ_BATCH_NODE_ID")
    store.write_json(R.run_key(run), rec)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launcher-node-agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror-interval", type=float, default=3.0)
    parser.add_argument("job")
    parser.add_argument("run")
    args = parser.parse_args(argv)
    url = os.environ.pop(STORE_ENV, "")  # never handed on to the run's process
    if not url:
        print(f"{STORE_ENV} is not set: the task has no store to report to", file=sys.stderr)
        return 2
    from launcher import agent
    from launcher.store import open_store

    store: Store = open_store(url)
    plan = store.read_json(R.job_key(args.job, "plan.json"))
    if not plan:
        print(f"{args.job} has no plan in {store.description}", file=sys.stderr)
        return 2
    code_file = os.environ.pop(CODE_ENV, "")
    if code_file:
        store = LocalCodeStore(store, plan["code_key"], Path(code_file).resolve())
    before = prepare_rerun(store, args.job, args.run)
    if before is None:
        print(f"{args.run}: already ended, nothing to do")
        return 0
    stop = threading.Event()
    # Batch stops a task (terminate, job end) with a signal: record the run as cancelled rather than lost.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    work = Path(os.environ.get("AZ_BATCH_TASK_WORKING_DIR") or ".")
    rec = agent.run_child(store, args.job, args.run, work_root=work / "runs", node=None,
                          cancel_event=stop, mirror_interval=args.mirror_interval, plan=plan)
    print(f"{args.run}: {rec['status']}" + (f" ({rec['error']})" if rec.get("error") else ""))
    # Non-zero lets Batch retry a failed run (max_retries); a cancelled run must not be retried.
    return 0 if rec["status"] in (R.COMPLETED, R.CANCELLED) else 1


if __name__ == "__main__":
    raise SystemExit(main())
