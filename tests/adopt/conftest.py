"""Fixtures for `launcher init`: a real bare git repository standing in for the launcher's upstream (its
release tags read with git ls-remote, as on GitHub), and a scratch rl_nexus checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from adopt_helpers import Upstream, git, make_rl_nexus


@pytest.fixture
def upstream(tmp_path, monkeypatch) -> Upstream:
    bare = tmp_path / "upstream.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    seed = tmp_path / "upstream-seed"
    git("init", "-q", "-b", "main", str(seed), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "start", cwd=seed)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=seed)
    monkeypatch.setenv("LAUNCHER_UPSTREAM_URL", str(bare))
    return Upstream(str(bare), seed)


@pytest.fixture
def rl_nexus_repo(tmp_path) -> Path:
    return make_rl_nexus(tmp_path / "project")
