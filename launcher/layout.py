"""Where a run starts and what it imports: one meaning for `run`, `smoke` and launched runs on every backend.

An rl_nexus checkout keeps run.py, components/ and specs/ in `rl_nexus/` and imports through the repository
root (`from rl_nexus.utils.spec_tree import SpecTree`); its XT config said `working-dir: "rl_nexus"` and
`python-path: ["../"]` (relative to that working dir, i.e. the root). Here the same is said relative to the
project root: `working_dir = "rl_nexus"`, `python_path = ["."]`. A run starts in `<code>/<working_dir>`, where
`<code>` is the project folder (`launcher run`) or the unpacked code snapshot (`smoke`, launched runs), with
the python_path folders of `<code>` first on PYTHONPATH, then the drop-in xtlib (launcher/xtlib_shim).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

XTLIB_SHIM = Path(__file__).resolve().parent / "xtlib_shim"  # holds the package `xtlib` (the drop-in)
XT_METRICS_ENV = "LAUNCHER_XT_METRICS"  # where the drop-in xtlib.run appends what a run logs (a jsonl file)
XTLIB_MODE_ENV = "LAUNCHER_XTLIB"  # auto | launcher: whether an installed xtlib wins over the drop-in
PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class Layout:
    working_dir: str = "."
    python_path: tuple[str, ...] = (".",)
    run_command: tuple[str, ...] | None = None
    xtlib: str = "auto"

    def run_dir(self, code_root: Path) -> Path:
        return Path(code_root) / self.working_dir

    def python_path_dirs(self, code_root: Path) -> list[str]:
        return [str((Path(code_root) / p).resolve()) for p in self.python_path]

    def env(self, code_root: Path, base: dict[str, str] | None = None) -> dict[str, str]:
        """The run's environment: python_path folders first on PYTHONPATH, then the drop-in xtlib, then what
        PYTHONPATH held already."""
        env = dict(os.environ if base is None else base)
        parts = [*self.python_path_dirs(code_root), str(XTLIB_SHIM)]
        if env.get("PYTHONPATH"):
            parts.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
        env[XTLIB_MODE_ENV] = self.xtlib
        return env

    def script(self) -> str | None:
        """The script the run command starts, relative to working_dir ('run.py' of `python run.py {runspec}`),
        or None when the command does not start a Python file (`python -m pkg`, a console script)."""
        if not self.run_command:
            return None
        argv = list(self.run_command)
        prog = posixpath.basename(argv[0])
        if prog.endswith(".py"):
            return argv[0]
        if not (prog in PYTHON_NAMES or prog.startswith("python3.")):
            return None
        for arg in argv[1:]:
            if arg in ("-m", "-c"):
                return None
            if arg.startswith("-"):
                continue
            return arg if arg.endswith(".py") and "{runspec}" not in arg else None
        return None

    def script_in_snapshot(self) -> str | None:
        """The script's path relative to the project root (as the snapshot names files), or None."""
        script = self.script()
        if script is None or os.path.isabs(script):
            return None
        return posixpath.normpath(posixpath.join(self.working_dir, script))


def local_datastore(project_dir: Path, layout: Layout) -> Path:
    """rl_nexus's $datastore on a machine of its own: ../datastore relative to the working dir (run.py)."""
    return (layout.run_dir(project_dir) / ".." / "datastore").resolve()
