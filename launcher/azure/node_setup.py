"""What a Batch node needs before a task can run the launcher, done once per node by the pool's start task.

A current Ubuntu image has a Python (3.10 on 22.04) without pip or venv and refuses system-wide pip (PEP 668),
and the start task runs as the pool's admin auto-user while tasks run as other users, so `pip install --user`
in a start task installs for nobody who runs a task. The start task therefore builds one virtual environment
in the node's shared folder, named by the hash of everything installed into it:

    $AZ_BATCH_NODE_SHARED_DIR/launcher-venv-<hash>/

1. the target's own `setup` commands (as root: apt packages, drivers), in order;
2. python3-venv from apt when `python3 -m venv` is missing, waiting for the dpkg lock that unattended-upgrades
   holds on a fresh node (`-o DPkg::Lock::Timeout`), instead of failing on it;
3. `python3 -m venv`, then the launcher's own locked dependencies (launcher-requirements.txt: the hash-locked
   requirements/launcher.txt, for every Python >= 3.10, tomli included for 3.10) with --require-hashes;
4. the project's requirements (requirements.txt at the project root, or the target's `requirements` list);
5. the finished venv is moved into place atomically; a node that has it (a rebooted node, a retried start task)
   skips all of this.

Tasks run `$AZ_BATCH_NODE_SHARED_DIR/launcher-venv-<hash>/bin/python`. The two requirement files reach the node
as resource files of the start task (content-addressed blobs, read-only SAS); nothing here comes from a runspec.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

LAUNCHER_REQUIREMENTS = Path(__file__).resolve().parent / "launcher-requirements.txt"
LAUNCHER_REQ_FILE = "launcher-requirements.txt"
PROJECT_REQ_FILE = "project-requirements.txt"
#: seconds apt waits for the dpkg lock held by unattended-upgrades on a freshly booted Ubuntu node
DPKG_LOCK_TIMEOUT = 600


@dataclass(frozen=True)
class NodeSetup:
    venv_hash: str
    command_line: str
    files: tuple[tuple[str, bytes], ...]  # (file name on the node, content): the start task's resource files

    @property
    def venv(self) -> str:
        return f"launcher-venv-{self.venv_hash}"

    def python_argv(self, args: list[str]) -> list[str]:
        """A task's argv that runs the venv's python (tasks run without a shell, so the shared folder's variable
        is expanded by a fixed /bin/sh -c; every other argument is passed through as "$@", never parsed)."""
        return ["/bin/sh", "-c", f'exec "$AZ_BATCH_NODE_SHARED_DIR/{self.venv}/bin/python" "$@"', "launcher-python",
                *args]


def project_requirements(project_dir: Path, configured) -> bytes:
    """The project's requirements: the target's `requirements` list, else requirements.txt at the project root
    (b'' when there is none)."""
    if isinstance(configured, list):
        return ("".join(f"{line}\n" for line in configured)).encode("utf-8")
    path = Path(project_dir) / (configured or "requirements.txt")
    return path.read_bytes() if path.is_file() else b""


def node_setup(setup_commands: tuple[str, ...] | list[str], project_reqs: bytes) -> NodeSetup:
    launcher_reqs = LAUNCHER_REQUIREMENTS.read_bytes()
    digest = hashlib.sha256()
    for part in (launcher_reqs, project_reqs, "\n".join(setup_commands).encode("utf-8")):
        digest.update(hashlib.sha256(part).digest())
    venv_hash = digest.hexdigest()[:16]
    venv = f'"$AZ_BATCH_NODE_SHARED_DIR/launcher-venv-{venv_hash}"'
    pip = '"$tmp/bin/python" -m pip install --no-input --disable-pip-version-check --no-warn-script-location'
    steps = [
        "set -eu",
        f"if [ -x {venv}/bin/python ]; then echo 'launcher venv {venv_hash} is there'; exit 0; fi",
        *setup_commands,
        "if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then "
        f"apt-get -o DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT} update -q && "
        f"DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT} install -y -q "
        "--no-install-recommends python3-venv; fi",
        f'tmp={venv}.tmp.$$',
        'rm -rf "$tmp"',
        'python3 -m venv "$tmp"',
        f"{pip} --require-hashes -r {LAUNCHER_REQ_FILE}",
    ]
    files = [(LAUNCHER_REQ_FILE, launcher_reqs)]
    if project_reqs.strip():
        steps.append(f"{pip} -r {PROJECT_REQ_FILE}")
        files.append((PROJECT_REQ_FILE, project_reqs))
    steps += ['chmod -R a+rX "$tmp"', f'mv -T "$tmp" {venv} || rm -rf "$tmp"']
    script = "\n".join(steps)
    return NodeSetup(venv_hash, "/bin/sh -c " + shlex.quote(script), tuple(files))
