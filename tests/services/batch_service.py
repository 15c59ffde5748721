"""The in-memory Batch service behind the test server: the rules for pools, jobs and tasks, and the scheduler.

No HTTP here. Every public method takes REST-shaped dicts, returns REST-shaped dicts, raises
``BatchError`` like the service would, and holds ``self.lock`` while it touches state. Tasks run
on worker threads (one per running task, see ``batch_node.run_task``); the scheduler thread puts
active tasks FIFO onto free slots of the simulated nodes.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from . import batch_node, batch_rest
from .batch_faults import FaultPlan
from .batch_model import Job, Node, Pool, Task
from .batch_wire import (
    BatchError,
    check_id,
    etag,
    format_time,
    invalid_property,
    missing_property,
    now,
    parse_duration,
    task_error,
)

MAX_TASKS_PER_COLLECTION = 100
MAX_TASK_SLOTS_PER_NODE = 256
#: vCPUs of the VM sizes tests use (learn.microsoft.com/azure/virtual-machines/sizes). taskSlotsPerNode may be at
#: most min(4 x vCPUs, 256) (Batch REST API, Pool - Add: "The maximum value is the smaller of 4 times the number of
#: cores of the vmSize of the pool or 256"). A size missing here is refused, as a size the region does not offer.
VM_VCPUS = {
    "standard_a1_v2": 1, "standard_a2_v2": 2, "standard_d2s_v3": 2, "standard_d4s_v3": 4, "standard_d8s_v3": 8,
    "standard_d16s_v3": 16, "standard_d2_v3": 2, "standard_d4_v3": 4, "standard_f2s_v2": 2, "standard_f4s_v2": 4,
    "standard_f8s_v2": 8, "standard_f72s_v2": 72, "standard_e2s_v3": 2, "standard_nc6s_v3": 6,
    "standard_nc4as_t4_v3": 4, "standard_d2ds_v5": 2, "standard_d4ds_v5": 4,
}
#: What apt-get prints when unattended-upgrades holds the dpkg lock (the collision a start task meets on a fresh
#: Ubuntu node); apt waits for the lock only when given -o DPkg::Lock::Timeout=N (apt-get(8), apt.conf(5)).
DPKG_LOCK_MESSAGE = ("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 "
                     "(unattended-upgr)")
_APT_STUB = """#!/bin/sh
# apt-get of a simulated Batch node: records what it was asked, never installs anything on this machine.
echo "$0 $*" >> "{log}"
if [ -e "{lock}" ]; then
  case "$*" in *DPkg::Lock::Timeout=*) rm -f "{lock}"; echo "Waiting for cache lock: done" ;;
  *) echo "{message}" >&2; exit 100 ;; esac
fi
exit 0
"""


class _StartHandle:
    """The TaskHandle of a node's start task: killed only when the service stops."""

    def __init__(self, service: BatchService, node: Node) -> None:
        self._service, self._node = service, node
        self.retries = 0
        self._process = None

    def attach(self, process) -> bool:
        with self._service.lock:
            self._process = process
            self._node.start_process = process
            return not self._service._stopping

    def detach(self) -> None:
        with self._service.lock:
            self._process = None
            self._node.start_process = None

    @property
    def kill_reason(self) -> str | None:
        return "terminate" if self._service._stopping else None

    def retried(self) -> None:
        with self._service.changed:
            self.retries += 1
            if self._node.start_task_info is not None:
                self._node.start_task_info["retryCount"] = self.retries
            self._service.changed.notify_all()


class _Handle:
    """The TaskHandle a worker thread gets: kill requests and retries go through the service lock."""

    def __init__(self, service: BatchService, task: Task) -> None:
        self._service, self._task = service, task

    def attach(self, process: subprocess.Popen) -> bool:
        with self._service.lock:
            self._task.process = process
            return self._task.kill_reason is None

    def detach(self) -> None:
        with self._service.lock:
            self._task.process = None

    @property
    def kill_reason(self) -> str | None:
        with self._service.lock:
            return self._task.kill_reason

    def retried(self) -> None:
        with self._service.changed:
            self._task.retry_count += 1
            self._task.last_retry_time = self._task.modified = now()
            self._service.changed.notify_all()


