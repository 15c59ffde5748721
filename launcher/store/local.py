"""The embedded store: a folder on disk (default `.launcher/` in the project, git-ignored).

Same key layout as the blob store (see store/base.py). Writes go to a temp file in the target's folder and are
moved into place with os.replace, so a reader sees the old or the new object, never a mix. Counters are guarded
by an exclusive flock on counters/<name>.lock: the counter file itself is replaced on every write, so a lock on
it would protect nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.fsutil import atomic_write as _atomic_write
from launcher.fsutil import exclusive_lock
from launcher.store.base import Store

#: Temp files start with this; list() hides them and keys may not use it.
TMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"
#: Keys under these prefixes are flushed to disk before the rename (job records, counters, code): losing them in
#: a power cut would hand out a number twice or orphan a job. Run files (console, metrics) are rewritten every
#: few seconds while a run is live; an fsync each time would cost more than it saves.
DURABLE_PREFIXES = ("counters/", "jobs/", "code/")
#: Derived objects under a durable prefix that are recomputed when lost, so need no fsync on every change.
DERIVED_SUFFIXES = ("/summary.json",)  # jobs/<job>/summary.json (launcher/jobs/summary.py)
#: The same, by folder: jobs/<job>/runindex/<shard>.json (launcher/jobs/runindex.py; a lost entry is read from
#: its run record instead).
DERIVED_FOLDERS = ("/runindex/",)
_COUNTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _durable(key: str) -> bool:
    return (key.startswith(DURABLE_PREFIXES) and not key.endswith(DERIVED_SUFFIXES)
            and not any(folder in key for folder in DERIVED_FOLDERS))


#: Keys that are valid at a glance (no segment starts with '.', no ':', '\\' or NUL): the check of every other key
#: below gives the same answer for these, but a listing of 10,000 runs reads 10,000 keys.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_~+-][A-Za-z0-9_.~+-]*(?:/[A-Za-z0-9_~+-][A-Za-z0-9_.~+-]*)*\Z")


def validate_key(key: str, *, allow_empty: bool = False) -> str:
    """A '/'-separated relative key, or ValueError. Keys never climb out of the store."""
    if type(key) is str and _PLAIN_KEY.match(key):
        return key
    if not isinstance(key, str):
        raise ValueError(f"store key must be a string, not {type(key).__name__}")
    if not key:
        if allow_empty:
            return key
        raise ValueError("store key is empty")
    if "\x00" in key or "\\" in key:
        raise ValueError(f"store key {key!r} contains a NUL or a backslash")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise ValueError(f"store key {key!r} is absolute; keys are relative paths like 'jobs/job1/job.json'")
    parts = key.split("/")
    if key.endswith("/") and allow_empty:  # a prefix such as 'runs/'
        parts = parts[:-1]
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"store key {key!r} has an empty, '.' or '..' segment")
        if part.startswith(TMP_PREFIX):
            raise ValueError(f"store key {key!r}: segments starting with {TMP_PREFIX!r} are reserved")
    return key


def validate_counter(name: str) -> str:
    if not isinstance(name, str) or not _COUNTER_RE.match(name):
        raise ValueError(f"counter name {name!r} must be letters, digits, '_', '.', '-' (e.g. 'jobs', 'ws1-runs')")
    return name


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write path atomically (see launcher.fsutil); store temp files carry the reserved prefix."""
    _atomic_write(path, data, durable=durable, tmp_prefix=TMP_PREFIX)


class LocalStore(Store):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)  # for the string paths of the hot reads (pathlib costs more than the read)
        self.description = f"folder {self.root}"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file that holds key (for callers that stream large files, e.g. the agent's console)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    # -- primitives ---------------------------------------------------------------------------------------
    def _file(self, key: str) -> str:
        """path(key) as a string."""
        return os.path.join(self._root, validate_key(key))  # '/' inside the key: a separator on every OS

    def read_bytes(self, key: str) -> bytes | None:
        try:
            with open(self._file(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if path.is_dir():
            raise ValueError(f"store key {key!r} is a prefix of other keys, not an object")
        data = bytes(data)
        child = self.child_run_write(key, data)
        if child is None:
            atomic_write(path, data, durable=_durable(key))
            return
        from launcher.jobs import summary as S

        run, rec = child
        # A child's run record: the write and its summary change happen under the job's lock, so the summary
        # sees every record it replaced exactly once, whichever process writes.
        with self.job_lock(rec["job"]):
            old = self.read_bytes(key)
            atomic_write(path, data, durable=False)
            S.fold(self, rec["job"], run, old, rec, self.update_locked)

    def read_json(self, key: str):
        data = self.read_bytes(key)
        return None if data is None else json.loads(data)  # bytes straight in: no str copy of every record

    def job_lock(self, job: str):
        validate_key(job)
        return exclusive_lock(self.root / "locks" / "jobs" / (job + LOCK_SUFFIX))

    def update_locked(self, key: str, change):
        new, result = change(self.read_bytes(key))
        if new is not None:
            atomic_write(self.path(key), bytes(new), durable=_durable(key))
        return result

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._file(key))

    def list(self, prefix: str) -> list[str]:
        validate_key(prefix, allow_empty=True)
        # Walk only the folder the prefix names, not the whole store: 'runs/run5' walks runs/.
        folder_key = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*[p for p in folder_key.split("/") if p])
        keys: list[str] = []
        if not start.is_dir():
            return keys
        for dirpath, dirnames, filenames in os.walk(start):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            dirnames[:] = [d for d in dirnames if not d.startswith(TMP_PREFIX)]
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                key = base + name
                if key.startswith(("counters/", "locks/")) and name.endswith(LOCK_SUFFIX):
                    continue
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return keys

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass

    def next_number(self, counter: str, *, above: int = 0) -> int:
        return self.next_numbers(counter, 1, above=above)[0]

    def next_numbers(self, counter: str, count: int, *, above: int = 0) -> range:
        """Allocate count consecutive numbers in one locked read-increment-write; returns them as a range."""
        validate_counter(counter)
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        folder = self.root / "counters"
        folder.mkdir(parents=True, exist_ok=True)
        value_path = folder / counter
        with exclusive_lock(folder / (counter + LOCK_SUFFIX)):
            current = max(self._read_counter(value_path), above)
            if count:
                atomic_write(value_path, f"{current + count}\n".encode(), durable=True)
            return range(current + 1, current + count + 1)

    def update(self, key: str, change):
        """Read-change-write under an exclusive flock on locks/store/<key>.lock (the object itself is replaced on
        every write, so a lock on it would protect nothing)."""
        with self._key_lock(key):
            return self.update_locked(key, change)

    def append_update(self, key: str, change):
        """Read-change-append under the same lock as update(): only the appended bytes are written."""
        path = self.path(key)
        with self._key_lock(key):
            new, result = change(self.read_bytes(key))
            if new:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                try:
                    view = memoryview(bytes(new))
                    while view:  # one write() almost always; a short write goes on where it stopped
                        view = view[os.write(fd, view):]
                    if _durable(key):
                        os.fsync(fd)
                finally:
                    os.close(fd)
            return result

    def _key_lock(self, key: str):
        """The exclusive lock of one key: locks/store/<key>.lock."""
        return exclusive_lock(self.root / "locks" / "store" / (key.replace("/", "~") + LOCK_SUFFIX))

    def _read_counter(self, path: Path) -> int:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise LauncherError(f"counter file {path} holds {text[:40]!r}, not a number",
                                hint="restore it to the highest number already used (e.g. the last job number); "
                                     "the launcher never hands out a number twice, so it will not guess")
        return int(text)
