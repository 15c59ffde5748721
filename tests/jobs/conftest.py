"""Fixtures for job tests (helpers in jobs_project.py)."""

from __future__ import annotations

import pytest
from jobs_project import make_project, stop_everything


@pytest.fixture
def project(tmp_path):
    proj = make_project(tmp_path / "experiments")
    yield proj
    stop_everything(proj)
