"""Whole-file writes that never leave a half-written file behind: a temp file in the same folder, then
os.replace, so a reader sees the old or the new content, never a mix. The one place this is done."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

_umask: int | None = None


def default_mode() -> int:
    # mkstemp creates 0600; files should look like files written by open(): 0666 minus the umask.
    global _umask
    if _umask is None:
        _umask = os.umask(0)
        os.umask(_umask)
    return 0o666 & ~_umask


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders; the data fsync already happened
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str, *, durable: bool = False, mode: int | None = None,
                 tmp_prefix: str = ".") -> None:
    """Write path atomically. durable=True also fsyncs the data and the folder (counters, job records)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{tmp_prefix}{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(path: str | Path, *, mode: int = 0o666):
    """Hold an exclusive flock on path (created if missing) for the with-block; closing the descriptor at the
    end releases it. Lock a file of its own, not one that atomic_write replaces: a lock on a file that is
    renamed over protects nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                break
            except InterruptedError:  # a signal handler raised nothing: wait again (PEP 475 covers most cases)
                continue
        yield
    finally:
        os.close(fd)
