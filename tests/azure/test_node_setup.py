"""The node's setup (items 1 and 5) and the role hint (item 2), without services."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from launcher.azure.node_setup import LAUNCHER_REQUIREMENTS, node_setup, project_requirements

REPO = Path(__file__).resolve().parents[2]


def test_the_node_gets_the_locked_requirements_with_tomli_for_python_310():
    # Item 1: Ubuntu 22.04's Python is 3.10; without tomli `launcher run` died there.
    shipped = LAUNCHER_REQUIREMENTS.read_text()
    assert shipped == (REPO / "requirements" / "launcher.txt").read_text(), \
        "launcher/azure/launcher-requirements.txt must be a copy of requirements/launcher.txt (`make lock` writes both)"
    assert re.search(r"^tomli==[^\n]*python_full_version < '3\.11'", shipped, re.M)
    for name in ("pyyaml", "jsonschema", "fastjsonschema", "rich", "azure-storage-blob", "azure-batch"):
        assert re.search(rf"^{name}==", shipped, re.M), name
    assert all("--hash=sha256:" in block for block in shipped.split("\n\n") if "==" in block)


def test_the_start_task_builds_a_venv_never_pip_user_and_parses(tmp_path):
    # Item 5: the image has no pip, and --user installs for the start task's admin user, not the task user.
    (tmp_path / "requirements.txt").write_text("numpy==1.26.4\n")
    setup = node_setup(["apt-get install -y libgl1"], project_requirements(tmp_path, "requirements.txt"))
    script = shlex.split(setup.command_line)[2]
    assert "--user" not in script and "python3 -m venv" in script and "--require-hashes" in script
    assert script.index("apt-get install -y libgl1") < script.index("python3 -m venv")
    assert subprocess.run(["/bin/sh", "-n", "-c", script]).returncode == 0
    assert [name for name, _ in setup.files] == ["launcher-requirements.txt", "project-requirements.txt"]
    # Once per requirements hash: the same inputs name the same venv, other requirements another one.
    again = node_setup(["apt-get install -y libgl1"], b"numpy==1.26.4\n")
    other = node_setup(["apt-get install -y libgl1"], b"numpy==2.0.0\n")
    assert setup.venv == again.venv != other.venv
    assert project_requirements(tmp_path, ["torch==2.3.0", "scipy"]) == b"torch==2.3.0\nscipy\n"
    assert project_requirements(tmp_path / "none", "requirements.txt") == b""
    assert len(node_setup([], b"").files) == 1


def test_the_start_task_survives_a_held_dpkg_lock_and_skips_a_built_venv(tmp_path):
    setup = node_setup([], b"")
    script = shlex.split(setup.command_line)[2]
    assert "DPkg::Lock::Timeout=600" in script
    shared = tmp_path / "shared"
    venv_python = shared / setup.venv / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    venv_python.chmod(0o755)
    proc = subprocess.run(["/bin/sh", "-c", script], env={"AZ_BATCH_NODE_SHARED_DIR": str(shared), "PATH": "/bin"},
                          capture_output=True, text=True)
    assert proc.returncode == 0 and f"launcher venv {setup.venv_hash} is there" in proc.stdout


def test_the_role_hint_names_roles_that_exist():
    # Item 2: "Azure Batch Contributor" is not a role; Job Submitter cannot create auto pools.
    from azure.core.exceptions import HttpResponseError

    from launcher.azure.errors import to_launcher_error

    exc = HttpResponseError(message="denied")
    exc.status_code = 403
    err = to_launcher_error(exc, service="Azure Batch", where="https://a.b.batch.azure.com", doing="creating")
    assert "Azure Batch Data Contributor" in err.hint and "Storage Blob Delegator" in err.hint
    assert "'Azure Batch Contributor'" not in err.hint


def test_make_lock_writes_the_shipped_copy_right_after_the_launcher_lock():
    # The copy is what nodes install: re-locking refreshes it with the lock it copies, not by hand later.
    recipe = subprocess.run(["make", "-n", "-s", "lock"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    commands = [line for line in recipe.replace("\\\n", " ").splitlines() if line.strip()]
    compiled = next(i for i, c in enumerate(commands) if "-o requirements/launcher.txt" in c)
    shipped = str(LAUNCHER_REQUIREMENTS.relative_to(REPO))
    assert commands[compiled + 1].split() == ["cp", "requirements/launcher.txt", shipped]
