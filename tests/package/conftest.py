"""A real git repository to snapshot, with its own git identity (independent of the machine's config)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def git_config(tmp_path_factory, monkeypatch):
    cfg = tmp_path_factory.mktemp("gitconfig") / "gitconfig"
    cfg.write_text("[user]\n\tname = Test User\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def git():
    return _git


@pytest.fixture
def make_repo(tmp_path):
    """make_repo(files: {path: text}, name) -> a committed repository holding those files."""

    def _make(files: dict[str, str], name: str = "proj", executable: tuple[str, ...] = ()) -> Path:
        repo = tmp_path / name
        repo.mkdir()
        _git("init", "--quiet", "-b", "main", cwd=repo)
        for path, text in files.items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
        for path in executable:
            (repo / path).chmod(0o755)
        _git("add", "-A", cwd=repo)
        _git("commit", "--quiet", "-m", "initial", cwd=repo)
        return repo

    return _make
