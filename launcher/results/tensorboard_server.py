"""TensorBoard as a child process of `launcher tensorboard`: started on a folder, its URL read from what it
prints, stopped with the launcher.

TensorBoard prints "TensorBoard 2.x at http://127.0.0.1:PORT/ (Press CTRL+C to quit)" on stderr once it listens,
so the URL printed is the one that answers, also with port 0 (TensorBoard picks a free port). The child runs in
a session of its own: Ctrl-C reaches the launcher only, which stops TensorBoard's whole process group with SIGTERM
(TensorBoard exits cleanly on it; a second Ctrl-C in its own group would print its traceback) and waits for it, so
no server outlives the command; on Linux it also dies with the launcher if that is killed outright.

The group matters: TensorBoard starts its Rust data server (`--load_fast=auto`) as a child that inherits the stderr
pipe. Signalling only TensorBoard would leave that pipe open until the data server notices its parent is gone, and
the copying thread below blocked on it. The copier reads the pipe's file descriptor itself (os.read), so it never
holds a lock of a Python file object that the exiting launcher could need.
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

_URL = re.compile(r"\bat (https?://\S+)")
STOP_GRACE = 10.0  # seconds TensorBoard gets to exit on SIGTERM before it is killed


def command(logdir: Path, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", host, "--port", str(port)]


def serve(logdir: Path, *, host: str = "127.0.0.1", port: int = 6006, on_url: Callable[[str], None],
          err=None) -> int:
    """Run TensorBoard on logdir until it exits or Ctrl-C (then stop it); on_url(url) once it listens.
    TensorBoard's own messages go to err (default stderr). Returns 0 after Ctrl-C, else TensorBoard's exit code."""
    from launcher.agent import die_with_parent_preexec

    err = err or sys.stderr
    proc = subprocess.Popen(command(logdir, host, port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=die_with_parent_preexec())
    fd = proc.stderr.fileno()
    previous = signal.signal(signal.SIGTERM, _as_interrupt)  # a terminated launcher stops its TensorBoard too
    try:
        try:
            lines = _lines(fd)
            for line in lines:  # up to the line that names the URL
                match = _URL.search(line)
                if match:
                    on_url(match.group(1))
                    break
                err.write(line)
            copier = threading.Thread(target=_copy, args=(lines, err), daemon=True)
            copier.start()
            rc = proc.wait()
            copier.join(timeout=1)
            return rc
        except KeyboardInterrupt:
            stop(proc)
            return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.returncode is None:  # any other way out of here: never leave the server running
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to TensorBoard's process group (it and its data server), SIGKILL after STOP_GRACE; waits for it.

    The group is signalled only while TensorBoard is not yet reaped (it exited, but is waited for with WNOWAIT
    first): until then its pid, the group's id, cannot be given to another process, so the last SIGKILL (for a
    data server that outlived TensorBoard) cannot reach an unrelated group."""
    _signal_group(proc, signal.SIGTERM)
    if not _exited_unreaped(proc, STOP_GRACE):
        _signal_group(proc, signal.SIGKILL)
        _exited_unreaped(proc, None)
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


def _exited_unreaped(proc: subprocess.Popen, timeout: float | None) -> bool:
    """Whether proc exited within timeout (None: wait as long as it takes), leaving it unreaped."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped already (by Popen.poll)
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.returncode is not None:  # reaped: its pid (the group's id) may be another process's by now
        return
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group's id is TensorBoard's pid
    except (ProcessLookupError, PermissionError):
        pass


def _as_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _lines(fd: int):
    """The text lines read from fd (undecodable bytes replaced), up to end of file."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        pending += decoder.decode(chunk, final=not chunk)
        *complete, pending = pending.split("\n")
        yield from (line + "\n" for line in complete)
        if not chunk:
            if pending:
                yield pending
            return


def _copy(lines, dest) -> None:
    try:
        for line in lines:
            dest.write(line)
            dest.flush()
    except (OSError, ValueError):  # the launcher is exiting and its stderr is gone
        pass
