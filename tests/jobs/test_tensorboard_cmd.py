"""`launcher tensorboard`: the jobs' event files fetched from the store into one cache folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from jobs_project import tiny_runspec

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
    if importlib.util.find_spec("tensorboard") is None:  # not in the locked environment: a clear message
        start = project.cli("tensorboard", "job1")
        assert start.returncode == 1 and "pip install tensorboard" in start.stderr
