"""The store in an Azure Blob container: the same key layout as the folder store (see store/base.py).

    AzureBlobStore("https://acct.blob.core.windows.net/launcher", credential)   # the launcher's side
    AzureBlobStore.from_url("https://acct.blob.core.windows.net/launcher?<SAS>")  # an agent on a node

Each job's results (run records, logs, its summary, a search's log, the cancel marker) live in a container of
that job, `<container>-<job>`: a task's SAS reaches that container only (store/job_containers.py says which
keys go where, and why). One store object routes each key to its container; `for_task()` is the agent's view,
which writes its job's container and reads the few store blobs its task was given read SAS for.

Blob writes are atomic (a reader sees the old or the new blob, never a mix). Counters are a read, then a write
guarded by the blob's ETag (If-Match): of two racing writers one gets 412 and tries again, so a number is never
handed out twice. Many small objects (a 10,000-run job's run records) go up in parallel threads; a large one
(the code snapshot) in parallel blocks, with a progress bar on a terminal. The Azure SDK is imported here only.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from launcher.diagnostics import LauncherError
from launcher.store import job_containers as J
from launcher.store.base import Store
from launcher.store.local import validate_counter, validate_key

#: Blobs bigger than this are uploaded in parallel blocks.
BLOCK_PARALLEL_THRESHOLD = 8 * 1024 * 1024
UPLOAD_THREADS = 16
COUNTER_ATTEMPTS = 500
_SERVICE = "Azure Blob Storage"


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _transport(pool_size: int):
    """A requests session whose connection pool fits our upload threads (the default pool holds 10)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False, connection_timeout=20, read_timeout=120)


