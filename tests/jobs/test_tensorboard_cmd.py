"""`launcher tensorboard`: the jobs' event files fetched from the store into one cache folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jobs_project import cli_env, tiny_runspec

pytest.importorskip("tensorboardX", reason="the runs write event files with tensorboardX (dev environment)")


def test_event_files_are_fetched_per_job_and_run(project):
    project.write("runspecs/tb.yaml", tiny_runspec(total_runs=2, per_node=2).replace(
        "log_to_tensorboard: false", "log_to_tensorboard: true"))
    project.write("runspecs/plain.yaml", tiny_runspec(description="plain", total_runs=1, per_node=1))
    project.cli("launch", "runspecs/tb.yaml", check=True)
    project.cli("launch", "runspecs/plain.yaml", check=True)
    proc = project.cli("tensorboard", "job1", "--logdir-only", check=True)
    logdir = Path(proc.stdout.strip())
    assert logdir == project.store / "cache" / "tensorboard" / "job1"
    assert "job1: 2 event files" in proc.stderr
    for run in ("run1.1", "run1.2"):
        (events,) = list((logdir / run).rglob("events.out.tfevents.*"))
        assert events.stat().st_size > 0
    both = project.cli("tensorboard", "job1", "job2", "--logdir-only")
    assert both.returncode == 0 and Path(both.stdout.strip()) == logdir.parent
    none = project.cli("tensorboard", "job2", "--logdir-only")
    assert none.returncode == 1 and "log_to_tensorboard: true" in none.stderr and "Traceback" not in none.stderr
    for bad in ("-1", "65536", "http"):
        port = project.cli("tensorboard", "job1", "--port", bad)
        assert port.returncode == 2 and "is not a port number" in port.stderr and "Traceback" not in port.stderr


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _where(pid: int) -> str:
    """What a process that does not exit is doing: its signal masks and each thread's kernel wait channel."""
    try:
        status = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith(("State", "Sig", "Threads"))]
        waits = [f"{t.name}:{(t / 'wchan').read_text()}" for t in Path(f"/proc/{pid}/task").iterdir()]
        return "; ".join(status + waits)
    except OSError as exc:
        return str(exc)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the child's pid from /proc")
def test_tensorboard_serves_the_jobs_runs_and_stops_on_ctrl_c(project):
    pytest.importorskip("tensorboard", reason="TensorBoard is in the dev lock")
    project.write("runspecs/tb.yaml", tiny_runspec(total_runs=2, per_node=2).replace(
        "log_to_tensorboard: false", "log_to_tensorboard: true"))
    project.cli("launch", "runspecs/tb.yaml", check=True)
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "tensorboard", "job1", "--port", "0"],
                            cwd=project.root, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    # TensorBoard's messages come through the launcher's stderr: drain it all the time, or a full pipe blocks the
    # launcher's copying thread while it holds stderr's lock, and the launcher cannot finish exiting
    errors: list[str] = []
    err_reader = threading.Thread(target=lambda: errors.extend(iter(proc.stderr.readline, "")), daemon=True)
    err_reader.start()
    try:
        deadline = time.monotonic() + 120
        while not lines and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lines, f"no URL printed (exit {proc.poll()}): {''.join(errors)}"
        (url,) = [w for w in lines[0].split() if w.startswith("http://127.0.0.1:")]
        assert not url.endswith(":0/")  # the port TensorBoard listens on, not the one asked for
        (server,) = _children(proc.pid)
        helpers = _children(server)  # TensorBoard's data server, in TensorBoard's process group
        # TensorBoard loads the folder in the background: wait (bounded) until both runs are listed
        runs: list = []
        while time.monotonic() < deadline:
            runs = _get_json(url + "data/runs")
            if len(runs) >= 2:
                break
            time.sleep(0.5)
        assert sorted(r.split("/")[0] for r in runs) == ["run1.1", "run1.2"], runs
        # every run's scalars are there, under the names the runs logged them with (s1-rew: stage 1's reward)
        tags = _get_json(url + "data/plugin/scalars/tags")
        assert set(tags) == set(runs) and all(any(t.startswith("s1-") for t in tags[r]) for r in runs), tags
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            where = _where(proc.pid)
            proc.kill()
            pytest.fail(f"the launcher did not exit within 60 s of Ctrl-C ({where}); its stderr: {''.join(errors)}")
    err_reader.join(timeout=10)
    err = "".join(errors)
    assert rc == 0 and "Traceback" not in err and "TensorBoard stopped" in err, err
    assert not os.path.exists(f"/proc/{server}")  # the server stopped (and was waited for)
    assert not any(_alive(pid) for pid in helpers), helpers  # and its data server with it
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