# ---------------------------------------------------------------------------------------------- service
class BatchService:
    def __init__(self, account: str, root: Path, faults: FaultPlan, *, node_env: dict[str, str] | None = None,
                 preempt_downtime: float = 0.2, node_python: str | None = None,
                 vm_vcpus: dict[str, int] | None = None, storage_endpoints: dict[str, str] | None = None) -> None:
        self.account = account
        # The interpreter `python3` is on a node (None: the test process's PATH, the old behaviour). With it, a
        # node's PATH is its own bin/ (python3, apt-get) + /usr/bin:/bin, never the test's virtualenv.
        self.node_python = node_python
        self.vm_vcpus = {k.lower(): v for k, v in (vm_vcpus or VM_VCPUS).items()}
        # account name -> blob endpoint (Azurite's path-style URL), for mountConfiguration
        self.storage_endpoints = dict(storage_endpoints or {})
        self.dpkg_locked_nodes = 0  # how many new nodes start with the dpkg lock held (unattended-upgrades)
        self.root = root
        self.faults = faults
        self.node_env = dict(node_env or {})
        self.preempt_downtime = preempt_downtime
        self.endpoint = ""  # set by the HTTP server once it knows its port
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self._seq = itertools.count()
        self._stopping = False
        self._scheduler: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._scheduler = threading.Thread(target=self._schedule_loop, name="batch-scheduler", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        with self.changed:
            self._stopping = True
            for job in self.jobs.values():
                for task in job.tasks.values():
                    self._kill(task, "terminate")
            for pool in self.pools.values():
                for node in pool.nodes:
                    if getattr(node, "start_process", None) is not None:
                        batch_node.kill_process_group(node.start_process)
            self.changed.notify_all()
            workers = list(self._workers)
        if self._scheduler:
            self._scheduler.join(timeout=5)
        for worker in workers:
            worker.join(timeout=10)

    # --------------------------------------------------------------------------------------- pools
    def create_pool(self, body: dict) -> dict:
        pool_id = check_id(body.get("id"))
        if not body.get("vmSize"):
            raise missing_property("vmSize")
        with self.lock:
            if pool_id.lower() in self.pools:
                raise BatchError(409, "PoolExists", "The specified pool already exists.")
            pool = self._new_pool(pool_id, body, auto=False, keep_alive=True)
            return batch_rest.pool_rest(self.endpoint, pool)

    def check_pool_spec(self, spec: dict) -> None:
        slots = int(spec.get("taskSlotsPerNode") or 1)
        vcpus = self.vm_vcpus.get(str(spec.get("vmSize") or "").lower())
        if vcpus is None:
            raise invalid_property("vmSize", spec.get("vmSize"), "The specified VM size is not available.")
        limit = min(4 * vcpus, MAX_TASK_SLOTS_PER_NODE)
        if not 1 <= slots <= limit:
            raise invalid_property("taskSlotsPerNode", slots,
                                   f"Must be between 1 and {limit} for {spec.get('vmSize')} ({vcpus} vCPUs): at most "
                                   f"the smaller of 4 times the number of cores or {MAX_TASK_SLOTS_PER_NODE}.")

    def _new_pool(self, pool_id: str, spec: dict, *, auto: bool, keep_alive: bool) -> Pool:
        self.check_pool_spec(spec)
        slots = int(spec.get("taskSlotsPerNode") or 1)
        pool = Pool(id=pool_id, spec=dict(spec), auto=auto, keep_alive=keep_alive, slots_per_node=slots)
        self.pools[pool_id.lower()] = pool
        self._resize(pool, int(spec.get("targetDedicatedNodes") or 0), int(spec.get("targetLowPriorityNodes") or 0))
        return pool

    def _resize(self, pool: Pool, dedicated: int, low_priority: int) -> None:
        """Bring the pool to its targets at once (no allocation delay), capped by resize-error faults."""
        pool.target_dedicated, pool.target_low_priority = dedicated, low_priority
        fault = self.faults.resize_error_for(pool.id)
        pool.resize_errors = []
        if fault and (dedicated > fault.max_dedicated or low_priority > fault.max_low_priority):
            dedicated, low_priority = min(dedicated, fault.max_dedicated), min(low_priority, fault.max_low_priority)
            pool.resize_errors = [{"code": fault.code, "message": fault.message, "values": []}]
        for is_dedicated, wanted in ((True, dedicated), (False, low_priority)):
            have = [n for n in pool.nodes if n.dedicated == is_dedicated]
            for _ in range(wanted - len(have)):
                index = next(pool.node_counter)
                node = Node(pool, index, self._node_id(pool.id, index, is_dedicated), is_dedicated,
                            pool.slots_per_node)
                pool.nodes.append(node)
                self._boot(node)
            for node in have[wanted:] if len(have) > wanted else []:
                pool.nodes.remove(node)
                for task in list(node.running):
                    self._kill(task, "preempt")  # nodeDeallocationOption requeue (the default)
        pool.nodes.sort(key=lambda n: (not n.dedicated, n.index))  # dedicated first, as documented
        pool.modified = now()
        self.changed.notify_all()

    # ------------------------------------------------------------------------------------ node boot
    def _boot(self, node: Node) -> None:
        """A new node: its folders, its image (bin/), its mounts, then its start task. Hold the lock."""
        node.root = self.root / "nodes" / node.id
        (node.root / "shared").mkdir(parents=True, exist_ok=True)
        if self.node_python:
            self._image(node)
        self._mount(node)
        start = node.pool.spec.get("startTask")
        if start:
            node.start_state = "waitingforstarttask" if start.get("waitForSuccess", True) else None
            node.start_task_info = {"state": "running", "startTime": format_time(now()), "retryCount": 0}
            worker = threading.Thread(target=self._run_start_task, args=(node, dict(start)),
                                      name=f"start-{node.id[:12]}", daemon=True)
            self._workers.add(worker)
            worker.start()

    def _image(self, node: Node) -> None:
        """What the node's OS image offers: python3 (the configured interpreter, without the launcher's
        packages) and apt-get (a stub that records its arguments and can meet a held dpkg lock)."""
        bin_dir = node.root / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python3", Path(self.node_python).name):
            # A wrapper, not a symlink: a virtualenv's interpreter reached through a symlink elsewhere would not
            # find its pyvenv.cfg and would run as the base interpreter with the base's packages.
            wrapper = bin_dir / name
            wrapper.write_text(f'#!/bin/sh\nexec "{self.node_python}" "$@"\n')
            wrapper.chmod(0o755)
        lock = node.root / "dpkg-lock-held"
        if self.dpkg_locked_nodes > 0:
            self.dpkg_locked_nodes -= 1
            lock.write_text("unattended-upgrades\n")
        stub = _APT_STUB.format(log=node.root / "apt.log", lock=lock, message=DPKG_LOCK_MESSAGE)
        for name in ("apt-get", "apt"):
            (bin_dir / name).write_text(stub)
            (bin_dir / name).chmod(0o755)

    def _mount(self, node: Node) -> None:
        """mountConfiguration azureBlobFileSystemConfiguration: the container's blobs appear as files under
        $AZ_BATCH_NODE_MOUNTS_DIR/<relativeMountPath> (a copy made at boot, which is what a task can see)."""
        from . import blob_http

        for mount in node.pool.spec.get("mountConfiguration") or []:
            blob = mount.get("azureBlobFileSystemConfiguration")
            if not blob:
                continue
            base = self.storage_endpoints.get(blob.get("accountName", ""))
            target = node.root / "fsmounts" / blob["relativeMountPath"]
            target.mkdir(parents=True, exist_ok=True)
            if base is None or not blob.get("sasKey"):
                continue  # the harness needs a SAS to read it; a test that wants files gives one
            container = f"{base.rstrip('/')}/{blob['containerName']}?{blob['sasKey'].lstrip('?')}"
            for name in blob_http.list_blobs(container):
                blob_http.download(blob_http.blob_url(container, name), blob_http.safe_join(target, name))

    def _run_start_task(self, node: Node, spec: dict) -> None:
        startup = node.root / "startup"
        run = batch_node.TaskRun(
            task_id="starttask", task_dir=startup, command_line=spec.get("commandLine") or "",
            env=self._node_env(node, spec.get("userIdentity"), startup, task_id=None,
                               settings=spec.get("environmentSettings") or []),
            resource_files=list(spec.get("resourceFiles") or []),
            max_retries=int(spec.get("maxTaskRetryCount") or 0))
        handle = _StartHandle(self, node)
        try:
            outcome = batch_node.run_task(run, handle)
        except Exception as exc:  # a harness bug shows up as a failed start task, not a hung test
            outcome = batch_node.Outcome(failure=batch_node.failure("TestServerError", repr(exc), "servererror"))
        with self.changed:
            info = node.start_task_info or {}
            info.update(state="completed", endTime=format_time(now()), exitCode=outcome.exit_code,
                        result=outcome.result, retryCount=handle.retries)
            if outcome.failure:
                info["failureInfo"] = outcome.failure
            node.start_task_info = info
            if outcome.failure and spec.get("waitForSuccess", True):
                node.start_state = "starttaskfailed"  # unusable: no task is scheduled to it
            else:
                node.start_state = None
            self._workers.discard(threading.current_thread())
            self.changed.notify_all()

    def _node_env(self, node: Node, identity: dict | None, task_dir: Path, *, task_id: str | None,
                  settings: list) -> dict[str, str]:
        """The environment of a start task or a task on the node, for the user it runs as."""
        auto = (identity or {}).get("autoUser") or {}
        scope = (auto.get("scope") or ("pool" if task_id is None else "task")).lower()
        elevation = (auto.get("elevationLevel") or "nonadmin").lower()
        # Each auto-user has its own home: what a start task installs with `pip --user` (admin, pool scope) is not
        # in a task's ~/.local (non-admin, task scope by default).
        user = (identity or {}).get("username") or (f"{scope}-{elevation}" + (f"-{task_id}" if scope == "task" else ""))
        home = node.root / "users" / user
        home.mkdir(parents=True, exist_ok=True)
        path = (f"{node.root / 'bin'}:/usr/local/bin:/usr/bin:/bin" if self.node_python
                else os.environ.get("PATH", os.defpath))
        env = {"PATH": path, "LANG": "C.UTF-8", "HOME": str(home), "USER": user}
        env.update(self.node_env)
        env.update({
            "AZ_BATCH_ACCOUNT_NAME": self.account,
            "AZ_BATCH_ACCOUNT_URL": self.endpoint,
            "AZ_BATCH_POOL_ID": node.pool.id,
            "AZ_BATCH_NODE_ID": node.id,
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.dedicated else "false",
            "AZ_BATCH_NODE_ROOT_DIR": str(node.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(node.root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(node.root / "startup"),
            "AZ_BATCH_NODE_MOUNTS_DIR": str(node.root / "fsmounts"),
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
            "AZ_BATCH_TASK_USER": user,
        })
        if task_id is not None:
            env["AZ_BATCH_TASK_ID"] = task_id
        for setting in settings:
            env[setting["name"]] = setting.get("value") or ""
        return env

    def _node_id(self, pool_id: str, index: int, dedicated: bool) -> str:
        digest = hashlib.sha256(f"{self.account}/{pool_id}/{index}".encode()).hexdigest()
        return f"tvmps_{digest}_{'d' if dedicated else 'p'}"

    def get_pool(self, pool_id: str) -> dict:
        with self.lock:
            return batch_rest.pool_rest(self.endpoint, self._pool(pool_id))

    def list_pools(self) -> list[dict]:
        with self.lock:
            return [batch_rest.pool_rest(self.endpoint, p) for p in self.pools.values()]

    def resize_pool(self, pool_id: str, body: dict) -> None:
        with self.lock:
            pool = self._pool(pool_id)
            if pool.state != "active":
                raise BatchError(409, "PoolBeingDeleted", "The specified pool is being deleted.")
            self._resize(
                pool,
                int(body.get("targetDedicatedNodes", pool.target_dedicated) or 0),
                int(body.get("targetLowPriorityNodes", pool.target_low_priority) or 0),
            )

    def delete_pool(self, pool_id: str) -> None:
        with self.lock:
            self._delete_pool(self._pool(pool_id))

    def _delete_pool(self, pool: Pool) -> None:
        pool.state = "deleting"
        pool.modified = now()
        busy = False
        for node in pool.nodes:
            for task in list(node.running):
                busy = True
                self._kill(task, "preempt")
        if not busy:
            self.pools.pop(pool.id.lower(), None)
        self.changed.notify_all()

    def list_nodes(self, pool_id: str) -> list[dict]:
        with self.lock:
            return [batch_rest.node_rest(self.endpoint, n) for n in self._pool(pool_id).nodes]

    def get_node(self, pool_id: str, node_id: str) -> dict:
        with self.lock:
            for node in self._pool(pool_id).nodes:
                if node.id.lower() == node_id.lower():
                    return batch_rest.node_rest(self.endpoint, node)
        raise BatchError(404, "NodeNotFound", "The specified node does not exist.")

    def node_counts(self) -> list[dict]:
        with self.lock:
            result = []
            for pool in self.pools.values():
                entry = {"poolId": pool.id}
                for key, dedicated in (("dedicated", True), ("lowPriority", False)):
                    counts = dict.fromkeys(
                        ("creating", "idle", "offline", "preempted", "rebooting", "reimaging", "running",
                         "starting", "startTaskFailed", "leavingPool", "unknown", "unusable",
                         "waitingForStartTask", "deallocated", "deallocating", "upgradingOS"), 0)
                    nodes = [n for n in pool.nodes if n.dedicated == dedicated]
                    camel = {"waitingforstarttask": "waitingForStartTask", "starttaskfailed": "startTaskFailed"}
                    for node in nodes:
                        counts[camel.get(node.state, node.state)] += 1
                    counts["total"] = len(nodes)
                    entry[key] = counts
                result.append(entry)
            return result

    def preempt_node(self, pool_id: str, node_index: int, down_for: float | None = None) -> list[str]:
        """Kill the tasks running on node ``node_index`` (position in the pool's node list) and
        requeue them; the node is "preempted" for ``down_for`` seconds, then comes back."""
        with self.changed:
            pool = self._pool(pool_id)
            node = pool.nodes[node_index]
            node.down_until = time.monotonic() + (self.preempt_downtime if down_for is None else down_for)
            victims = list(node.running)
            for task in victims:
                self._kill(task, "preempt")
            self.changed.notify_all()
            return [task.id for task in victims]

    # ---------------------------------------------------------------------------------------- jobs
    def create_job(self, body: dict) -> dict:
        job_id = check_id(body.get("id"))
        pool_info = body.get("poolInfo")
        if not pool_info:
            raise missing_property("poolInfo")
        auto = pool_info.get("autoPoolSpecification")
        if not pool_info.get("poolId") and not auto:
            raise invalid_property("poolInfo", "", "Specify either poolId or autoPoolSpecification.")
        if auto:
            if not auto.get("poolLifetimeOption"):
                raise missing_property("autoPoolSpecification.poolLifetimeOption")
            if not (auto.get("pool") or {}).get("vmSize"):
                raise missing_property("autoPoolSpecification.pool.vmSize")
            if len(auto.get("autoPoolIdPrefix") or "") > 20:
                raise invalid_property("autoPoolIdPrefix", auto["autoPoolIdPrefix"], "At most 20 characters.")
        constraints = body.get("constraints") or {}
        wall = parse_duration(constraints.get("maxWallClockTime"), "constraints.maxWallClockTime")
        with self.changed:
            if job_id.lower() in self.jobs:
                raise BatchError(409, "JobExists", "The specified job already exists.")
            job = Job(id=job_id, spec=dict(body), seq=next(self._seq))
            if wall is not None:
                job.deadline = time.monotonic() + wall.total_seconds()
            if auto:
                fault = self.faults.scheduling_error_for(job_id)
                if fault:
                    # "If auto Pool creation fails, the Batch service moves the Job to a completed state, and the
                    # Pool creation error is set in the Job's scheduling error property" (PoolInformation).
                    job.scheduling_error = {"category": fault.category, "code": fault.code, "message": fault.message,
                                            "details": []}
                    if fault.completes:
                        job.set_state("completed")
                        job.end_time = job.state_time
                else:
                    prefix = auto.get("autoPoolIdPrefix") or ""
                    pool_id = f"{prefix}_{str(uuid.uuid4()).upper()}" if prefix else str(uuid.uuid4()).upper()
                    self._new_pool(pool_id, auto["pool"], auto=True, keep_alive=bool(auto.get("keepAlive")))
                    job.pool_id = pool_id
            else:
                job.pool_id = pool_info["poolId"]
            self.jobs[job_id.lower()] = job
            # A job created with terminatejob and no tasks yet is complete at once: the race that makes
            # "create with noaction, add tasks, then update_job" the right order. We model its worst case.
            self._check_all_complete(job)
            self.changed.notify_all()
            return batch_rest.job_rest(self.endpoint, job)

    def fail_auto_pool(self, job_id: str, code: str, message: str) -> None:
        with self.changed:
            job = self._job(job_id)
            pool = self.pools.get((job.pool_id or "").lower())
            if pool is not None and pool.auto:
                self._delete_pool(pool)
            job.pool_id = None
            job.scheduling_error = {"category": "usererror", "code": code, "message": message, "details": []}
            if job.state == "active":
                job.set_state("completed")
                job.end_time = job.state_time
            self.changed.notify_all()

    def get_job(self, job_id: str) -> dict:
        with self.lock:
            return batch_rest.job_rest(self.endpoint, self._job(job_id))

    def list_jobs(self) -> list[dict]:
        with self.lock:
            return [batch_rest.job_rest(self.endpoint, j) for j in self.jobs.values()]

    def update_job(self, job_id: str, body: dict, replace: bool = False) -> None:
        with self.changed:
            job = self._job(job_id)
            if job.state in ("completed", "terminating", "deleting"):
                raise BatchError(409, "JobCompleted" if job.state == "completed" else "JobBeingTerminated",
                                 f"The specified job is {job.state}.")
            allowed = ("priority", "maxParallelTasks", "constraints", "poolInfo", "onAllTasksComplete",
                       "onTaskFailure", "metadata", "allowTaskPreemption", "networkConfiguration")
            if replace and not body.get("poolInfo"):
                raise missing_property("poolInfo")
            for key in allowed:
                if key in body:
                    job.spec[key] = body[key]
                elif replace and key in ("priority", "constraints", "metadata", "onAllTasksComplete"):
                    job.spec.pop(key, None)  # PUT resets what it does not carry
            if "constraints" in body:
                wall = parse_duration((body.get("constraints") or {}).get("maxWallClockTime"))
                job.deadline = None if wall is None else time.monotonic() + wall.total_seconds()
            if "poolInfo" in body and (body["poolInfo"] or {}).get("poolId"):
                job.pool_id = body["poolInfo"]["poolId"]
            job.modified = now()
            self._check_all_complete(job)
            self.changed.notify_all()

    def terminate_job(self, job_id: str, reason: str | None = None) -> None:
        with self.changed:
            job = self._job(job_id)
            if job.state == "completed":
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            if job.state in ("terminating", "deleting"):
                return
            self._terminate(job, reason or "UserTerminate")

    def _terminate(self, job: Job, reason: str) -> None:
        job.terminate_reason = reason
        job.set_state("terminating")
        for task in job.tasks.values():
            if task.state == "running":
                self._kill(task, "terminate")
        self._finish_termination(job)
        self.changed.notify_all()

    def _finish_termination(self, job: Job) -> None:
        if job.running:
            return  # the last worker to finish calls this again
        if job.state == "terminating":
            self._complete_job(job, job.terminate_reason or "UserTerminate")
        elif job.state == "deleting":
            self.jobs.pop(job.id.lower(), None)
            self._release_auto_pool(job)

    def _complete_job(self, job: Job, reason: str) -> None:
        job.terminate_reason = reason
        job.end_time = now()
        job.set_state("completed")
        self._release_auto_pool(job)

    def _release_auto_pool(self, job: Job) -> None:
        pool = self.pools.get((job.pool_id or "").lower())
        if pool and pool.auto and not pool.keep_alive and pool.state == "active":
            self._delete_pool(pool)

    def delete_job(self, job_id: str) -> None:
        with self.changed:
            job = self._job(job_id)
            if job.state == "deleting":
                return
            job.set_state("deleting")
            for task in job.tasks.values():
                if task.state == "running":
                    self._kill(task, "terminate")
            self._finish_termination(job)
            self.changed.notify_all()

    def task_counts(self, job_id: str) -> dict:
        with self.lock:
            job = self._job(job_id)
            counts = dict.fromkeys(("active", "running", "completed", "succeeded", "failed"), 0)
            slots = dict(counts)
            for task in job.tasks.values():
                state = "active" if task.state in ("active", "preparing") else task.state
                counts[state] += 1
                slots[state] += task.required_slots
                if task.state == "completed":
                    outcome = "succeeded" if task.result == "success" else "failed"
                    counts[outcome] += 1
                    slots[outcome] += task.required_slots
            return {"taskCounts": counts, "taskSlotCounts": slots}

    # --------------------------------------------------------------------------------------- tasks
    @staticmethod
    def validate_task(body: dict) -> None:
        check_id(body.get("id"))
        if not body.get("commandLine"):
            raise missing_property("commandLine")
        constraints = body.get("constraints") or {}
        parse_duration(constraints.get("maxWallClockTime"), "constraints.maxWallClockTime")
        for resource in body.get("resourceFiles") or []:
            sources = [k for k in ("httpUrl", "storageContainerUrl", "autoStorageContainerName") if resource.get(k)]
            if len(sources) != 1:
                raise invalid_property("resourceFiles", sources, "Give exactly one of httpUrl, storageContainerUrl,"
                                       " autoStorageContainerName.")
            if resource.get("httpUrl") and not resource.get("filePath"):
                raise missing_property("resourceFiles.filePath")
        for output in body.get("outputFiles") or []:
            for name in ("filePattern", "destination", "uploadOptions"):
                if not output.get(name):
                    raise missing_property(f"outputFiles.{name}")

    def add_task(self, job_id: str, body: dict) -> dict:
        """Add one validated task; returns an addtaskcollection result entry (never raises TaskExists)."""
        with self.changed:
            job = self._job(job_id)
            if job.state != "active":
                raise BatchError(409, "JobCompleted", f"The specified job is {job.state}; tasks cannot be added.")
            key = body["id"].lower()
            if key in job.tasks:
                return {"status": "clienterror", "taskId": body["id"],
                        "error": task_error("TaskExists", "The specified task already exists.")}
            task = Task(job=job, id=body["id"], spec=dict(body), seq=next(self._seq))
            job.tasks[key] = task
            heapq.heappush(job.queue, (task.seq, task))
            job.modified = now()
            self.changed.notify_all()
            return {"status": "success", "taskId": task.id, "eTag": etag(task.modified),
                    "lastModified": format_time(task.modified), "location": batch_rest.task_url(self.endpoint, task)}

    def get_task(self, job_id: str, task_id: str) -> dict:
        with self.lock:
            return batch_rest.task_rest(self.endpoint, self._task(job_id, task_id))

    def list_tasks(self, job_id: str) -> list[dict]:
        with self.lock:
            return [batch_rest.task_rest(self.endpoint, t) for t in self._job(job_id).tasks.values()]

    def terminate_task(self, job_id: str, task_id: str) -> None:
        with self.changed:
            task = self._task(job_id, task_id)
            if task.state == "active":
                task.set_state("completed")
                task.end_time = now()
                task.result = "failure"
                task.failure_info = batch_node.failure("TaskEnded", "The task was terminated before it started.")
                self._check_job_after_task(task.job, task)
            elif task.state == "running":
                self._kill(task, "terminate")
            self.changed.notify_all()

    def delete_task(self, job_id: str, task_id: str) -> None:
        with self.changed:
            task = self._task(job_id, task_id)
            if task.state == "running":
                self._kill(task, "terminate")
            task.job.tasks.pop(task.id.lower(), None)
            task.state = "deleted"  # lazily dropped from the queue
            self._check_all_complete(task.job)
            self.changed.notify_all()

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        with self.lock:
            return self._task(job_id, task_id).task_dir

    # -------------------------------------------------------------------------------------- scheduler
    def _schedule_loop(self) -> None:
        while True:
            with self.changed:
                if self._stopping:
                    return
                self._expire_jobs()
                starts = self._pick_starts()
                if starts:
                    self.changed.notify_all()  # tasks became "running": wake test waiters
                else:
                    # Wake up now and then even without events: preempted nodes come back, deadlines pass.
                    self.changed.wait(timeout=0.05)
                    continue
            for task, run in starts:
                worker = threading.Thread(target=self._work, args=(task, run), name=f"task-{task.id}", daemon=True)
                with self.lock:
                    self._workers.add(worker)
                worker.start()

    def _expire_jobs(self) -> None:
        moment = time.monotonic()
        for job in list(self.jobs.values()):
            if job.state == "active" and job.deadline is not None and moment >= job.deadline:
                self._terminate(job, "MaxWallClockTimeExpiry")

    def _pick_starts(self) -> list[tuple[Task, batch_node.TaskRun]]:
        starts = []
        jobs = sorted((j for j in self.jobs.values() if j.state == "active" and j.queue),
                      key=lambda j: (-int(j.spec.get("priority") or 0), j.seq))
        for job in jobs:
            pool = self.pools.get((job.pool_id or "").lower())
            if pool is None or pool.state != "active":
                continue
            limit = int(job.spec.get("maxParallelTasks", -1) if job.spec.get("maxParallelTasks") is not None else -1)
            while job.queue and (limit < 0 or job.running < limit):
                _, task = job.queue[0]
                if task.state != "active" or task.job.tasks.get(task.id.lower()) is not task:
                    heapq.heappop(job.queue)  # stale entry (already started, deleted, or terminated)
                    continue
                node = pool.pick_node(task.required_slots)
                if node is None:
                    break  # FIFO: the head waits for a slot, the rest wait behind it
                heapq.heappop(job.queue)
                starts.append((task, self._assign(task, node)))
        return starts

    def _assign(self, task: Task, node: Node) -> batch_node.TaskRun:
        job = task.job
        task.set_state("running")
        task.start_time = task.state_time
        task.node, task.kill_reason = node, None
        node.running.append(task)
        node.total_tasks_run += 1
        job.running += 1
        node_root = node.root or self.root / "nodes" / node.id
        task.task_dir = node_root / "workitems" / job.id / "job-1" / task.id
        task.node_info = {
            "affinityId": f"TVM:{node.id}",
            "nodeUrl": f"{self.endpoint}/pools/{node.pool.id}/nodes/{node.id}",
            "poolId": node.pool.id,
            "nodeId": node.id,
            "taskRootDirectory": f"workitems/{job.id}/job-1/{task.id}",
            "taskRootDirectoryUrl": f"{self.endpoint}/pools/{node.pool.id}/nodes/{node.id}/files/workitems/{job.id}/job-1/{task.id}",
        }
        env = self._node_env(node, task.spec.get("userIdentity"), task.task_dir, task_id=task.id,
                             settings=(job.spec.get("commonEnvironmentSettings") or [])
                             + (task.spec.get("environmentSettings") or []))
        env["AZ_BATCH_JOB_ID"] = job.id
        for setting in task.spec.get("environmentSettings") or []:  # the task's own win over the job's
            env[setting["name"]] = setting.get("value") or ""
        task_constraints = task.spec.get("constraints") or {}
        job_constraints = job.spec.get("constraints") or {}
        wall = parse_duration(task_constraints.get("maxWallClockTime"))
        retries = task_constraints.get("maxTaskRetryCount", job_constraints.get("maxTaskRetryCount", 0))
        return batch_node.TaskRun(
            task_id=task.id,
            task_dir=task.task_dir,
            command_line=task.spec["commandLine"],
            env=env,
            resource_files=list(task.spec.get("resourceFiles") or []),
            output_files=list(task.spec.get("outputFiles") or []),
            max_wall_clock=None if wall is None else wall.total_seconds(),
            max_retries=int(retries if retries is not None else 0),
        )

    def _work(self, task: Task, run: batch_node.TaskRun) -> None:
        try:
            outcome = batch_node.run_task(run, _Handle(self, task))
        except Exception as exc:  # a bug here must show up as a failed task, not a hung test
            outcome = batch_node.Outcome(failure=batch_node.failure("TestServerError", repr(exc), "servererror"))
        with self.changed:
            self._finish(task, outcome)
            self._workers.discard(threading.current_thread())
            self.changed.notify_all()

    def _finish(self, task: Task, outcome: batch_node.Outcome) -> None:
        job, node = task.job, task.node
        if node is not None and task in node.running:
            node.running.remove(task)
        job.running -= 1
        task.process, task.node = None, None
        if outcome.requeue and job.state == "active" and task.state == "running":
            task.set_state("active")
            task.requeue_count += 1
            task.last_requeue_time = task.state_time
            task.node_info = None
            heapq.heappush(job.queue, (task.seq, task))
        elif task.state == "running":
            task.set_state("completed")
            task.end_time = task.state_time
            if outcome.requeue:  # the job went away while the task was being requeued
                outcome = batch_node.Outcome(failure=batch_node.failure("TaskEnded", "The task's node was removed."))
            task.exit_code, task.failure_info, task.result = outcome.exit_code, outcome.failure, outcome.result
            if node is not None and outcome.result == "success":
                node.total_tasks_succeeded += 1
            self._check_job_after_task(job, task)
        # A pool being deleted goes away once its last task has stopped.
        if node is not None and node.pool.state == "deleting":
            if not any(n.running for n in node.pool.nodes):
                self.pools.pop(node.pool.id.lower(), None)
        if job.state in ("terminating", "deleting"):
            self._finish_termination(job)

    def _check_job_after_task(self, job: Job, task: Task) -> None:
        if job.state != "active":
            return
        if task.result == "failure" and job.on_task_failure == "performexitoptionsjobaction":
            if self._job_action(task) == "terminate":
                self._terminate(job, "TaskFailed")
                return
        self._check_all_complete(job)

    @staticmethod
    def _job_action(task: Task) -> str:
        conditions = task.spec.get("exitConditions") or {}
        code = task.exit_code
        options = None
        if code is not None and (task.failure_info or {}).get("code") in ("FailureExitCode", None):
            options = next((m.get("exitOptions") for m in conditions.get("exitCodes") or [] if m.get("code") == code), None)
            if options is None:
                options = next((r.get("exitOptions") for r in conditions.get("exitCodeRanges") or []
                                if r.get("start", 0) <= code <= r.get("end", -1)), None)
        elif code is None:
            options = conditions.get("preProcessingError")
        if (task.failure_info or {}).get("code") == "FileUploadError":
            options = conditions.get("fileUploadError") or options
        options = options or conditions.get("default") or {}
        # Service default: "none" for exit code 0, "terminate" for every other exit condition.
        return (options.get("jobAction") or ("none" if code == 0 else "terminate")).lower()

    def _check_all_complete(self, job: Job) -> None:
        if job.state != "active" or job.on_all_tasks_complete != "terminatejob":
            return
        if all(task.state == "completed" for task in job.tasks.values()):
            self._complete_job(job, "AllTasksComplete")

    def _kill(self, task: Task, reason: str) -> None:
        """Ask a running task to stop; its worker reports the outcome. Hold the lock."""
        if task.state != "running":
            return
        task.kill_reason = reason
        if task.process is not None:
            batch_node.kill_process_group(task.process)

    # --------------------------------------------------------------------------------------- lookups
    def _pool(self, pool_id: str) -> Pool:
        pool = self.pools.get(pool_id.lower())
        if pool is None:
            raise BatchError(404, "PoolNotFound", "The specified pool does not exist.")
        return pool

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id.lower())
        if job is None:
            raise BatchError(404, "JobNotFound", "The specified job does not exist.")
        return job

    def _task(self, job_id: str, task_id: str) -> Task:
        task = self._job(job_id).tasks.get(task_id.lower())
        if task is None:
            raise BatchError(404, "TaskNotFound", "The specified task does not exist.")
        return task

    def wait(self, predicate, timeout: float) -> bool:
        """Block until ``predicate()`` (called under the lock) is true; False on timeout.

        Re-checks every 50 ms as well as on every change: some states (a preempted node coming
        back) change with time alone.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(min(remaining, 0.05))
            return True

def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
