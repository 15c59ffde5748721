"""Fixtures for the runtime tests: a working folder whose ../results stays inside tmp_path, the test
component root (stages that raise, hang, or report a lower-is-better metric) and a real CLI process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rt_helpers import REPO


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """tmp_path/w: runspecs' experiment_path ../results/x lands in tmp_path/results/x."""
    w = tmp_path / "w"
    w.mkdir()
    return w


@pytest.fixture
def launcher_proc():
    """Run `python -m launcher ARGS` as a real process; returns CompletedProcess (text)."""

    def _run(*args, cwd: Path, env: dict | None = None, timeout: float = 60):
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        if "XT_RUN_NAME" not in (env or {}):
            full_env.pop("XT_RUN_NAME", None)  # a job's run name would switch on the HP-file pickup
        return subprocess.run([sys.executable, "-m", "launcher", *map(str, args)], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    return _run
