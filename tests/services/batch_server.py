"""A Batch-compatible HTTP test server on 127.0.0.1 that the real azure-batch SDK talks to.

    server = BatchTestServer(account="testacct")
    with server:
        client = BatchClient(endpoint=server.endpoint, credential=server.credential())
        ...

Routes follow the REST calls azure-batch 15 makes (research: azure_sdk.md); status codes are the
exact ones the SDK accepts. Requests must carry a valid Shared Key signature (or any Bearer token
when ``accept_bearer``). Every request is recorded in ``server.requests``; faults are injected
with ``server.faults`` (see batch_faults.py); ``server.preempt_node`` models a Spot eviction.
Tasks run as local processes under ``server.root`` (see batch_service.py and batch_node.py).
The user documentation is docs/test-harness.md.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlencode

import pytest

from . import batch_odata, batch_rest
from .batch_faults import DEFAULT_MESSAGES, Fault, FaultPlan
from .batch_service import MAX_TASKS_PER_COLLECTION, BatchService, remove_tree
from .batch_wire import BatchError, check_shared_key, error_body, format_time, http_date, now, task_error

MAX_BODY_BYTES = 1024 * 1024  # the service rejects bigger addtaskcollection bodies (RequestBodyTooLarge)
JSON_TYPE = "application/json;odata=minimalmetadata"


@dataclass
class RecordedRequest:
    """One request as the server received it (``status`` is what it answered; None if dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.monotonic)
    status: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Reply:
    status: int
    payload: Any = None  # dict -> JSON body; bytes -> raw body; None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # Content-Length of a HEAD answer (which has no body)


@dataclass
class _Request:
    """What a route handler gets: the parsed request (query values: first of each name)."""

    method: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    partial: int | None = None  # from a "partial" fault: handle only the first k items

    def object(self) -> dict:
        return _object(self.body)


