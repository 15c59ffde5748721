"""A job's code on a node: its snapshot unpacked once per job per node, read-only, shared by the job's runs.

<root>/<job>/<sha256>/ is the tree. It appears only complete and verified: the zip is fetched, its sha256
checked against its content-addressed name, unpacked into a temporary folder, made read-only (files 0444 or
0555, folders 0555) and renamed into place, under a lock file, so agents of several processes on one node (Azure
tasks) unpack it once. A run never works in the tree itself: it gets an overlay (run_tree), its own folder that
mirrors the tree with symlinks and holds real folders only along the paths it writes (the working_dir, the
results folder beside it), so what a run writes is its own, and a run cannot write into the code the job's
other runs execute (read-only by its permission bits: the runs run as the same user, so it guards against
mistakes, not against a run that means harm and chmods the tree back).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import threading
from pathlib import Path

_CONTENT_KEY = re.compile(r"(?:^|/)([0-9a-f]{64})\.zip$")
_LOCK = threading.Lock()  # the local supervisor's runs are threads of one process


class CodeError(RuntimeError):
    pass


def content_sha256(key: str) -> str:
    m = _CONTENT_KEY.search(key)
    if m is None:
        raise CodeError(f"{key} is not a content-addressed code snapshot (code/<sha256>.zip)")
    return m.group(1)


def job_tree(root: Path, job: str, code_key: str, store) -> Path:
    """The job's unpacked, verified, read-only code tree on this node: made by the first run that asks."""
    from launcher.fsutil import exclusive_lock
    from launcher.package import extract_snapshot, file_sha256

    sha = content_sha256(code_key)
    folder = Path(root) / job
    tree = folder / sha
    if tree.is_dir():
        return tree
    with _LOCK:
        folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(folder / f"{sha}.lock", mode=0o644):
            if tree.is_dir():  # another agent on this node made it meanwhile
                return tree
            part = folder / f"{sha}.zip.part"
            unpacking = folder / f".{sha}.unpacking"
            try:
                if not store.get_file(code_key, part):
                    raise CodeError(f"code snapshot {code_key} is not in the store")
                actual = file_sha256(part)
                if actual != sha:
                    raise CodeError(f"code snapshot {code_key} was changed after upload (its sha256 is {actual}): "
                                    "not running it")
                remove_tree(unpacking)  # a half-made one of an agent that died
                unpacking.mkdir()
                extract_snapshot(part, unpacking)
                make_read_only(unpacking)
                os.rename(unpacking, tree)
            finally:
                part.unlink(missing_ok=True)
                remove_tree(unpacking)
    return tree


def make_read_only(top: Path) -> None:
    for dirpath, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            os.chmod(path, 0o555 if mode & stat.S_IXUSR else 0o444)
        os.chmod(dirpath, 0o555)


def run_tree(tree: Path, dest: Path, writable: list[str]) -> None:
    """dest: a folder that looks like tree (a symlink for every entry) except along the writable paths (relative
    to tree, '/'-separated, '.' for the top), which are real folders holding symlinks to what the tree has there."""
    dest.mkdir(parents=True, exist_ok=True)
    real = {Path(".")}
    for rel in writable:
        parts = Path(rel).parts
        for i in range(len(parts) + 1):
            real.add(Path(*parts[:i]) if i else Path("."))
    for rel in sorted(real, key=lambda p: len(p.parts)):
        here = dest / rel
        if here.is_symlink():
            here.unlink()
        here.mkdir(exist_ok=True)
        source = tree / rel
        if not source.is_dir():
            continue
        for entry in os.scandir(source):
            if rel / entry.name in real:
                continue
            link = here / entry.name
            if not os.path.lexists(link):
                os.symlink(entry.path, link)


def remove_tree(path: Path) -> None:
    """rmtree that also removes a read-only tree (its folders made writable again first)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, _dirs, _files in os.walk(path):
            try:
                os.chmod(dirpath, 0o755)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


class Remover:
    """Removes folders in a background thread, so that a run's slot is free as soon as its process ends;
    drain() waits for what is queued (the supervisor at the end of its job)."""

    def __init__(self) -> None:
        import queue

        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="remover", daemon=True)
        self._thread.start()

    def __call__(self, path: Path) -> None:
        self._queue.put(Path(path))

    def _work(self) -> None:
        while True:
            path = self._queue.get()
            try:
                if path is not None:
                    remove_tree(path)
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        self._queue.join()

