"""Fixtures for the GitHub area: real git repositories, GitHub's environment files, a fake GitHub REST API
on 127.0.0.1 (a real HTTP server keeping issue comments and pull requests in memory)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gh_helpers import FakeGitHub, Repo, build_wheelhouse, exclusive

# the Azure test services (Azurite, the Batch test server) live in tests/services
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from services.azurite import azurite  # noqa: E402,F401  (re-exported fixture)
from services.batch_server import batch_server  # noqa: E402,F401  (re-exported fixture)

# What a GitHub runner sets (the suite itself runs in Actions): every test here starts without it.
RUNNER_VARS = ("GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV",
               "GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_WORKSPACE",
               "GITHUB_SERVER_URL", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_REF", "GITHUB_ACTOR",
               "LAUNCHER_RUNSPEC", "LAUNCHER_TARGET", "LAUNCHER_LAUNCH_ON_PUSH", "LAUNCHER_COMMENT_AUTHOR",
               "LAUNCHER_LEDGER")


@pytest.fixture(autouse=True)
def _no_runner_environment(monkeypatch):
    for name in RUNNER_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_repo(tmp_path):
    def _make(name: str = "repo") -> Repo:
        return Repo(tmp_path / name)

    return _make


@pytest.fixture
def fake_github():
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def actions_env(tmp_path, monkeypatch):
    """GitHub's environment files in a temp folder; returns a dict of their paths."""
    files = {}
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
        p = tmp_path / "runner" / name.lower()
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
        monkeypatch.setenv(name, str(p))
        files[name] = p
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/exp")
    return files


@dataclass
class RunnerTools:
    wheelhouse: Path  # wheels the jobs' install steps install from
    launcher_wheel: Path  # this checkout's launcher, as a release would publish it
    venvs: Path  # environments the jobs' installs built, by install input


@pytest.fixture(scope="session")
def runner_tools(tmp_path_factory, worker_id) -> RunnerTools:
    """Built once per test run: under pytest-xdist the workers share one wheelhouse and one set of job
    environments (the folder all workers' temp folders sit in), the first worker to need them builds them."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    base = shared / "runner-tools"
    with exclusive(shared / "runner-tools.lock"):
        built = base / ".built"
        if not built.exists():
            shutil.rmtree(base, ignore_errors=True)  # a build that was interrupted
            wheel = build_wheelhouse(base / "wheelhouse")
            (base / "venvs").mkdir()
            built.write_text(wheel.name, encoding="utf-8")
        wheel = base / "wheelhouse" / built.read_text(encoding="utf-8")
    return RunnerTools(base / "wheelhouse", wheel, base / "venvs")
