"""Helpers over real git repositories for the ledger tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path, check: bool = True) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True).stdout


def remote_file(remote: Path, path: str = "jobs.md", branch: str = "main") -> str:
    return git("show", f"{branch}:{path}", cwd=remote)


def commit_file(repo: Path, path: str, text: str, message: str = "edit") -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git("add", path, cwd=repo)
    git("commit", "--quiet", "-m", message, cwd=repo)
