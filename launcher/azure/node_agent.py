"""What an Azure Batch task runs: one child run, through launcher.agent, against the blob store.

    python3 launcher-<sha>.pyz [--mirror-interval S] JOB RUN         (the bundle's bootstrap calls main())
    python3 -m launcher.azure.node_agent [--mirror-interval S] JOB RUN   (launcher_source = "installed")

The store comes from the task's environment settings, never from the command line: LAUNCHER_STORE_URL, a
container SAS on the job's own results container (read, add, create, write: store/job_containers.py), and
LAUNCHER_STORE_READ, read SAS URLs of the store blobs the agent reads (the plan, the launched runspec, the job
record), as JSON {key: url}. Nothing else of the store is reachable from a task. The run must never get them:
a process can read its parent's *initial* environment from /proc/<pid>/environ whatever os.environ says
afterwards. So the agent hands the URLs to a fresh image of itself through a pipe (execve with an environment
without them) and makes itself non-dumpable (its /proc files and memory are then closed to processes of the same
user). The plan and the launched runspec are checked against the sha256 on the command line (written by the
launcher), the code snapshot against its content-addressed name. The code snapshot arrives as a Batch resource
file (LAUNCHER_CODE_FILE, a read SAS on that one blob); the agent reads it from there instead of the store.

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
#: JSON {store key: blob URL with a read SAS}: what the task reads of the store container
READ_ENV = "LAUNCHER_STORE_READ"
#: the store container's keys a task reads (through READ_ENV), all written by the launcher alone
READ_NAMES = ("plan.json", "launched_job_spec.yaml", "job.json")
CODE_ENV = "LAUNCHER_CODE_FILE"
#: The datastore's folder relative to $AZ_BATCH_NODE_MOUNTS_DIR (the pool mounts the container there); the
#: agent makes it XT_DATA_DIR, which `$datastore` resolves to (rl_nexus's contract).
DATASTORE_ENV = "LAUNCHER_DATASTORE"
#: The pipe's fd number that carries the store URL into the re-executed agent (a number, not a secret).
STORE_FD_ENV = "LAUNCHER_STORE_FD"
_PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def take_store_access() -> tuple[str, dict]:
    """The store URL and the read URLs, taken so that nothing the run can read holds them (see the module's
    docstring).

    First call (the task's process): they are in the environment; the process re-executes itself without
    them, they in a pipe. Second call (the new image): they come from the pipe."""
    import json

    fd = os.environ.pop(STORE_FD_ENV, "")
    if fd.isdigit():
        with os.fdopen(int(fd), "rb") as pipe:
            taken = json.loads(pipe.read().decode("utf-8"))
        _not_dumpable()
        return taken["url"], taken["read"]
    url = os.environ.pop(STORE_ENV, "")
    read = _read_urls(os.environ.pop(READ_ENV, ""))
    if not url or not sys.platform.startswith("linux") or not getattr(sys, "orig_argv", None):
        return url, read
    read_end, write_end = os.pipe()
    # A few kilobytes (the URLs of a container SAS and three blob SAS): the pipe buffer (64 KiB) holds them.
    os.write(write_end, json.dumps({"url": url, "read": read}).encode("utf-8"))
    os.close(write_end)
    os.set_inheritable(read_end, True)
    env = {k: v for k, v in os.environ.items() if k not in (STORE_ENV, READ_ENV)}
    env[STORE_FD_ENV] = str(read_end)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), env)
    return url, read  # pragma: no cover - execve does not return


def _read_urls(text: str) -> dict:
    import json

    if not text:
        return {}
    try:
        urls = json.loads(text)
    except ValueError:
        urls = None
    if not isinstance(urls, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items()):
        raise SystemExit(f"{READ_ENV} must be a JSON object of store keys and URLs")
    return urls


def open_task_store(job: str, url: str, read: dict) -> Store:
    """The task's store: on Azure its job's results container plus the readable store blobs; else (a folder, in
    tests and with a local store) the store at url."""
    if read:
        from launcher.store.azure_blob import AzureBlobStore

        return AzureBlobStore.for_task(job, url, read)
    from launcher.store import open_store

    return open_store(url)


def _not_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<agent>/{environ,mem,...} become root's, no core dump holds the URL.
    execve resets it for the run's process, which needs nothing of the kind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the re-exec above did not happen either
        pass


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class LocalCodeStore(Store):
    """A store whose code snapshot comes from a local file (the task's resource file); all else delegated."""

    def __init__(self, inner: Store, code_key: str, code_file: Path) -> None:
        self.inner, self.code_key, self.code_file = inner, code_key, Path(code_file)
        self.description = inner.description

    def read_bytes(self, key):
        if key == self.code_key and self.code_file.is_file():
            return self.code_file.read_bytes()
        return self.inner.read_bytes(key)

    def get_file(self, key, dest):
        if key == self.code_key and self.code_file.is_file():
            import shutil

            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.code_file, dest)
            return True
        return self.inner.get_file(key, dest)

    def write_bytes(self, key, data):
        self.inner.write_bytes(key, data)

    def exists(self, key):
        return (key == self.code_key and self.code_file.is_file()) or self.inner.exists(key)

    def list(self, prefix):
        return self.inner.list(prefix)

    def delete(self, key):
        self.inner.delete(key)

    def next_number(self, counter, *, above=0):
        return self.inner.next_number(counter, above=above)

    def update(self, key, change):
        return self.inner.update(key, change)

    def append_update(self, key, change):
        return self.inner.append_update(key, change)


def prepare_rerun(store, job: str, run: str, plan: dict | None = None) -> str | None:
    """Reset the record of a run that Batch started again; returns its status before ('' when fresh), or None
    when the run must not run again (completed or cancelled). A run without a record yet gets the one its plan
    implies (the backend leaves children's queued records to the plan)."""
    rec = store.read_json(R.run_key(run))
    if not rec:
        from launcher.backends.base import implied_child_record

        rec = implied_child_record(plan or {}, run)
        if rec is None:
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
    parser.add_argument("--plan-sha256", default="", help="the sha256 of jobs/JOB/plan.json, from the launcher")
    parser.add_argument("--spec-sha256", default="", help="the sha256 of jobs/JOB/launched_job_spec.yaml")
    parser.add_argument("job")
    parser.add_argument("run")
    args = parser.parse_args(argv)
    url, read = take_store_access()  # never handed on to the run's process, not even in /proc/<agent>/environ
    if not url:
        print(f"{STORE_ENV} is not set: the task has no store to report to", file=sys.stderr)
        return 2
    from launcher import agent

    import json

    store: Store = open_task_store(args.job, url, read)
    plan_bytes = store.read_bytes(R.job_key(args.job, "plan.json"))
    if not plan_bytes:
        print(f"{args.job} has no plan in {store.description}", file=sys.stderr)
        return 2
    spec_bytes = store.read_bytes(R.job_key(args.job, "launched_job_spec.yaml"))
    for what, data, want in (("plan.json", plan_bytes, args.plan_sha256),
                             ("launched_job_spec.yaml", spec_bytes, args.spec_sha256)):
        if want and (data is None or _sha256(data) != want):
            # Written by the launcher alone; a different one is not this job's: run nothing.
            print(f"jobs/{args.job}/{what} is not the one the launcher submitted (sha256 "
                  f"{_sha256(data) if data is not None else 'missing'}, expected {want}): not running {args.run}",
                  file=sys.stderr)
            return 3
    plan = json.loads(plan_bytes)
    datastore = os.environ.pop(DATASTORE_ENV, "")
    if datastore and os.environ.get("AZ_BATCH_NODE_MOUNTS_DIR"):
        os.environ["XT_DATA_DIR"] = os.path.join(os.environ["AZ_BATCH_NODE_MOUNTS_DIR"], datastore)
    code_file = os.environ.pop(CODE_ENV, "")
    if code_file:
        store = LocalCodeStore(store, plan["code_key"], Path(code_file).resolve())
    before = prepare_rerun(store, args.job, args.run, plan)
    if before is None:
        print(f"{args.run}: already ended, nothing to do")
        return 0
    stop = threading.Event()
    # Batch stops a task (terminate, job end) with a signal: record the run as cancelled rather than lost.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    work = Path(os.environ.get("AZ_BATCH_TASK_WORKING_DIR") or ".")
    # The job's code is unpacked once per node, in the node's shared folder, for all its tasks on the node.
    shared = os.environ.get("AZ_BATCH_NODE_SHARED_DIR")
    rec = agent.run_child(store, args.job, args.run, work_root=work / "runs", node=None,
                          cancel_event=stop, mirror_interval=args.mirror_interval, plan=plan,
                          launched_spec=spec_bytes, code_root=Path(shared) / "launcher-code" if shared else None)
    print(f"{args.run}: {rec['status']}" + (f" ({rec['error']})" if rec.get("error") else ""))
    # Non-zero lets Batch retry a failed run (max_retries); a cancelled run must not be retried.
    return 0 if rec["status"] in (R.COMPLETED, R.CANCELLED) else 1


if __name__ == "__main__":
    raise SystemExit(main())
