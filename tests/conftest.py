"""Shared test helpers. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
COMPAT = SHARED / "compat" / "rl_nexus"

#: the real rl_nexus runspecs and component files live beside the checkout, never in it; GitHub's runners have no
#: such folder, so the tests that read them skip there, saying why. `.ci/run` refuses to start without it, so in
#: this repository's CI they always run.
SHARED_MISSING = f"needs the rl_nexus compat folder beside the checkout (../shared/compat/rl_nexus): absent here"
needs_shared = pytest.mark.skipif(not COMPAT.is_dir(), reason=SHARED_MISSING)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def compat_dir() -> Path:
    if not COMPAT.is_dir():
        pytest.skip(SHARED_MISSING)
    return COMPAT


@pytest.fixture
def run_cli(capsys):
    """Run `launcher ARGS...` in-process; returns (exit_code, stdout, stderr)."""
    from launcher.cli import main

    def _run(*args: str, cwd: Path | None = None):
        old = Path.cwd()
        if cwd:
            os.chdir(cwd)
        try:
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors
                code = exc.code
        finally:
            os.chdir(old)
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def pytest_configure(config):
    # A shell starts a background command (`cmd &` without job control, nohup) with SIGINT ignored, and an ignored
    # signal stays ignored in every child: Python then installs no KeyboardInterrupt handler, and a test's Ctrl-C
    # (SIGINT) to a launcher it started does nothing. Tests stand for a terminal, where Ctrl-C is delivered.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _expected_length(item) -> int:
    """A rough rank of how long a test takes, longest first: the workflow rehearsals (real installs), the other
    service tests (marked slow), the job tests (real launches), then the rest."""
    folder = Path(str(item.fspath)).parent.name
    slow = item.get_closest_marker("slow") is not None
    return 0 if slow and folder == "github" else 1 if slow else 2 if folder == "jobs" else 3


def pytest_collection_modifyitems(config, items):
    # Under pytest-xdist (`--dist worksteal`) the suite ends when its last long test does: started last, the
    # rehearsals ran alone for minutes while the other worker idled. Started first, the short tests fill the gaps.
    # A stable sort: each group keeps its files' order.
    items.sort(key=_expected_length)
