"""The local backend's supervisor: one detached process per job that runs its child runs to the end.

    python -m launcher.backends.local_supervisor --store DIR --target NAME --capacity N JOB

Children start in run order; a node (parent run) runs at most runs_per_node children at once and the machine
at most `capacity` across all jobs (flock'ed slot files). Each child runs in a thread through
launcher.agent.run_child, its process forked from the job's fork server (launcher/forkserver.py: no fresh
interpreter's imports per run), in an overlay of the job's code tree, unpacked once (launcher/shared_code.py);
completed runs' folders are removed in the background, the code tree at the job's end. A heartbeat in jobs/<job>/supervisor.json lets
readers tell a dead supervisor from a slow job.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import threading
import time
from pathlib import Path

from launcher import agent, forkserver
from launcher.shared_code import Remover
from launcher.jobs import records as R
from launcher.jobs.status import finish_job, mark_unfinished, parent_status

HEARTBEAT_SECONDS = 2.0
TICK = 0.05


class SlotPool:
    """`capacity` lock files; holding an flock on one = one run may go. Shared by every supervisor."""

    def __init__(self, folder: Path, capacity: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"slot{i}.lock" for i in range(capacity)]

    def try_acquire(self) -> int | None:
        for path in self.paths:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)  # closing drops the flock


def supervise(store, job: str, *, target: str, capacity: int, work_root: Path,
              mirror_interval: float = agent.DEFAULT_MIRROR_INTERVAL) -> None:
    plan = store.read_json(R.job_key(job, "plan.json"))
    spec = store.read_bytes(R.job_key(job, "launched_job_spec.yaml"))
    if not plan or spec is None or not (store.read_json(R.job_key(job, "job.json")) or {}).get("job"):
        return  # the launch was withdrawn (Ctrl-C, a refused submit) before we started: nothing to run or record
    sup = {"pid": os.getpid(), "host": R.hostname(), "started": R.now_iso(), "heartbeat": R.now_iso(),
           "finished": False}
    store.write_json(R.job_key(job, "supervisor.json"), sup)
    stop = threading.Event()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            sup["heartbeat"] = R.now_iso()
            store.write_json(R.job_key(job, "supervisor.json"), sup)

    threading.Thread(target=heartbeat, daemon=True).start()
    record = store.read_json(R.job_key(job, "job.json"))
    if not record or not record.get("job"):  # withdrawn meanwhile: never write a record of only status/started
        done.set()
        store.delete(R.job_key(job, "supervisor.json"))
        return
    record.update(status=R.RUNNING, started=R.now_iso())
    store.write_json(R.job_key(job, "job.json"), record)

    pool = SlotPool(Path(store.root) / "slots" / target, capacity)
    remover = Remover()  # completed runs' folders go in the background, not in the run's slot
    code_root = work_root / ".code"
    # Started from this thread, which lives as long as the job: the server dies with the thread that started it.
    server = forkserver.ForkServer().start() if forkserver.enabled() else None

    def spawn(argv, *, cwd, env, console):
        if server is not None and server.alive:
            try:
                return server.spawn(argv, cwd=cwd, env=env, console=console)
            except RuntimeError as exc:  # the server is gone: this run and the next start as before
                print(f"fork server: {exc}; starting {env.get('LAUNCHER_RUN')} as a fresh interpreter", flush=True)
        return agent.start_process(argv, cwd=cwd, env=env, console=console)
    queue = sorted(plan["children"], key=lambda c: c["index"])
    running_per_node = [0] * plan["compute_nodes"]
    left_per_parent = {p: len([c for c in queue if c["parent"] == p]) for p in plan["parents"]}
    lock = threading.Lock()
    # Set when a run of this job ends: the loop below starts the next one at once, instead of finding the free
    # slot at its next tick (with runs of ~50 ms, a 50 ms tick would leave a slot idle for half the time).
    slot_freed = threading.Event()
    threads: list[threading.Thread] = []

    def parent_state(parent: str, status: str) -> None:
        rec = store.read_json(R.run_key(parent)) or {}
        if rec.get("status") != status:
            rec.update(status=status, host=R.hostname(), **({"started": R.now_iso()} if status == R.RUNNING
                                                            else {"ended": R.now_iso()}))
            store.write_json(R.run_key(parent), rec)

    def run_one(child: dict, fd: int) -> None:
        try:
            agent.run_child(store, job, child["name"], work_root=work_root, node=f"node{child['node']}",
                            cancel_event=stop, mirror_interval=mirror_interval, plan=plan, launched_spec=spec,
                            code_root=code_root, remove=remover, spawn=spawn)
        except Exception as exc:  # noqa: BLE001 - recorded on the run; the job goes on
            rec = store.read_json(R.run_key(child["name"])) or {}
            rec.update(status=R.FAILED, ended=R.now_iso(), error=f"supervisor: {exc}")
            store.write_json(R.run_key(child["name"]), rec)
        finally:
            SlotPool.release(fd)
            with lock:
                running_per_node[child["node"]] -= 1
                left_per_parent[child["parent"]] -= 1
                finished_parent = left_per_parent[child["parent"]] == 0
            slot_freed.set()
            if finished_parent:
                mine = [store.read_json(R.run_key(c["name"])) or {} for c in plan["children"]
                        if c["parent"] == child["parent"]]
                parent_state(child["parent"], parent_status(mine))

    cancel_key = R.job_key(job, "cancel")
    last_cancel_check = 0.0
    while queue and not stop.is_set():
        if time.monotonic() - last_cancel_check > 0.2:
            last_cancel_check = time.monotonic()
            if store.exists(cancel_key):
                stop.set()
                break
        slot_freed.clear()  # before looking: a run that ends after the look sets it again, and the wait returns
        with lock:
            child = next((c for c in queue if running_per_node[c["node"]] < plan["runs_per_node"]), None)
        if child is None:
            slot_freed.wait(TICK)
            continue
        fd = pool.try_acquire()
        if fd is None:  # the machine is full (this job or others): wait for a slot (another job's: the tick)
            slot_freed.wait(TICK)
            continue
        queue.remove(child)
        with lock:
            running_per_node[child["node"]] += 1
        parent_state(child["parent"], R.RUNNING)
        t = threading.Thread(target=run_one, args=(child, fd), name=child["name"])
        t.start()
        threads.append(t)
    # Follow the running children; a cancel (marker or SIGTERM) reaches them through `stop`.
    while any(t.is_alive() for t in threads):
        if not stop.is_set() and store.exists(cancel_key):
            stop.set()
        time.sleep(0.2)
    if stop.is_set():
        mark_unfinished(store, job, R.CANCELLED, "cancelled before it started")
        for parent in plan["parents"]:
            parent_state(parent, R.CANCELLED)
    finish_job(store, job)
    remover(code_root / job)  # the job's shared code tree: no run of the job needs it any more
    remover.drain()
    if server is not None:
        server.close()
    done.set()
    sup.update(finished=True, heartbeat=R.now_iso())
    store.write_json(R.job_key(job, "supervisor.json"), sup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.backends.local_supervisor")
    parser.add_argument("--store", required=True)
    parser.add_argument("--target", default="local")
    parser.add_argument("--capacity", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", default=None, help="run folders (default: <store>/work)")
    parser.add_argument("--mirror-interval", type=float,
                        default=float(os.environ.get("LAUNCHER_MIRROR_INTERVAL", agent.DEFAULT_MIRROR_INTERVAL)))
    parser.add_argument("job")
    args = parser.parse_args(argv)
    store = agent.open_store(args.store)
    work = Path(args.work) if args.work else Path(args.store) / "work"
    supervise(store, args.job, target=args.target, capacity=args.capacity, work_root=work,
              mirror_interval=args.mirror_interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