class AzureBlobStore(Store):
    def __init__(self, container_url: str, credential=None, *, create_container: bool = True,
                 retry_total: int | None = None, retry_backoff_factor: float | None = None,
                 job_containers: bool = True) -> None:
        """job_containers: route job-scoped keys to their job's container (the launcher store); False for a plain
        container (the datastore) and for a SAS-scoped one."""
        from azure.storage.blob import ContainerClient

        self.url = _strip_query(container_url)
        self.description = f"blob container {self.url}"
        self.credential = credential
        self.has_sas = "sig=" in urlsplit(container_url).query
        self.account_url, _, self.container_name = self.url.rpartition("/")
        # A SAS-scoped store (an agent on a node) may not create containers; the launcher's may.
        self._may_create = create_container and not self.has_sas
        kwargs = {"transport": _transport(UPLOAD_THREADS + 4)}
        if retry_total is not None:
            kwargs["retry_total"] = retry_total
        if retry_backoff_factor is not None:
            kwargs["retry_backoff_factor"] = retry_backoff_factor
        self._client_kwargs = kwargs
        if self.has_sas:
            self.container = ContainerClient.from_container_url(container_url, **kwargs)
        else:
            self.container = ContainerClient.from_container_url(self.url, credential=credential, **kwargs)
        self._routing = job_containers and not self.has_sas
        if self._routing:
            J.check_store_container(self.container_name)
        self._job_clients: dict[str, object] = {}  # job -> ContainerClient of its results container
        self._job_of_parent: dict[str, str] = {}  # parent run -> job (from index/runs/, never changes)
        self._task: _TaskScope | None = None
        self._created: set[str] = set()  # container names created (or found) by this store
        self._creating: dict[str, threading.Lock] = {}  # container name -> the lock of its one create
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> "AzureBlobStore":
        """A container URL with a SAS (used as is) or without one (credential from the environment)."""
        if "sig=" in urlsplit(url).query:
            return cls(url)
        from launcher.azure.credentials import storage_credential_from_env

        return cls(url, storage_credential_from_env(url))

    @classmethod
    def for_task(cls, job: str, job_container_url: str, read_urls: dict[str, str]) -> "AzureBlobStore":
        """What a Batch task of `job` may reach: its job's results container (a container SAS: read, add, create,
        write) and the store blobs in read_urls ({key: blob URL with a read SAS}: the plan, the launched
        runspec, the job record). Any other key is refused here, before the service would refuse it (403)."""
        from azure.storage.blob import BlobClient

        store = cls(job_container_url, job_containers=False)
        store._task = _TaskScope(job, {key: BlobClient.from_blob_url(url, **store._client_kwargs)
                                       for key, url in read_urls.items()})
        store.description = f"blob container {store.url} (the results of {job})"
        return store

    def __repr__(self) -> str:
        return f"AzureBlobStore({self.url!r})"

    # -- plumbing -----------------------------------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str) -> LauncherError:
        from launcher.azure.errors import to_launcher_error

        return to_launcher_error(exc, service=_SERVICE, where=self.url, doing=doing)

    def _call(self, fn, doing: str, key: str | None = None):
        """fn() with SDK errors as LauncherErrors; creates a missing container (launcher side only) and tries
        once more: the store's own, or the results container of the job that `key` belongs to. (Another thread
        may have created it since this one's request: then the create is skipped, the retry is not.)"""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        from launcher.azure.errors import error_code

        try:
            return fn()
        except ResourceNotFoundError as exc:
            if error_code(exc) == "ContainerNotFound" and self._may_create:
                self._ensure(self._container_of(key) if key is not None else self.container)
                try:
                    return fn()
                except AzureError as again:
                    raise self._error(again, doing) from None
            raise self._error(exc, doing) from None
        except AzureError as exc:
            raise self._error(exc, doing) from None

    def ensure_container(self) -> None:
        self._ensure(self.container)

    def _ensure(self, client) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        name = client.container_name
        with self._lock:
            if name in self._created:
                return
            # one lock per container: a create (with the SDK's retries) holds up only the writers of that container
            creating = self._creating.setdefault(name, threading.Lock())
        with creating:
            if name in self._created:
                return
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise self._error(exc, f"creating the container {name}") from None
            with self._lock:
                self._created.add(name)

    # -- which container holds a key (store/job_containers.py) ---------------------------------------------
    def job_container_name(self, job: str) -> str:
        return J.job_container_name(self.container_name, job)

    def job_container(self, job: str):
        """The ContainerClient of a job's results container (same account, same credential)."""
        from azure.storage.blob import ContainerClient

        with self._lock:
            client = self._job_clients.get(job)
            if client is None:
                client = ContainerClient(self.account_url, self.job_container_name(job), credential=self.credential,
                                         **self._client_kwargs)
                self._job_clients[job] = client
        return client

    def ensure_job_container(self, job: str) -> str:
        """Create the job's results container unless it exists; its name."""
        client = self.job_container(job)
        self._ensure(client)
        return client.container_name

    def delete_job_container(self, job: str) -> bool:
        """Remove a job's results container and everything in it; False when there was none."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.job_container(job)

        def remove() -> bool:
            try:
                client.delete_container()
            except ResourceNotFoundError:
                return False
            return True

        gone = self._call(remove, f"deleting the container {client.container_name}")
        self._created.discard(client.container_name)
        return gone

    def bind_runs(self, job: str, parents) -> None:
        """Record that the runs of these parents (and their children) are `job`'s: index/runs/<parent> in the
        store container, written by the launcher before any run record (tasks never see the index)."""
        import json

        items = [(J.run_index_key(p), (json.dumps({"job": job}) + "\n").encode()) for p in parents]
        if len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(UPLOAD_THREADS, len(items))) as pool:
                list(pool.map(lambda item: self.upload(*item), items))
        elif items:
            self.upload(*items[0])
        with self._lock:
            self._job_of_parent.update((p, job) for p in parents)

    def job_of_run(self, run: str) -> str | None:
        """The job whose container holds the run's records (index/runs/), or None: the store container."""
        parent = J.parent_of(run)
        with self._lock:
            job = self._job_of_parent.get(parent)
        if job is not None:
            return job
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container.get_blob_client(J.run_index_key(parent))

        def read():
            try:
                return blob.download_blob().readall()
            except ResourceNotFoundError:
                return None

        data = self._call(read, f"reading {J.run_index_key(parent)}")
        if data is None:  # not (yet) indexed: not remembered, the launch may write it in a moment
            return None
        import json

        try:
            job = json.loads(data).get("job")
        except (ValueError, AttributeError):
            job = None
        if not isinstance(job, str) or not J.JOB_RE.match(job):
            return None
        with self._lock:
            self._job_of_parent[parent] = job
        return job

    def _job_of_key(self, key: str) -> str | None:
        job = J.job_named_by(key)
        if job is not None:
            return job
        run = J.run_named_by(key)
        return self.job_of_run(run) if run is not None else None

    def _container_of(self, key: str):
        """The ContainerClient that holds key (for a task: its job's container, or an error)."""
        if self._task is not None:
            if key not in self._task.readable:
                self._task.check(key)
            return self.container
        if not self._routing:
            return self.container
        job = self._job_of_key(key)
        return self.job_container(job) if job is not None else self.container

    def blob(self, key: str):
        validate_key(key)
        if self._task is not None and key in self._task.readable:
            return self._task.readable[key]
        return self._container_of(key).get_blob_client(key)

    # -- primitives ---------------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.blob(key)

        def read():
            try:
                return blob.download_blob(max_concurrency=4).readall()
            except ResourceNotFoundError:
                return None

        return self._call(read, f"reading {key}", key)

    def write_bytes(self, key: str, data: bytes) -> None:
        child = self.child_run_write(key, data)
        if child is None:
            self.upload(key, data)
            return
        from launcher.jobs import summary as S

        run, rec = child
        # A child's run record: replace it with If-Match on the version read, so the summary folds in exactly
        # the record this write replaced; then the summary's own compare-and-swap (update()).
        old = self.update(key, lambda current: (bytes(data), current))
        S.fold(self, rec["job"], run, old, rec, self.update, read_record=lambda: self.read_json(key))

    def upload(self, key: str, data: bytes, *, if_absent: bool = False, progress=None) -> int:
        """Put data at key; returns the bytes sent (0 when if_absent and the blob exists already).

        progress: optional callable(bytes_done, bytes_total) for large uploads."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        blob = self.blob(key)
        data = bytes(data)
        kwargs = {"overwrite": not if_absent}
        if len(data) > BLOCK_PARALLEL_THRESHOLD:
            kwargs.update(max_concurrency=4)
        if progress is not None:
            kwargs["progress_hook"] = lambda done, total: progress(done, total or len(data))

        def same_bytes() -> bool:
            # A content-addressed blob that is there is reused only when it holds exactly these bytes: one that
            # was changed after its upload (a poisoned bundle or snapshot) is replaced, never trusted.
            try:
                return blob.download_blob().readall() == data
            except ResourceNotFoundError:
                return False

        def put():
            if if_absent and blob.exists():
                if same_bytes():
                    return 0
                blob.upload_blob(data, overwrite=True, **{k: v for k, v in kwargs.items() if k != "overwrite"})
                return len(data)
            try:
                blob.upload_blob(data, **kwargs)
            except ResourceExistsError:  # if_absent: another launch uploaded it at the same moment
                if not if_absent:
                    raise
                if same_bytes():
                    return 0
                blob.upload_blob(data, overwrite=True, **{k: v for k, v in kwargs.items() if k != "overwrite"})
            return len(data)

        return self._call(put, f"writing {key}", key)

    def put_if_absent(self, key: str, data: bytes) -> int:
        return self.upload(key, data, if_absent=True)

    def exists(self, key: str) -> bool:
        blob = self.blob(key)
        return self._call(lambda: blob.exists(), f"looking for {key}", key)

    def list(self, prefix: str) -> list[str]:
        """Keys under prefix. A prefix naming one run lists its job's container; one naming a job (jobs/<job>/)
        lists the store's and the job's containers. A broader one ('jobs/', '') lists the store container only:
        job containers hold the results of jobs whose records (job.json, plan.json) are in the store."""
        validate_key(prefix, allow_empty=True)
        from azure.core.exceptions import ResourceNotFoundError

        def names(client):
            try:
                return list(client.list_blob_names(name_starts_with=prefix or None))
            except ResourceNotFoundError:  # no container yet: nothing in it
                return []

        clients = [self._container_of(prefix)] if J.run_named_by(prefix) or J.job_named_by(prefix) else []
        if not clients:
            parts = prefix.split("/")
            clients = [self.container]
            if self._routing and len(parts) >= 3 and parts[0] == "jobs" and J.JOB_RE.match(parts[1]):
                clients.append(self.job_container(parts[1]))
            elif self._task is not None:
                self._task.check(prefix)
        found: set[str] = set()
        for client in clients:
            found.update(self._call(lambda: names(client), f"listing {prefix or 'the container'}"))
        return sorted(found)

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.blob(key)

        def remove():
            try:
                blob.delete_blob()
            except ResourceNotFoundError:
                pass

        self._call(remove, f"deleting {key}", key)

    def next_number(self, counter: str, *, above: int = 0) -> int:
        return self.next_numbers(counter, 1, above=above)[0]

    def next_numbers(self, counter: str, count: int, *, above: int = 0) -> range:
        """count consecutive numbers in one compare-and-swap of counters/<counter> (retried on 412/409)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        validate_counter(counter)
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        key = f"counters/{counter}"
        blob = self.blob(key)

        def attempt():
            try:
                return draw()
            except (ResourceModifiedError, ResourceExistsError):  # lost the race (412, or 409 on create)
                return None

        def draw():
            try:
                downloader = blob.download_blob()
            except ResourceNotFoundError as exc:
                from launcher.azure.errors import error_code

                if error_code(exc) == "ContainerNotFound":
                    raise
                if count:  # create it; If-None-Match: * makes a racing creator get 409
                    blob.upload_blob(f"{above + count}\n".encode(), overwrite=False)
                return range(above + 1, above + count + 1)
            text = downloader.readall().decode("utf-8", "replace").strip()
            if not text.isdigit():
                raise LauncherError(f"counter blob {key} in {self.url} holds {text[:40]!r}, not a number",
                                    hint="restore it to the highest number already used (e.g. the last job "
                                         "number); the launcher never hands out a number twice, so it will not "
                                         "guess")
            current = max(int(text), above)
            if count:
                blob.upload_blob(f"{current + count}\n".encode(), overwrite=True, etag=downloader.properties.etag,
                                 match_condition=MatchConditions.IfNotModified)
            return range(current + 1, current + count + 1)

        for n in range(COUNTER_ATTEMPTS):
            got = self._call(attempt, f"incrementing {key}", key)
            if got is not None:
                return got
            # Another writer moved the counter first: back off a little, with jitter, and read it again.
            time.sleep(random.uniform(0, min(0.2, 0.002 * (2 ** min(n, 7)))))
        raise LauncherError(f"could not increment {key} in {self.url} after {COUNTER_ATTEMPTS} attempts",
                            hint="too many launchers are drawing numbers at once; try again")

    def update(self, key: str, change):
        """Compare-and-swap: read the blob and its ETag, write change()'s bytes with If-Match on that ETag (or
        If-None-Match: * when it did not exist); on 412/409 another writer was first: read again and retry."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        from launcher.azure.errors import error_code

        validate_key(key)
        blob = self.blob(key)

        def attempt():
            try:
                downloader = blob.download_blob()
                old, etag = downloader.readall(), downloader.properties.etag
            except ResourceNotFoundError as exc:
                if error_code(exc) == "ContainerNotFound":
                    raise
                old, etag = None, None
            new, result = change(old)
            if new is None:
                return (result,)
            try:
                if etag is None:
                    blob.upload_blob(bytes(new), overwrite=False)
                else:
                    blob.upload_blob(bytes(new), overwrite=True, etag=etag,
                                     match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceExistsError):  # lost the race
                return None
            return (result,)

        return self._until_won(attempt, f"updating {key}", f"update {key}", key)

    def append_update(self, key: str, change):
        """An append blob extended with If-Append-Position-Equal on the length read (created with If-None-Match:
        * when it did not exist); on 412 another writer appended first: read again and retry. An append blob
        takes 50,000 appends, which bounds what may use this (a search appends once per run start)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (HttpResponseError, ResourceExistsError, ResourceModifiedError,
                                           ResourceNotFoundError)

        from launcher.azure.errors import error_code

        validate_key(key)
        blob = self.blob(key)

        def attempt():
            try:
                old = blob.download_blob().readall()
            except ResourceNotFoundError as exc:
                if error_code(exc) == "ContainerNotFound":
                    raise
                old = None
            new, result = change(old)
            if not new:
                return (result,)
            try:
                if old is None:
                    blob.create_append_blob(match_condition=MatchConditions.IfMissing)
                blob.append_block(bytes(new), appendpos_condition=len(old or b""))
            except (ResourceModifiedError, ResourceExistsError):  # lost the race (created or appended first)
                return None
            except HttpResponseError as exc:
                if exc.status_code == 412:  # AppendPositionConditionNotMet
                    return None
                raise
            return (result,)

        return self._until_won(attempt, f"appending to {key}", f"append to {key}", key)

    def _until_won(self, attempt, doing: str, what: str, key: str):
        """attempt() until it returns (result,) rather than None (another writer was first), with a jittered
        backoff; the result."""
        for n in range(COUNTER_ATTEMPTS):
            got = self._call(attempt, doing, key)
            if got is not None:
                return got[0]
            time.sleep(random.uniform(0, min(0.2, 0.002 * (2 ** min(n, 7)))))
        raise LauncherError(f"could not {what} in {self.url} after {COUNTER_ATTEMPTS} attempts",
                            hint="too many writers are changing it at once; try again")

    # -- bulk and files -----------------------------------------------------------------------------------
    def write_many(self, items, *, threads: int = UPLOAD_THREADS, label: str = "uploading") -> int:
        """Upload many (key, bytes) pairs in parallel threads; returns the byte count. Shows a progress bar on
        a terminal. The first failure is raised after the others finished."""
        items = list(items)
        if not items:
            return 0
        if len(items) == 1:
            self.write_bytes(*items[0])
            return len(items[0][1])
        total = 0
        with _Progress(len(items), label) as bar, ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
            futures = [pool.submit(self.write_bytes, key, data) for key, data in items]
            error = None
            for fut, (_key, data) in zip(futures, items):
                try:
                    fut.result()
                    total += len(data)
                except BaseException as exc:  # noqa: BLE001 - keep the first, let the rest finish
                    error = error or exc
                bar.advance()
            if error is not None:
                raise error
        return total

    def put_file(self, key: str, path: Path) -> None:
        path = Path(path)
        blob = self.blob(key)

        def put():
            with open(path, "rb") as fh:
                blob.upload_blob(fh, overwrite=True, length=path.stat().st_size, max_concurrency=4)

        self._call(put, f"uploading {path.name} to {key}", key)

    def get_file(self, key: str, dest: Path) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        dest = Path(dest)
        blob = self.blob(key)

        def get():
            try:
                downloader = blob.download_blob(max_concurrency=4)
            except ResourceNotFoundError:
                return False
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with open(tmp, "wb") as fh:
                downloader.readinto(fh)
            tmp.replace(dest)
            return True

        return self._call(get, f"downloading {key}", key)


class _TaskScope:
    """What a task's store may reach beyond its job's container: the readable blobs of the store container."""

    def __init__(self, job: str, readable: dict) -> None:
        self.job, self.readable = job, readable

    def check(self, key: str) -> None:
        """A key a task of this job may read or write (in its job's container), else LauncherError. Any run's key
        passes: a run's job is not in its name, and whatever key is asked for, the request goes to this job's
        container, the only one its SAS reaches (the launcher reads a run's records where index/runs/ says)."""
        job = J.job_named_by(key)
        if J.run_named_by(key) is not None or (job is not None and job == self.job):
            return
        raise LauncherError(f"{key} is not in the results of {self.job}: a task may write only its own job's "
                            "results and read the blobs it was given", hint="this is a bug of the launcher "
                            "if the agent asked for it")


class _Progress:
    """A rich progress bar on stderr while many objects go up (only on a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.progress, self.task = total, label, None, None

    def __enter__(self) -> "_Progress":
        if self.total >= 50 and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                     console=Console(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total)
        return self

    def advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
