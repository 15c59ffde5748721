"""Adding a job's tasks to Batch: chunks of at most 100 tasks, several addtaskcollection calls at once.

Microsoft's "Submit a large number of tasks to a Batch job" (learn.microsoft.com/azure/batch/large-number-tasks):
the REST API (and the Python SDK on it) takes at most 100 tasks per call, fewer when their serialised size passes
1 MB (RequestBodyTooLarge: "should be retried again with fewer tasks"), and throughput grows with the number of
concurrent calls ("in practice, you should set the number of concurrent operations lower than 100"). The caller
divides the collection and retries failed additions itself.

Why not the SDK's create_tasks: it serialises every task model again per call, and it does not report which
tasks were acknowledged, so the backend listed every task afterwards to check (10 paged GETs and 10,000 model
deserialisations at 10,000 runs). Here each task is a plain dict (the REST body), and each task's result in the
response tells whether it is in: success and TaskExists (a retried call whose first attempt went through) are
in, a server error is retried, a client error is a refusal. A call that fails as a whole (a dropped connection,
after azure-core's own retries) is sent again: the tasks it did add come back as TaskExists.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

#: tasks per addtaskcollection call: the REST API's limit
MAX_TASKS_PER_CALL = 100
#: how often one chunk is sent again after a failure of the whole call or server errors of some tasks
CHUNK_ATTEMPTS = 4


@dataclass
class Submission:
    """What became of a collection: task ids refused (with Batch's error code) and calls that failed whole."""

    refused: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    not_added: list[str] = field(default_factory=list)


def add_tasks(client, job_id: str, bodies: list[dict], *, concurrency: int) -> Submission:
    """Add every task body (the REST form of BatchTaskCreateOptions) to the job; returns what did not go in."""
    chunks = [bodies[i:i + MAX_TASKS_PER_CALL] for i in range(0, len(bodies), MAX_TASKS_PER_CALL)]
    outcome = Submission()
    if not chunks:
        return outcome
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(chunks)))) as pool:
        for part in pool.map(lambda chunk: _add_chunk(client, job_id, chunk), chunks):
            outcome.refused += part.refused
            outcome.errors += part.errors
            outcome.not_added += part.not_added
    return outcome


def _add_chunk(client, job_id: str, chunk: list[dict]) -> Submission:
    from azure.core.exceptions import HttpResponseError

    from launcher.azure.errors import error_code

    out = Submission()
    pending = list(chunk)
    for _attempt in range(CHUNK_ATTEMPTS):
        if not pending:
            return out
        try:
            # The body as plain JSON: the SDK's encoder writes a dict as it is, where a BatchTaskGroup (even one
            # made from a raw mapping) deserialises every task into models and serialises them back (~1 ms each).
            # (Not stream=True to skip the answer's models: azure-batch 15.1 then loses the error body, and with
            # it RequestBodyTooLarge and Batch's message.) The result model reads as its REST mapping.
            result = client.create_task_collection(job_id, {"value": pending})
        except HttpResponseError as exc:
            if error_code(exc) == "RequestBodyTooLarge" and len(pending) > 1:
                half = len(pending) // 2
                for part in (_add_chunk(client, job_id, pending[:half]), _add_chunk(client, job_id, pending[half:])):
                    out.refused += part.refused
                    out.errors += part.errors
                    out.not_added += part.not_added
                return out
            if error_code(exc) == "RequestBodyTooLarge" or exc.status_code is not None and exc.status_code < 500:
                out.errors.append(exc)  # the whole call refused (auth, a completed job, one task too large)
                out.not_added += [b["id"] for b in pending]
                return out
            out.errors.append(exc)  # 5xx after azure-core's retries: maybe partly done; send it again
            continue
        except Exception as exc:  # noqa: BLE001 - a dropped connection: maybe partly done; send it again
            out.errors.append(exc)
            continue
        by_id = {b["id"].lower(): b for b in pending}
        retry = []
        for item in result.get("value") or []:
            tid = str(item.get("taskId", "")).lower()
            body = by_id.pop(tid, None)
            if body is None:
                continue
            status = item.get("status")
            code = (item.get("error") or {}).get("code") or ""
            if status == "success" or code == "TaskExists":
                continue
            if status == "servererror":
                retry.append(body)
            else:
                out.refused.append((body["id"], code or str(status)))
        pending = retry + list(by_id.values())  # a task the answer does not mention is sent again
        out.errors.clear()  # the call went through: earlier failures of this chunk are resolved
    out.not_added += [b["id"] for b in pending]
    return out