class BatchTestServer:
    """Batch-compatible server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        account: str = "testacct",
        key: str | None = None,
        *,
        root: str | os.PathLike | None = None,
        node_env: dict[str, str] | None = None,
        preempt_downtime: float = 0.2,
        accept_bearer: bool = True,
        max_results: int = 1000,
        node_python: str | None = None,
        vm_vcpus: dict[str, int] | None = None,
        storage_endpoints: dict[str, str] | None = None,
        max_requests_per_second: float | None = None,
        bearer_roles: dict[str, str] | None = None,
    ) -> None:
        self.account = account
        self.key = key or base64.b64encode(os.urandom(32)).decode("ascii")
        base64.b64decode(self.key, validate=True)  # a bad key is a test bug: fail here, not in a handler
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="batch-test-server-"))
        self.accept_bearer = accept_bearer
        self.max_results = max_results
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[str] = []  # server bugs (HTTP 500 answers that no fault asked for)
        self.service = BatchService(account, self.root, self.faults, node_env=node_env,
                                    preempt_downtime=preempt_downtime, node_python=node_python,
                                    vm_vcpus=vm_vcpus, storage_endpoints=storage_endpoints)
        # Throttling: past this many requests in a second, 429 TooManyRequests with Retry-After.
        self.max_requests_per_second = max_requests_per_second
        # Entra ID tokens -> their built-in Batch role (None: any bearer token may do anything). Shared Key always
        # has full permission ("The Batch shared key credentials give full permission to the Batch account").
        self.bearer_roles = bearer_roles
        # GET /supportedimages (Account - List Supported Images): the image/SKU pairs the account offers.
        self.supported_images = [
            {"nodeAgentSKUId": "batch.node.ubuntu 22.04", "osType": "linux", "verificationType": "verified",
             "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts",
                                "version": "latest"}, "capabilities": []},
            {"nodeAgentSKUId": "batch.node.ubuntu 24.04", "osType": "linux", "verificationType": "verified",
             "imageReference": {"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                                "version": "latest"}, "capabilities": []},
        ]
        self.throttled = 0
        self._window: list[float] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._record_lock = threading.Lock()

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> BatchTestServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.service.endpoint = self.endpoint
        self.service.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="batch-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.service.stop()
        if self._own_root:
            remove_tree(self.root)

    def __enter__(self) -> BatchTestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the Batch test server is not started")
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credential(self):
        from azure.core.credentials import AzureNamedKeyCredential

        return AzureNamedKeyCredential(self.account, self.key)

    def client(self, **kwargs):
        """A real ``azure.batch.BatchClient`` for this server (kwargs go to the client, e.g. retry_total)."""
        from azure.batch import BatchClient

        return BatchClient(endpoint=self.endpoint, credential=self.credential(), **kwargs)

    #: What each built-in role may do on the data plane (learn.microsoft.com/azure/batch/batch-role-based-access-
    #: control): (resource, verb) pairs; a role not listed has no DataActions (Contributor, Owner, Reader).
    ROLE_ACTIONS = {
        "Azure Batch Data Contributor": {(r, v) for r in ("pools", "jobs", "tasks", "other")
                                         for v in ("read", "write", "delete")},
        "Azure Batch Job Submitter": {("pools", "read"), ("other", "read"), ("jobs", "read"), ("jobs", "write"),
                                      ("jobs", "delete"), ("tasks", "read"), ("tasks", "write"), ("tasks", "delete")},
        "Azure Batch Account Reader": {(r, "read") for r in ("pools", "jobs", "tasks", "other")},
    }

    def _role_denies(self, method: str, path: str, headers: dict, body: bytes) -> str | None:
        auth = headers.get("authorization", "")
        if self.bearer_roles is None or not auth.startswith("Bearer "):
            return None
        role = self.bearer_roles.get(auth[len("Bearer "):])
        parts = [p for p in path.strip("/").split("/") if p]
        resource = "tasks" if len(parts) > 2 and parts[0] == "jobs" else parts[0] if parts and parts[0] in (
            "pools", "jobs") else "other"
        verb = "read" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "write"
        needed = {(resource, verb)}
        if resource == "jobs" and method == "POST" and len(parts) == 1 and b"autoPoolSpecification" in body:
            needed.add(("pools", "write"))  # "jobs that use autopool require pool-level write permissions"
        allowed = self.ROLE_ACTIONS.get(role or "", set())
        missing = sorted(needed - allowed)
        if not missing:
            return None
        return (f"This request is not authorized to perform this operation: the identity's role "
                f"({role or 'none'}) lacks {', '.join(f'{r}/{v}' for r, v in missing)}.")

    def _throttle(self) -> float | None:
        """None when the request may go on; else the seconds to put in Retry-After."""
        if not self.max_requests_per_second:
            return None
        moment = time.monotonic()
        with self._record_lock:
            self._window = [t for t in self._window if moment - t < 1.0]
            if len(self._window) >= self.max_requests_per_second:
                self.throttled += 1
                return max(0.05, round(1.0 - (moment - self._window[0]), 2))
            self._window.append(moment)
        return None

    def fail_auto_pool(self, job_id: str, code: str = "AutoPoolCreationFailedWithQuotaReached",
                       message: str | None = None) -> None:
        """The job's auto pool fails after the job was created (Batch creates it asynchronously): its nodes go,
        the job gets ``executionInfo.schedulingError`` and is completed, as documented for PoolInformation."""
        self.service.fail_auto_pool(job_id, code, message or DEFAULT_MESSAGES.get(code, code))

    @property
    def dpkg_locked_nodes(self) -> int:
        return self.service.dpkg_locked_nodes

    @dpkg_locked_nodes.setter
    def dpkg_locked_nodes(self, count: int) -> None:
        """The next `count` nodes boot with unattended-upgrades holding the dpkg lock (needs node_python)."""
        self.service.dpkg_locked_nodes = count

    def node_dirs(self, pool_id: str) -> list[Path]:
        """The folders of a pool's nodes (bin/, startup/, users/, shared/, fsmounts/, workitems/)."""
        with self.service.lock:
            return [n.root for n in self.service._pool(pool_id).nodes]

    # ------------------------------------------------------------------------------- test helpers
    def requests_matching(self, method: str = "*", path_regex: str = ".*") -> list[RecordedRequest]:
        pattern = re.compile(path_regex, re.IGNORECASE)
        with self._record_lock:
            return [r for r in self.requests if method in ("*", r.method) and pattern.search(r.path)]

    def preempt_node(self, pool_id: str, node_index: int, down_for: float | None = None) -> list[str]:
        """Evict node ``node_index`` (position in the pool's node list: dedicated nodes first, then
        low-priority) and requeue its running tasks; returns their ids."""
        return self.service.preempt_node(pool_id, node_index, down_for)

    def job_pool_id(self, job_id: str) -> str | None:
        return self.service.get_job(job_id).get("executionInfo", {}).get("poolId")

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        """The task's directory on its (last) node: stdout.txt, stderr.txt and wd/ live there."""
        return self.service.task_dir(job_id, task_id)

    def wait_for_job(self, job_id: str, state: str = "completed", timeout: float = 30.0) -> dict:
        """Wait until the job reaches ``state``; returns its REST dict. Fails the test on timeout."""
        service = self.service

        def reached() -> bool:
            job = service.jobs.get(job_id.lower())
            return job is not None and job.state == state

        if not service.wait(reached, timeout):
            pytest.fail(f"job {job_id} did not reach state {state!r} within {timeout} s")
        return service.get_job(job_id)

    def wait_for_tasks(self, job_id: str, predicate, timeout: float = 30.0) -> None:
        """Wait until ``predicate(list of task REST dicts)`` is true."""
        service = self.service

        def reached() -> bool:
            job = service.jobs.get(job_id.lower())
            return job is not None and predicate([batch_rest.task_rest(service.endpoint, t) for t in job.tasks.values()])

        if not service.wait(reached, timeout):
            pytest.fail(f"tasks of job {job_id} did not reach the expected state within {timeout} s")

    # -------------------------------------------------------------------------------- the routing
    def _record(self, record: RecordedRequest) -> None:
        with self._record_lock:
            self.requests.append(record)

    def _dispatch(self, method: str, segments: list[str], request: _Request) -> _Reply:
        for route_method, pattern, handler in ROUTES:
            if route_method == method:
                params = _match(pattern, segments)
                if params is not None:
                    return handler(self, request, **params)
        raise BatchError(501, "NotImplementedByTestServer",
                         f"The Batch test server does not implement {method} /{'/'.join(segments)}.")

    # pools and nodes
    def _list_pools(self, r: _Request) -> _Reply:
        return self._list(self.service.list_pools(), r)

    def _create_pool(self, r: _Request) -> _Reply:
        return self._created(self.service.create_pool(r.object()))

    def _get_pool(self, r: _Request, pool: str) -> _Reply:
        return self._entity(self.service.get_pool(pool), r.query)

    def _pool_exists(self, r: _Request, pool: str) -> _Reply:
        self.service.get_pool(pool)
        return _Reply(200)

    def _delete_pool(self, r: _Request, pool: str) -> _Reply:
        self.service.delete_pool(pool)
        return _Reply(202)

    def _resize_pool(self, r: _Request, pool: str) -> _Reply:
        self.service.resize_pool(pool, r.object())
        return _Reply(202)

    def _list_nodes(self, r: _Request, pool: str) -> _Reply:
        return self._list(self.service.list_nodes(pool), r)

    def _get_node(self, r: _Request, pool: str, node: str) -> _Reply:
        return self._entity(self.service.get_node(pool, node), r.query)

    def _node_counts(self, r: _Request) -> _Reply:
        return self._list(self.service.node_counts(), r)

    # jobs
    def _list_jobs(self, r: _Request) -> _Reply:
        return self._list(self.service.list_jobs(), r)

    def _create_job(self, r: _Request) -> _Reply:
        return self._created(self.service.create_job(r.object()))

    def _get_job(self, r: _Request, job: str) -> _Reply:
        return self._entity(self.service.get_job(job), r.query)

    def _update_job(self, r: _Request, job: str) -> _Reply:
        self.service.update_job(job, r.object(), replace=r.method == "PUT")
        return _Reply(200, None, self._etag_headers(self.service.get_job(job)))

    def _delete_job(self, r: _Request, job: str) -> _Reply:
        self.service.delete_job(job)
        return _Reply(202)

    def _terminate_job(self, r: _Request, job: str) -> _Reply:
        reason = r.body.get("terminateReason") if isinstance(r.body, dict) else None
        self.service.terminate_job(job, reason)
        return _Reply(202)

    def _task_counts(self, r: _Request, job: str) -> _Reply:
        return _Reply(200, self.service.task_counts(job))

    # tasks
    def _list_tasks(self, r: _Request, job: str) -> _Reply:
        return self._list(self.service.list_tasks(job), r)

    def _create_task(self, r: _Request, job: str) -> _Reply:
        task = r.object()
        self.service.validate_task(task)
        if self.service.add_task(job, task)["status"] != "success":
            raise BatchError(409, "TaskExists", "The specified task already exists.")
        return self._created(self.service.get_task(job, task["id"]))

    def _add_task_collection(self, r: _Request, job: str) -> _Reply:
        tasks = r.object().get("value")
        if not isinstance(tasks, list):
            raise BatchError(400, "MissingRequiredProperty", "A required property was not specified in the request body.",
                             [("PropertyName", "value")])
        if len(tasks) > MAX_TASKS_PER_COLLECTION:
            # The documented limit is 100 tasks per call; the SDK's create_tasks halves a chunk on this code.
            raise BatchError(413, "RequestBodyTooLarge", DEFAULT_MESSAGES["RequestBodyTooLarge"],
                             [("MaxTasksPerCollection", str(MAX_TASKS_PER_COLLECTION))])
        self.service.get_job(job)  # 404 before validating tasks
        for task in tasks:
            self.service.validate_task(_object(task))  # one malformed task rejects the whole call (400)
        results, seen = [], set()
        # A "partial" fault stops after the first k tasks (then the handler fails the call).
        for task in tasks[: r.partial if r.partial is not None else len(tasks)]:
            if task["id"].lower() in seen:
                results.append({"status": "clienterror", "taskId": task["id"],
                                "error": task_error("TaskExists", "The specified task already exists.")})
                continue
            seen.add(task["id"].lower())
            results.append(self.service.add_task(job, task))
        return _Reply(200, {"value": results})

    def _get_task(self, r: _Request, job: str, task: str) -> _Reply:
        return self._entity(self.service.get_task(job, task), r.query)

    def _delete_task(self, r: _Request, job: str, task: str) -> _Reply:
        self.service.delete_task(job, task)
        return _Reply(200)

    def _terminate_task(self, r: _Request, job: str, task: str) -> _Reply:
        self.service.terminate_task(job, task)
        return _Reply(204)

    # task files: stdout.txt, stderr.txt and wd/... of the task's directory on its node
    def _list_task_files(self, r: _Request, job: str, task: str) -> _Reply:
        task_dir = self.service.task_dir(job, task)
        entries = []
        if task_dir is not None and task_dir.is_dir():
            recursive = (r.query.get("recursive") or "").lower() == "true"
            for path in sorted(task_dir.rglob("*") if recursive else task_dir.iterdir()):
                entries.append(self._file_entry(job, task, path.relative_to(task_dir).as_posix(), path))
        return self._list(entries, r)

    def _get_task_file(self, r: _Request, job: str, task: str, path: str) -> _Reply:
        task_dir = self.service.task_dir(job, task)
        target = (task_dir / path).resolve() if task_dir is not None else None
        if target is None or task_dir.resolve() not in target.parents or not target.is_file():
            raise BatchError(404, "FileNotFound", "The specified file does not exist.")
        stat = target.stat()
        headers = {
            "Content-Type": "application/octet-stream",
            "ocp-creation-time": http_date(_mtime(target)),
            "ocp-batch-file-isdirectory": "false",
            "ocp-batch-file-url": f"{self.endpoint}/jobs/{job}/tasks/{task}/files/{quote(path)}",
            "ocp-batch-file-mode": format(stat.st_mode & 0o777777, "o"),
            "Last-Modified": http_date(_mtime(target)),
        }
        if r.method == "HEAD":
            return _Reply(200, None, headers, length=stat.st_size)
        return _Reply(200, _apply_range(target.read_bytes(), r.headers.get("ocp-range")), headers)

    def _file_entry(self, job_id: str, task_id: str, name: str, path: Path) -> dict:
        is_dir = path.is_dir()
        stat = path.stat()
        entry = {"name": name, "url": f"{self.endpoint}/jobs/{job_id}/tasks/{task_id}/files/{quote(name)}",
                 "isDirectory": is_dir}
        if not is_dir:
            entry["properties"] = {"creationTime": format_time(_mtime(path)), "lastModified": format_time(_mtime(path)),
                                   "contentLength": stat.st_size, "contentType": "application/octet-stream",
                                   "fileMode": format(stat.st_mode & 0o777777, "o")}
        return entry

    # ---------------------------------------------------------------------------------- responses
    def _etag_headers(self, entity: dict) -> dict[str, str]:
        headers = {}
        if "eTag" in entity:
            headers["ETag"] = entity["eTag"]
        if "lastModified" in entity:
            moment = datetime.strptime(entity["lastModified"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            headers["Last-Modified"] = http_date(moment)
        return headers

    def _entity(self, entity: dict, query: dict[str, str]) -> _Reply:
        payload = {"odata.metadata": f"{self.endpoint}/$metadata#entity/@Element",
                   **batch_odata.select(entity, query.get("$select"))}
        return _Reply(200, payload, self._etag_headers(entity))

    def _created(self, entity: dict) -> _Reply:
        headers = self._etag_headers(entity)
        headers["Location"] = headers["DataServiceId"] = entity["url"]
        return _Reply(201, None, headers)

    def _list(self, items: list[dict], r: _Request) -> _Reply:
        query = r.query
        if query.get("$filter"):
            keep = batch_odata.parse_filter(query["$filter"])
            items = [item for item in items if keep(item)]
        chunk, next_offset = batch_odata.page(items, query, self.max_results)
        payload: dict[str, Any] = {
            "odata.metadata": f"{self.endpoint}/$metadata#list",
            "value": [batch_odata.select(item, query.get("$select")) for item in chunk],
        }
        if next_offset is not None:
            # The SDK follows odata.nextLink and sets api-version itself.
            carried = {k: v for k, v in query.items() if k in ("$filter", "$select", "maxresults") and v}
            carried["$skiptoken"] = str(next_offset)
            payload["odata.nextLink"] = f"{self.endpoint}{r.raw_path}?{urlencode(carried)}"
        return _Reply(200, payload)


# Method, path pattern ({name} = one segment, {*name} = the rest), handler. Matched in order.
ROUTES: list[tuple[str, str, Callable[..., _Reply]]] = [
    ("GET", "supportedimages", lambda server, r: server._list(list(server.supported_images), r)),
    ("GET", "pools", BatchTestServer._list_pools),
    ("POST", "pools", BatchTestServer._create_pool),
    ("GET", "pools/{pool}", BatchTestServer._get_pool),
    ("HEAD", "pools/{pool}", BatchTestServer._pool_exists),
    ("DELETE", "pools/{pool}", BatchTestServer._delete_pool),
    ("POST", "pools/{pool}/resize", BatchTestServer._resize_pool),
    ("GET", "pools/{pool}/nodes", BatchTestServer._list_nodes),
    ("GET", "pools/{pool}/nodes/{node}", BatchTestServer._get_node),
    ("GET", "nodecounts", BatchTestServer._node_counts),
    ("GET", "jobs", BatchTestServer._list_jobs),
    ("POST", "jobs", BatchTestServer._create_job),
    ("GET", "jobs/{job}", BatchTestServer._get_job),
    ("PATCH", "jobs/{job}", BatchTestServer._update_job),
    ("PUT", "jobs/{job}", BatchTestServer._update_job),
    ("DELETE", "jobs/{job}", BatchTestServer._delete_job),
    ("POST", "jobs/{job}/terminate", BatchTestServer._terminate_job),
    ("GET", "jobs/{job}/taskcounts", BatchTestServer._task_counts),
    ("GET", "jobs/{job}/tasks", BatchTestServer._list_tasks),
    ("POST", "jobs/{job}/tasks", BatchTestServer._create_task),
    ("POST", "jobs/{job}/addtaskcollection", BatchTestServer._add_task_collection),
    ("GET", "jobs/{job}/tasks/{task}", BatchTestServer._get_task),
    ("DELETE", "jobs/{job}/tasks/{task}", BatchTestServer._delete_task),
    ("POST", "jobs/{job}/tasks/{task}/terminate", BatchTestServer._terminate_task),
    ("GET", "jobs/{job}/tasks/{task}/files", BatchTestServer._list_task_files),
    ("GET", "jobs/{job}/tasks/{task}/files/{*path}", BatchTestServer._get_task_file),
    ("HEAD", "jobs/{job}/tasks/{task}/files/{*path}", BatchTestServer._get_task_file),
]


def _match(pattern: str, segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        if part.startswith("{*"):
            if index >= len(segments):
                return None
            params[part[2:-1]] = "/".join(segments[index:])
            return params
        if index >= len(segments):
            return None
        if part.startswith("{"):
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(parts) == len(segments) else None


# ---------------------------------------------------------------------------------------- HTTP layer
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: BatchTestServer

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up (a dropped-connection fault, an SDK poller at shutdown) is normal here;
        # anything else is a server bug and goes where the fixture reports it.
        if isinstance(sys.exc_info()[1], OSError):
            return
        self.owner.internal_errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
    disable_nagle_algorithm = True  # without it every response waits ~40 ms for a delayed ACK
    server_version = "BatchTestServer/1.0"

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        owner = self.server.owner  # type: ignore[attr-defined]
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body_bytes = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = RecordedRequest(self.command, unquote(raw_path), parse_qs(raw_query), headers, body_bytes)
        owner._record(record)
        request_id = str(uuid.uuid4())
        fault: Fault | None = None
        try:
            problem = self._auth_problem(owner, self.command, raw_path, raw_query, headers)
            if problem:
                raise BatchError(403, "AuthenticationFailed", DEFAULT_MESSAGES["AuthenticationFailed"],
                                 [("AuthenticationErrorDetail", problem)])
            denied = owner._role_denies(self.command, record.path, headers, body_bytes)
            if denied:
                raise BatchError(403, "AuthorizationFailure", denied)
            retry_after = owner._throttle()
            if retry_after is not None:
                raise BatchError(429, "TooManyRequests", "The server is throttling this account's requests.",
                                 headers={"Retry-After": f"{retry_after:g}"})
            fault = owner.faults.take(self.command, record.path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status is None and not fault.drop_connection:
                    fault = None  # a pure delay
                elif not fault.after and fault.partial is None:
                    return self._fail(record, fault, owner, request_id)
            if len(body_bytes) > MAX_BODY_BYTES:
                raise BatchError(413, "RequestBodyTooLarge", DEFAULT_MESSAGES["RequestBodyTooLarge"])
            request = _Request(
                method=self.command,
                raw_path=raw_path,
                query={name: values[0] for name, values in parse_qs(raw_query).items()},
                headers=headers,
                body=_parse_json(body_bytes),
                partial=fault.partial if fault else None,
            )
            segments = [unquote(part) for part in raw_path.strip("/").split("/") if part]
            reply = owner._dispatch(self.command, segments, request)
            if fault is not None:  # after / partial: the work is done, now the failure
                return self._fail(record, fault, owner, request_id)
        except BatchError as error:
            reply = _Reply(error.status, error.body(owner.endpoint, request_id), dict(error.headers))
        except Exception:  # a server bug: answer 500 and keep it for the test to see
            trace = traceback.format_exc()
            owner.internal_errors.append(trace)
            reply = _Reply(500, error_body(owner.endpoint, "InternalServerError", trace, (), request_id))
        self._send(record, reply, request_id)

    @staticmethod
    def _auth_problem(owner: BatchTestServer, method: str, raw_path: str, raw_query: str,
                      headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if owner.accept_bearer and auth.startswith("Bearer ") and len(auth) > len("Bearer "):
            return None
        return check_shared_key(owner.account, owner.key, method, raw_path, raw_query, headers)

    def _fail(self, record: RecordedRequest, fault: Fault, owner: BatchTestServer, request_id: str) -> None:
        if fault.drop_connection:
            record.status = None
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        message = fault.message or DEFAULT_MESSAGES.get(fault.code or "", "Injected fault.")
        body = error_body(owner.endpoint, fault.code or "InjectedFault", message, fault.values, request_id)
        self._send(record, _Reply(fault.status or 500, body, headers), request_id)

    def _send(self, record: RecordedRequest, reply: _Reply, request_id: str) -> None:
        record.status = reply.status
        if isinstance(reply.payload, (bytes, bytearray)):
            data, content_type = bytes(reply.payload), reply.headers.pop("Content-Type", "application/octet-stream")
        elif reply.payload is not None:
            data, content_type = json.dumps(reply.payload).encode("utf-8"), JSON_TYPE
        else:
            data, content_type = b"", None
        self.send_response(reply.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(reply.length if reply.length is not None else len(data)))
        self.send_header("request-id", request_id)
        if "client-request-id" in record.headers:
            self.send_header("client-request-id", record.headers["client-request-id"])
        self.send_header("Date", http_date(now()))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise BatchError(400, "InvalidRequestBody", "The request body is not a JSON object.")
    return body


def _parse_json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise BatchError(400, "InvalidRequestBody", f"The request body is not valid JSON: {exc}") from exc


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def _apply_range(data: bytes, header: str | None) -> bytes:
    """Honour ``ocp-range: bytes=start-end`` (what download_task_file(ocp_range=...) sends)."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not match:
        return data
    start, end = match.groups()
    if start == "":
        return data[-int(end):] if end else data
    return data[int(start): int(end) + 1 if end else None]


# ------------------------------------------------------------------------------------------ fixture
@pytest.fixture
def batch_server(tmp_path):
    """A started BatchTestServer whose tasks run under ``tmp_path/batch``; stopped after the test."""
    server = BatchTestServer(root=tmp_path / "batch")
    server.start()
    try:
        yield server
    finally:
        server.stop()
    if server.internal_errors:  # a bug in the test server must not pass as a launcher failure or success
        pytest.fail("the Batch test server failed internally:\n" + "\n".join(server.internal_errors), pytrace=False)
