"""The issue's "Must show": an rl_nexus checkout with no pyproject.toml (tests/rl_nexus_project/template, its own
run.py, hp_handler and xtlib.run logging), `launcher init`, then `launcher validate` and `launcher smoke
specs/x.yaml` from inside rl_nexus/ pass with no hand edit; `launcher init` again changes nothing; the caller it
wrote passes zizmor and GitHub's workflow schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from adopt_helpers import git, snapshot

from tests.conftest import REPO

pytestmark = pytest.mark.slow
TEMPLATE = REPO / "tests" / "rl_nexus_project" / "template"
BIN = os.path.dirname(sys.executable)


def launcher(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "LAUNCHER_RUNSPEC", "LAUNCHER_TARGET"))}
    env["LAUNCHER_UPSTREAM_URL"] = os.environ["LAUNCHER_UPSTREAM_URL"]
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_init_then_validate_and_smoke_from_inside_rl_nexus_with_no_hand_edits(tmp_path, upstream):
    sha = upstream.release("0.1.0")
    root = tmp_path / "checkout"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns("pyproject.toml", ".gitignore"))
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "an rl_nexus checkout", cwd=root)
    (root / "datastore").mkdir()
    (root / "datastore" / "offset.txt").write_text("0.5\n")

    first = launcher("init", cwd=root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "an rl_nexus checkout" in first.stdout and "0 errors" in first.stdout
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "adopt runspec-launcher", cwd=root)

    nexus = root / "rl_nexus"
    assert launcher("validate", "specs/x.yaml", cwd=nexus).returncode == 0
    smoke = launcher("smoke", "specs/x.yaml", "--format", "json", cwd=nexus)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert json.loads(smoke.stdout)["ok"]

    before = snapshot(root)
    again = launcher("init", cwd=root)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert snapshot(root) == before
    assert git("status", "--porcelain", cwd=root) == ""

    caller = root / ".github" / "workflows" / "runspecs.yml"
    assert f"@{sha} # v0.1.0" in caller.read_text()
    zizmor = subprocess.run([os.path.join(BIN, "zizmor"), "--offline", "--format", "json", str(root / ".github")],
                            capture_output=True, text=True, timeout=300)
    assert not [f["ident"] for f in json.loads(zizmor.stdout or "[]")
                if f["determinations"]["severity"] in ("Medium", "High")]
    schema = subprocess.run([os.path.join(BIN, "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             str(caller)], capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr
