"""The release's wheel works on its own: built by release.yml's own build step (its `run:` script, from a git
checkout with a version tag), installed into a fresh virtual environment (offline, from the locked wheels), it
answers `launcher --version` with the tag and the commit, and `launcher --help` and `launcher smoke` of an
example runspec work from a folder with no source checkout in sight."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gh_helpers import REPO_ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def release_step(name: str) -> str:
    wf = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    return next(s["run"] for s in wf["jobs"]["build"]["steps"] if s.get("name") == name)


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def tagged_checkout(dest: Path, tag: str) -> str:
    """A git repository of this checkout's tracked files (as they are now), its commit tagged; returns the sha."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        if (REPO_ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, dest / rel)
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "release", cwd=dest)
    git("tag", "-a", tag, "-m", tag, cwd=dest)
    return git("rev-parse", "HEAD", cwd=dest).strip()


def test_the_released_wheel_installs_and_runs_without_the_source(tmp_path, runner_tools):
    checkout = tmp_path / "checkout"
    sha = tagged_checkout(checkout, "v9.8.7")
    # the build step's script as release.yml has it, with `python` the one that has the locked release tools
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_REF_NAME": "v9.8.7"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", "-e", "-c", release_step("build")], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = checkout / "dist" / "runspec_launcher-9.8.7-py3-none-any.whl"
    assert wheel.is_file(), sorted(p.name for p in (checkout / "dist").iterdir())
    assert (checkout / "dist" / "runspec_launcher-9.8.7.tar.gz").is_file()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
                          "--disable-pip-version-check", "--find-links", str(runner_tools.wheelhouse), str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    shutil.rmtree(checkout)  # no source checkout beside the installed wheel

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(REPO_ROOT / "runspecs" / "grid_search.yaml", elsewhere / "grid_search.yaml")
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    launcher = str(venv / "bin" / "launcher")

    def launcher_run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([launcher, *args], cwd=elsewhere, env=run_env, capture_output=True, text=True,
                              timeout=300)

    version = launcher_run("--version")
    assert version.returncode == 0, version.stderr
    head, commit = version.stdout.strip().removesuffix(")").split(" (commit ")
    assert head == "launcher 9.8.7" and len(commit) >= 7 and sha.startswith(commit), version.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import launcher; print(launcher.__file__)"],
                           cwd=elsewhere, env=run_env, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    helped = launcher_run("--help")
    assert helped.returncode == 0 and "init" in helped.stdout and "smoke" in helped.stdout
    smoke = launcher_run("smoke", "grid_search.yaml")
    assert smoke.returncode == 0, smoke.stdout[-3000:] + smoke.stderr[-3000:]
    assert "[FAIL]" not in smoke.stdout
