"""Helpers of the `launcher init` tests: git, the scratch rl_nexus layout, a snapshot of a folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          check=True).stdout.strip()


@dataclass
class Upstream:
    url: str
    seed: Path
    releases: dict[str, str] = field(default_factory=dict)  # version -> commit sha

    def release(self, version: str, *, annotated: bool = True) -> str:
        git("commit", "-q", "--allow-empty", "-m", f"release {version}", cwd=self.seed)
        git("tag", *(["-a", "-m", version] if annotated else []), f"v{version}", cwd=self.seed)
        git("push", "-q", self.url, "HEAD:refs/heads/main", "--tags", cwd=self.seed)
        self.releases[version] = git("rev-parse", "HEAD", cwd=self.seed)
        return self.releases[version]

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.seed)


def make_rl_nexus(root: Path, components: Path | None = None, specs: dict[str, Path] | None = None) -> Path:
    """An rl_nexus checkout as its tutorial lays it out: rl_nexus/run.py, rl_nexus/components, rl_nexus/specs;
    a git repository on branch main with no pyproject.toml."""
    nexus = root / "rl_nexus"
    shutil.copytree(components or REPO / "launcher" / "components", nexus / "components")
    (nexus / "specs").mkdir(parents=True)
    for name, src in (specs or {"x.yaml": REPO / "runspecs" / "grid_search.yaml"}).items():
        shutil.copy(src, nexus / "specs" / name)
    (nexus / "run.py").write_text("import sys\nprint('rl_nexus run', sys.argv[1:])\n")
    git("init", "-q", "-b", "main", cwd=root)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}
