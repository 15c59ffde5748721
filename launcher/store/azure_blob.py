"""The store in an Azure Blob container: the same key layout as the folder store (see store/base.py).

    AzureBlobStore("https://acct.blob.core.windows.net/launcher", credential)   # the launcher's side
    AzureBlobStore.from_url("https://acct.blob.core.windows.net/launcher?<SAS>")  # an agent on a node

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
                 retry_total: int | None = None, retry_backoff_factor: float | None = None) -> None:
        from azure.storage.blob import ContainerClient

        self.url = _strip_query(container_url)
        self.description = f"blob container {self.url}"
        self.credential = credential
        self.has_sas = "sig=" in urlsplit(container_url).query
        # A SAS-scoped store (an agent on a node) may not create containers; the launcher's may.
        self._may_create = create_container and not self.has_sas
        kwargs = {"transport": _transport(UPLOAD_THREADS + 4)}
        if retry_total is not None:
            kwargs["retry_total"] = retry_total
        if retry_backoff_factor is not None:
            kwargs["retry_backoff_factor"] = retry_backoff_factor
        if self.has_sas:
            self.container = ContainerClient.from_container_url(container_url, **kwargs)
        else:
            self.container = ContainerClient.from_container_url(self.url, credential=credential, **kwargs)
        self._created = False
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> "AzureBlobStore":
        """A container URL with a SAS (used as is) or without one (credential from the environment)."""
        if "sig=" in urlsplit(url).query:
            return cls(url)
        from launcher.azure.credentials import storage_credential_from_env

        return cls(url, storage_credential_from_env(url))

    def __repr__(self) -> str:
        return f"AzureBlobStore({self.url!r})"

    # -- plumbing -----------------------------------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str) -> LauncherError:
        from launcher.azure.errors import to_launcher_error

        return to_launcher_error(exc, service=_SERVICE, where=self.url, doing=doing)

    def _call(self, fn, doing: str):
        """fn() with SDK errors as LauncherErrors; creates a missing container once (launcher side only)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        from launcher.azure.errors import error_code

        try:
            return fn()
        except ResourceNotFoundError as exc:
            if error_code(exc) == "ContainerNotFound" and self._may_create and not self._created:
                self.ensure_container()
                try:
                    return fn()
                except AzureError as again:
                    raise self._error(again, doing) from None
            raise self._error(exc, doing) from None
        except AzureError as exc:
            raise self._error(exc, doing) from None

    def ensure_container(self) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        with self._lock:
            if self._created:
                return
            try:
                self.container.create_container()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise self._error(exc, "creating the container") from None
            self._created = True

    def blob(self, key: str):
        return self.container.get_blob_client(validate_key(key))

    # -- primitives ---------------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.blob(key)

        def read():
            try:
                return blob.download_blob(max_concurrency=4).readall()
            except ResourceNotFoundError:
                return None

        return self._call(read, f"reading {key}")

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
        S.fold(self, rec["job"], run, old, rec, self.update)

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

        return self._call(put, f"writing {key}")

    def put_if_absent(self, key: str, data: bytes) -> int:
        return self.upload(key, data, if_absent=True)

    def exists(self, key: str) -> bool:
        blob = self.blob(key)
        return self._call(lambda: blob.exists(), f"looking for {key}")

    def list(self, prefix: str) -> list[str]:
        validate_key(prefix, allow_empty=True)
        from azure.core.exceptions import ResourceNotFoundError

        def names():
            try:
                return sorted(self.container.list_blob_names(name_starts_with=prefix or None))
            except ResourceNotFoundError:  # no container yet: nothing in it
                return []

        return self._call(names, f"listing {prefix or 'the container'}")

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.blob(key)

        def remove():
            try:
                blob.delete_blob()
            except ResourceNotFoundError:
                pass

        self._call(remove, f"deleting {key}")

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
            got = self._call(attempt, f"incrementing {key}")
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

        return self._until_won(attempt, f"updating {key}", f"update {key}")

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

        return self._until_won(attempt, f"appending to {key}", f"append to {key}")

    def _until_won(self, attempt, doing: str, what: str):
        """attempt() until it returns (result,) rather than None (another writer was first), with a jittered
        backoff; the result."""
        for n in range(COUNTER_ATTEMPTS):
            got = self._call(attempt, doing)
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

        self._call(put, f"uploading {path.name} to {key}")

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

        return self._call(get, f"downloading {key}")


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
