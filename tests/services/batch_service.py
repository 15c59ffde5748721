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
                 preempt_downtime: float = 0.2) -> None:
        self.account = account
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

    def _new_pool(self, pool_id: str, spec: dict, *, auto: bool, keep_alive: bool) -> Pool:
        slots = int(spec.get("taskSlotsPerNode") or 1)
        if not 1 <= slots <= MAX_TASK_SLOTS_PER_NODE:
            raise invalid_property("taskSlotsPerNode", slots, f"Must be between 1 and {MAX_TASK_SLOTS_PER_NODE}.")
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
                pool.nodes.append(Node(pool, index, self._node_id(pool.id, index, is_dedicated), is_dedicated,
                                       pool.slots_per_node))
            for node in have[wanted:] if len(have) > wanted else []:
                pool.nodes.remove(node)
                for task in list(node.running):
                    self._kill(task, "preempt")  # nodeDeallocationOption requeue (the default)
        pool.nodes.sort(key=lambda n: (not n.dedicated, n.index))  # dedicated first, as documented
        pool.modified = now()
        self.changed.notify_all()

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
                    for node in nodes:
                        counts[node.state] += 1
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
                    job.scheduling_error = {"category": fault.category, "code": fault.code, "message": fault.message,
                                            "details": []}
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
        node_root = self.root / "nodes" / node.id
        task.task_dir = node_root / "workitems" / job.id / "job-1" / task.id
        shared = node_root / "shared"
        shared.mkdir(parents=True, exist_ok=True)
        task.node_info = {
            "affinityId": f"TVM:{node.id}",
            "nodeUrl": f"{self.endpoint}/pools/{node.pool.id}/nodes/{node.id}",
            "poolId": node.pool.id,
            "nodeId": node.id,
            "taskRootDirectory": f"workitems/{job.id}/job-1/{task.id}",
            "taskRootDirectoryUrl": f"{self.endpoint}/pools/{node.pool.id}/nodes/{node.id}/files/workitems/{job.id}/job-1/{task.id}",
        }
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", "HOME": str(node_root)}
        env.update(self.node_env)
        env.update({
            "AZ_BATCH_ACCOUNT_NAME": self.account,
            "AZ_BATCH_ACCOUNT_URL": self.endpoint,
            "AZ_BATCH_POOL_ID": node.pool.id,
            "AZ_BATCH_NODE_ID": node.id,
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.dedicated else "false",
            "AZ_BATCH_NODE_ROOT_DIR": str(node_root),
            "AZ_BATCH_NODE_SHARED_DIR": str(shared),
            "AZ_BATCH_JOB_ID": job.id,
            "AZ_BATCH_TASK_ID": task.id,
            "AZ_BATCH_TASK_DIR": str(task.task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task.task_dir / "wd"),
        })
        for setting in (job.spec.get("commonEnvironmentSettings") or []) + (task.spec.get("environmentSettings") or []):
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
