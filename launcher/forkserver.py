"""Runs forked from a pre-imported interpreter, instead of a fresh `python -m launcher run` each.

A fresh interpreter spends ~0.2 s importing the launcher before a tiny run does anything. The local supervisor
starts one fork server per job (`python -m launcher.forkserver`, a single-threaded process, so that fork is
safe: no other thread can hold a lock at fork time), which imports what `launcher run` needs once and forks a
child per run. The child becomes what a fresh `python -m launcher run ARGS` in the run's folder would be: its own
process group (cancel kills the group), death with the fork server (Linux), default signal handlers, the run's
cwd, environment, sys.argv and sys.path[0], stdin from /dev/null, stdout and stderr to the run's console, a fresh
`random` seed; then it runs launcher.cli.main(ARGS) and exits with its code. What the run imports of its own
(its components, the project's code) it imports itself, after the fork. A project's run_command still gets a
process of its own (`launcher run` starts it with subprocess, a clean exec). Set LAUNCHER_FORK_RUNS=0 to start
every run as a fresh interpreter, as before (the baseline of benchmarks/local_backend.py).

Protocol, JSON lines: the supervisor writes {"id", "argv", "cwd", "env", "console"} to the server's stdin; the
server answers {"id", "pid"} (or {"id", "error"}) on its stdout and, when the child ends, {"pid", "status"}
(the wait status). The server ends at EOF on stdin; its children then die with it.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading

FORK_ENV = "LAUNCHER_FORK_RUNS"
#: What `launcher run` of a built-in component imports; imported once by the server. A module missing here is
#: imported (and, without a bytecode cache, compiled) by every run after the fork: the schema check's generated
#: validator and the TOML parser alone cost a run ~30 ms of CPU that way.
PREIMPORT = ("launcher.cli", "launcher.commands.run", "launcher.commands._options", "launcher.runspec.api",
             "launcher.runspec.schema", "launcher.runspec._schema_fast", "launcher.tomlcompat",
             "launcher.adopt.changes", "launcher.runtime.executor", "launcher.runtime.hpconfig",
             "launcher.runtime.external", "launcher.report.text", "launcher.layout", "launcher.config")


def enabled() -> bool:
    return os.environ.get(FORK_ENV, "1") not in ("0", "false", "no", "")


# ---------------------------------------------------------------------------------------------- the server


def serve() -> int:
    import importlib

    from launcher import agent

    requests = os.dup(0)
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # anything the server itself prints goes to the supervisor's log, never into the protocol
    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the child imports it again and reports the error in its run
            sys.stderr.write(f"fork server: could not pre-import {name}: {exc}\n")
    from launcher import cli

    # `launcher run`'s argparse parser, built once: building it costs a run ~10 ms (argparse formats and
    # translates every help text). A child parses its own command line with its copy.
    parsers = {"run": cli.build_parser("run")}
    preexec = agent.die_with_parent_preexec()  # prctl looked up here, before any fork
    # Everything imported so far lives as long as the server: out of the collector's sight, so that a child's
    # collections neither scan it nor touch (and so copy) the pages the server shares with every child.
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    own_fds = (requests, replies, wake_r, wake_w, devnull)
    pending = b""

    def reply(obj: dict) -> None:
        os.write(replies, (json.dumps(obj) + "\n").encode("utf-8"))

    while True:
        try:
            ready, _, _ = select.select([requests, wake_r], [], [])
        except InterruptedError:
            ready = []
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        _reap(reply)
        if requests in ready:
            data = os.read(requests, 1 << 16)
            if not data:
                return 0
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    _spawn(json.loads(line), reply, preexec, own_fds, parsers)


def _reap(reply) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        reply({"pid": pid, "status": status})


def _spawn(req: dict, reply, preexec, own_fds, parsers) -> None:
    try:
        console = os.open(req["console"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        reply({"id": req["id"], "error": f"cannot open the console {req['console']}: {exc}"})
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(req, console, preexec, own_fds, parsers)  # never returns
    os.close(console)
    try:
        os.setpgid(pid, pid)  # here too, so that the group exists before anyone may signal it
    except OSError:
        pass  # the child did it first, or has already exited
    reply({"id": req["id"], "pid": pid})


def _child(req: dict, console: int, preexec, own_fds, parsers) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        if preexec is not None:
            preexec()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(console, 1)
        os.dup2(console, 2)
        os.close(console)
        for fd in own_fds:
            if fd > 2:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        args = list(req["argv"])
        import launcher

        sys.argv = [os.path.join(os.path.dirname(launcher.__file__), "__main__.py"), *args]  # as `python -m`
        sys.path[0] = os.getcwd()  # `python -m` puts the current folder first
        import random

        random.seed()  # not the server's state, shared by every fork
        from launcher.cli import _chosen_command, main

        code = main(args, parser=parsers.get(_chosen_command(args)))
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - a crash of the run, as an interpreter would report it
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        if isinstance(code, str):
            sys.stderr.write(code + "\n")
            code = 1
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 0 if code is None else 1)


# ---------------------------------------------------------------------------------------------- the client


class ForkedProcess:
    """The parts of subprocess.Popen the agent uses, for a child of the fork server."""

    def __init__(self, pid: int, argv: list[str]) -> None:
        self.pid = pid
        self.args = argv
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _end(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode


class ForkServer:
    """The supervisor's side: start() it from a thread that lives as long as the job (the server dies with the
    thread that started it), then spawn() runs from any thread."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._waiting: dict[int, list] = {}  # id -> [Event, reply]
        self._by_pid: dict[int, ForkedProcess] = {}
        self._ended: dict[int, int] = {}  # pid -> status that came before its process was known
        self._gone = False

    def start(self) -> ForkServer:
        from launcher import agent

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "launcher.forkserver"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, preexec_fn=agent.die_with_parent_preexec())
        threading.Thread(target=self._read, name="fork-server", daemon=True).start()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and not self._gone

    def _read(self) -> None:
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self._lock:
                if "id" in msg:
                    slot = self._waiting.pop(msg["id"])
                    if "pid" in msg:
                        child = ForkedProcess(msg["pid"], slot[2])
                        self._by_pid[child.pid] = child
                        if child.pid in self._ended:
                            child._end(self._ended.pop(child.pid))
                        slot[1] = child
                    else:
                        slot[1] = RuntimeError(msg.get("error", "the fork server could not start the run"))
                    slot[0].set()
                else:
                    child = self._by_pid.pop(msg["pid"], None)
                    if child is None:
                        self._ended[msg["pid"]] = msg["status"]
                    else:
                        child._end(msg["status"])
        with self._lock:  # the server is gone (and its children with it)
            self._gone = True
            for child in self._by_pid.values():
                child._end(int(signal.SIGKILL))  # a wait status of 'killed by SIGKILL'
            self._by_pid.clear()
            for slot in self._waiting.values():
                slot[1] = RuntimeError("the fork server ended")
                slot[0].set()
            self._waiting.clear()

    def spawn(self, argv: list[str], *, cwd, env: dict, console) -> ForkedProcess:
        """Start `launcher ARGS` (argv: the command line a fresh interpreter would get, `python -m launcher
        ARGS`) as a forked child."""
        args = argv[3:] if argv[1:3] == ["-m", "launcher"] else None
        if args is None:
            raise ValueError(f"the fork server runs `python -m launcher ...` only, not {argv[:3]}")
        slot: list = [threading.Event(), None, argv]
        with self._lock:
            if self._gone:
                raise RuntimeError("the fork server ended")
            self._next_id += 1
            self._waiting[self._next_id] = slot
            request = json.dumps({"id": self._next_id, "argv": args, "cwd": str(cwd), "env": env,
                                  "console": str(console)}) + "\n"
            try:
                self.proc.stdin.write(request.encode("utf-8"))
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                self._waiting.pop(self._next_id, None)
                self._gone = True
                raise RuntimeError("the fork server ended") from None
        slot[0].wait()
        if isinstance(slot[1], BaseException):
            raise slot[1]
        return slot[1]

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


if __name__ == "__main__":
    raise SystemExit(serve())
