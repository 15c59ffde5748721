"""The store: job records, code snapshots, run status, metrics and mirrored results.

One small interface, two implementations with the same key layout: a folder on disk (store/local.py, the
embedded default) and an Azure Blob container (store/azure_blob.py). Keys are '/'-separated relative paths:

    counters/jobs                 next job number (jobN)
    counters/<workspace>-runs     next run number in a workspace (runN)
    jobs/<job>/job.json           the job record; jobs/<job>/launched_job_spec.yaml; jobs/<job>/plan.json
    jobs/<job>/search.json        an adaptive search's assignments (updated atomically with update())
    jobs/<job>/summary.json       counts by status, best hpmax, progress: updated with every run.json write
                                  (launcher/jobs/summary.py), so a job is watched without reading its runs
    jobs/<job>/runindex/<n>.json  ended runs' sortable fields, folded in with the summary (jobs/runindex.py)
    jobs/<job>/search.jsonl       an adaptive search's log of assignments (extended atomically: append_update())
    code/<sha256>.zip             content-addressed code snapshots
    runs/<run>/run.json           a run's record; console.txt, metrics.jsonl, mirrored/<path>
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path


class Store(ABC):
    """Atomic, whole-object reads and writes; an atomic counter; an atomic read-change-write; listing by prefix."""

    #: short human description, e.g. "folder .launcher" or "blob container https://…/jobs"
    description: str = ""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace the object atomically: readers see the old or the new bytes, never a mix."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Every key that starts with prefix, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; no error when it does not exist."""

    @abstractmethod
    def next_number(self, counter: str, *, above: int = 0) -> int:
        """Atomically increment counters/<counter> and return the new value (1 for a new counter).

        A number is never returned twice, also under concurrent callers in several processes. `above`: the number
        is also above this one (the counter first moves up to it), e.g. above every job a ledger already holds."""

    def next_numbers(self, counter: str, count: int, *, above: int = 0) -> Sequence[int]:
        """Allocate `count` numbers of counters/<counter> at once (e.g. the run names of one job).

        This default calls next_number `count` times: every number is unique, but under concurrent callers
        the block may have gaps. Implementations that can (LocalStore: one locked read-increment-write)
        override it and return a contiguous range."""
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        return [self.next_number(counter, above=above) for _ in range(count)]

    def update(self, key: str, change):
        """Atomically replace the object: change(old bytes or None) returns (new bytes or None, result).

        Of two callers updating the same key at once, each sees the other's write or none: the folder store
        holds a lock around the read-change-write, the blob store writes with If-Match on the ETag it read and
        calls change() again when another writer was first (so change() must have no side effects beyond its
        return value). None as new bytes writes nothing. Returns the result of the change() that took effect."""
        raise NotImplementedError(f"{type(self).__name__} has no atomic update")

    @staticmethod
    def child_run_write(key: str, data: bytes):
        """(run, record) when this write is a child run's record, which the job summary folds in; else None.

        The summary module is imported only for run records, so a store write elsewhere keeps start-up light."""
        if not (key.startswith("runs/") and key.endswith("/run.json")):
            return None
        from launcher.jobs import summary as S

        run = S.run_of_key(key)
        rec = S.child_record(data) if run is not None else None
        return (run, rec) if rec is not None else None

    def job_lock(self, job: str):
        """A lock that serialises the writes of one job's run records with its summary's (jobs/summary.py).
        Stores without locks (the blob store) use compare-and-swap instead: nothing to hold."""
        import contextlib

        return contextlib.nullcontext()

    def update_locked(self, key: str, change):
        """update(), for a caller that holds job_lock() of the key's job already."""
        return self.update(key, change)
    def append_update(self, key: str, change):
        """Atomically extend the object: change(old bytes or None) returns (bytes to append or None, result).

        As update(), but only the new bytes are written (an object that grows by small records, read whole): the
        folder store appends under the key's lock; the blob store keeps an append blob and appends with
        If-Append-Position-Equal on the length it read, calling change() again when another writer was first.
        Returns the result of the change() that took effect."""
        raise NotImplementedError(f"{type(self).__name__} has no atomic append")

    # Conveniences built on the primitives; implementations may override them for speed.
    def read_text(self, key: str) -> str | None:
        data = self.read_bytes(key)
        return None if data is None else data.decode("utf-8")

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_json(self, key: str):
        import json

        text = self.read_text(key)
        return None if text is None else json.loads(text)

    def write_json(self, key: str, obj) -> None:
        import json

        self.write_text(key, json.dumps(obj, indent=2, sort_keys=True) + "\n")

    def put_if_absent(self, key: str, data: bytes) -> int:
        """Write a content-addressed object (same key, same bytes) unless it is there with exactly these bytes;
        returns the bytes sent. An existing object is read and compared before it is reused: one that was changed
        after its upload (a poisoned bundle or snapshot) is replaced, never trusted."""
        if self.exists(key) and self.read_bytes(key) == data:
            return 0
        self.write_bytes(key, data)
        return len(data)

    def put_file(self, key: str, path: Path) -> None:
        self.write_bytes(key, Path(path).read_bytes())

    def get_file(self, key: str, dest: Path) -> bool:
        data = self.read_bytes(key)
        if data is None:
            return False
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        return True
