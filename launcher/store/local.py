"""The embedded store: a folder on disk (default `.launcher/` in the project, git-ignored).

Same key layout as the blob store (see store/base.py). Writes go to a temp file in the target's folder and are
moved into place with os.replace, so a reader sees the old or the new object, never a mix. Counters are guarded
by an exclusive flock on counters/<name>.lock: the counter file itself is replaced on every write, so a lock on
it would protect nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.fsutil import atomic_write as _atomic_write
from launcher.store.base import Store

#: Temp files start with this; list() hides them and keys may not use it.
TMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"
#: Keys under these prefixes are flushed to disk before the rename (job records, counters, code): losing them in
#: a power cut would hand out a number twice or orphan a job. Run files (console, metrics) are rewritten every
#: few seconds while a run is live; an fsync each time would cost more than it saves.
DURABLE_PREFIXES = ("counters/", "jobs/", "code/")
_COUNTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def validate_key(key: str, *, allow_empty: bool = False) -> str:
    """A '/'-separated relative key, or ValueError. Keys never climb out of the store."""
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
        self.description = f"folder {self.root}"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file that holds key (for callers that stream large files, e.g. the agent's console)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    # -- primitives ---------------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if path.is_dir():
            raise ValueError(f"store key {key!r} is a prefix of other keys, not an object")
        atomic_write(path, bytes(data), durable=key.startswith(DURABLE_PREFIXES))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

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
                if key.startswith("counters/") and name.endswith(LOCK_SUFFIX):
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
        lock_fd = os.open(folder / (counter + LOCK_SUFFIX), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX)
                    break
                except OSError as exc:  # EINTR on a signal: try again
                    if exc.errno != errno.EINTR:
                        raise
            current = max(self._read_counter(value_path), above)
            if count:
                atomic_write(value_path, f"{current + count}\n".encode(), durable=True)
            return range(current + 1, current + count + 1)
        finally:
            os.close(lock_fd)  # closing the descriptor releases the flock

    def update(self, key: str, change):
        """Read-change-write under an exclusive flock on locks/store/<key>.lock (the object itself is replaced on
        every write, so a lock on it would protect nothing)."""
        path = self.path(key)
        with self._key_lock(key):
            new, result = change(self.read_bytes(key))
            if new is not None:
                atomic_write(path, bytes(new), durable=key.startswith(DURABLE_PREFIXES))
            return result

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
                    if key.startswith(DURABLE_PREFIXES):
                        os.fsync(fd)
                finally:
                    os.close(fd)
            return result

    @contextlib.contextmanager
    def _key_lock(self, key: str):
        """An exclusive flock on locks/store/<key>.lock for the block, taken again after EINTR."""
        lock_path = self.root / "locks" / "store" / (validate_key(key).replace("/", "~") + LOCK_SUFFIX)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX)
                    break
                except OSError as exc:  # EINTR on a signal: try again
                    if exc.errno != errno.EINTR:
                        raise
            yield
        finally:
            os.close(lock_fd)  # closing the descriptor releases the flock

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
