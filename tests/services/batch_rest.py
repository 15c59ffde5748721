"""REST shapes of the Batch test server's entities, as the service returns them (camelCase, absent
properties omitted, "no limit" durations spelled as the service spells them)."""

from __future__ import annotations

from .batch_model import Job, Node, Pool, Task
from .batch_wire import UNLIMITED_DURATION, etag, format_time


def task_url(endpoint: str, task: Task) -> str:
    return f"{endpoint}/jobs/{task.job.id}/tasks/{task.id}"


def pool_rest(endpoint: str, pool: Pool) -> dict:
    spec = pool.spec
    return compact({
        "id": pool.id,
        "url": f"{endpoint}/pools/{pool.id}",
        "eTag": etag(pool.modified),
        "lastModified": format_time(pool.modified),
        "creationTime": format_time(pool.created),
        "state": pool.state,
        "stateTransitionTime": format_time(pool.modified),
        "allocationState": "steady",
        "allocationStateTransitionTime": format_time(pool.modified),
        "vmSize": spec.get("vmSize"),
        "virtualMachineConfiguration": spec.get("virtualMachineConfiguration"),
        "resizeTimeout": spec.get("resizeTimeout") or "PT15M",
        "resizeErrors": list(pool.resize_errors) or None,
        "currentDedicatedNodes": sum(1 for n in pool.nodes if n.dedicated),
        "currentLowPriorityNodes": sum(1 for n in pool.nodes if not n.dedicated),
        "targetDedicatedNodes": pool.target_dedicated,
        "targetLowPriorityNodes": pool.target_low_priority,
        "enableAutoScale": False,
        "enableInterNodeCommunication": bool(spec.get("enableInterNodeCommunication")),
        "startTask": spec.get("startTask"),
        "taskSlotsPerNode": pool.slots_per_node,
        "taskSchedulingPolicy": {"nodeFillType": pool.fill_type},
        "metadata": spec.get("metadata"),
    })


def node_rest(endpoint: str, node: Node) -> dict:
    return compact({
        "id": node.id,
        "url": f"{endpoint}/pools/{node.pool.id}/nodes/{node.id}",
        "state": node.state,
        "schedulingState": "enabled",
        "stateTransitionTime": format_time(node.created),
        "allocationTime": format_time(node.created),
        "lastBootTime": format_time(node.created),
        "ipAddress": "127.0.0.1",
        "affinityId": f"TVM:{node.id}",
        "vmSize": node.pool.spec.get("vmSize"),
        "isDedicated": node.dedicated,
        "totalTasksRun": node.total_tasks_run,
        "totalTasksSucceeded": node.total_tasks_succeeded,
        "runningTasksCount": len(node.running),
        "runningTaskSlotsCount": sum(t.required_slots for t in node.running),
        "startTask": node.pool.spec.get("startTask"),
        "startTaskInfo": node.start_task_info,
        "recentTasks": [
            {"taskUrl": task_url(endpoint, t), "jobId": t.job.id, "taskId": t.id, "taskState": t.state,
             "executionInfo": execution_info(t)}
            for t in node.running
        ],
    })


def job_rest(endpoint: str, job: Job) -> dict:
    spec = job.spec
    constraints = dict(spec.get("constraints") or {})
    constraints.setdefault("maxWallClockTime", UNLIMITED_DURATION)
    constraints.setdefault("maxTaskRetryCount", 0)
    return compact({
        "id": job.id,
        "displayName": spec.get("displayName"),
        "usesTaskDependencies": bool(spec.get("usesTaskDependencies")),
        "url": f"{endpoint}/jobs/{job.id}",
        "eTag": etag(job.modified),
        "lastModified": format_time(job.modified),
        "creationTime": format_time(job.created),
        "state": job.state,
        "stateTransitionTime": format_time(job.state_time),
        "previousState": job.previous_state,
        "previousStateTransitionTime": format_time(job.previous_state_time),
        "priority": int(spec.get("priority") or 0),
        "allowTaskPreemption": bool(spec.get("allowTaskPreemption")),
        "maxParallelTasks": int(spec["maxParallelTasks"]) if spec.get("maxParallelTasks") is not None else -1,
        "constraints": constraints,
        "commonEnvironmentSettings": spec.get("commonEnvironmentSettings"),
        "poolInfo": spec.get("poolInfo"),
        "onAllTasksComplete": job.on_all_tasks_complete,
        "onTaskFailure": job.on_task_failure,
        "metadata": spec.get("metadata"),
        "executionInfo": compact({
            "startTime": format_time(job.created),
            "endTime": format_time(job.end_time),
            "poolId": job.pool_id,
            "schedulingError": job.scheduling_error,
            "terminateReason": job.terminate_reason,
        }),
    })


def execution_info(task: Task) -> dict:
    return compact({
        "startTime": format_time(task.start_time),
        "endTime": format_time(task.end_time),
        "exitCode": task.exit_code,
        "failureInfo": task.failure_info,
        "retryCount": task.retry_count,
        "lastRetryTime": format_time(task.last_retry_time),
        "requeueCount": task.requeue_count,
        "lastRequeueTime": format_time(task.last_requeue_time),
        "result": task.result,
    })


def task_rest(endpoint: str, task: Task) -> dict:
    spec = task.spec
    constraints = dict(spec.get("constraints") or {})
    constraints.setdefault("maxWallClockTime", UNLIMITED_DURATION)
    constraints.setdefault("retentionTime", "P7D")
    job_retries = (task.job.spec.get("constraints") or {}).get("maxTaskRetryCount", 0)
    constraints.setdefault("maxTaskRetryCount", job_retries)
    rest = {key: value for key, value in spec.items() if key not in ("constraints",)}
    rest.update({
        "url": task_url(endpoint, task),
        "eTag": etag(task.modified),
        "lastModified": format_time(task.modified),
        "creationTime": format_time(task.created),
        "state": task.state,
        "stateTransitionTime": format_time(task.state_time),
        "previousState": task.previous_state,
        "previousStateTransitionTime": format_time(task.previous_state_time),
        "constraints": constraints,
        "requiredSlots": task.required_slots,
        "executionInfo": execution_info(task) if task.start_time or task.state == "completed" else None,
        "nodeInfo": task.node_info,
    })
    return compact(rest)


def compact(mapping: dict) -> dict:
    """Drop None values, as the service omits absent properties."""
    return {key: value for key, value in mapping.items() if value is not None}
