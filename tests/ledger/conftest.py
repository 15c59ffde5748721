"""Real git repositories for the ledger tests: a bare remote in tmp_path, a seed commit, clones."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_repos import git


@pytest.fixture(autouse=True)
def git_identity(tmp_path_factory, monkeypatch):
    """A private global git config (identity, default branch) so the tests do not depend on the machine's."""
    home = tmp_path_factory.mktemp("gitconfig")
    cfg = home / "gitconfig"
    cfg.write_text("[user]\n\tname = Test User\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return cfg


@pytest.fixture
def remote(tmp_path) -> Path:
    """A bare repository with one commit on main (a README)."""
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    seed = tmp_path / "seed"
    git("init", "--quiet", "-b", "main", str(seed), cwd=tmp_path)
    (seed / "README.md").write_text("# project\n")
    git("add", "README.md", cwd=seed)
    git("commit", "--quiet", "-m", "initial", cwd=seed)
    git("remote", "add", "origin", str(bare), cwd=seed)
    git("push", "--quiet", "origin", "main", cwd=seed)
    return bare


@pytest.fixture
def make_clone(tmp_path, remote):
    def _clone(name: str) -> Path:
        dest = tmp_path / name
        git("clone", "--quiet", str(remote), str(dest), cwd=tmp_path)
        return dest

    return _clone
