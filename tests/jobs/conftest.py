"""Fixtures for job tests (helpers in jobs_project.py)."""

from __future__ import annotations

import pytest
from jobs_project import make_project, stop_everything


@pytest.fixture
def project(tmp_path):
    proj = make_project(tmp_path / "experiments")
    yield proj
    stop_everything(proj)


@pytest.fixture(scope="module")
def module_project(tmp_path_factory):
    """One project for all tests of a module: for fixtures that launch jobs which the tests then only read (one
    launch per module instead of one per test)."""
    proj = make_project(tmp_path_factory.mktemp("experiments"))
    yield proj
    stop_everything(proj)
