"""Projects with their own entry point (`run_command = "python run.py {runspec}"`): run it, no shell.

The environment contract is the one rl_nexus's run.py expects on an XT node: it starts in working_dir, imports
through python_path (the repository root for rl_nexus), finds `xtlib.run` (the drop-in, unless a real xtlib is
installed: launcher/layout.py), and gets XT_RUN_NAME (the run name), XT_DATA_DIR (the data folder, rl_nexus's
$datastore) when one is known and, for HP-search runs, downloaded_hp_config.yaml (`hyperparameter-runset:`)
in the working folder. `--set <key>=value` overrides become rl_nexus's `--key value` command-line string
replacements.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from launcher.layout import XT_METRICS_ENV, Layout
from launcher.runtime.files import write_text_atomic
from launcher.runtime.hpconfig import HP_FILE, render_hp_config


def build_argv(run_command: list[str] | tuple[str, ...], runspec: str, overrides: dict[str, str]) -> list[str]:
    argv = [a.replace("{runspec}", runspec) for a in run_command]
    for key, value in overrides.items():
        argv += [f"--{key.strip('<>')}", str(value)]
    return argv


def run_external(layout: Layout, code_root: Path, runspec: str | Path, *, overrides: dict[str, str], run_name: str,
                 hparams: dict[str, Any] | None, data_dir: str | None, metrics_file: str | None = None) -> int:
    """Run the project's command in code_root/working_dir; the runspec path is given relative to that folder."""
    from launcher.diagnostics import LauncherError

    cwd = layout.run_dir(code_root)
    if not cwd.is_dir():
        raise LauncherError(f"working_dir {layout.working_dir!r} is not a folder of {code_root}",
                            hint="fix working_dir in [tool.launcher] of pyproject.toml")
    env = layout.env(code_root)
    env["XT_RUN_NAME"] = run_name
    if data_dir:
        env["XT_DATA_DIR"] = data_dir
    if metrics_file:
        env[XT_METRICS_ENV] = str(metrics_file)
    if hparams:
        write_text_atomic(cwd / HP_FILE, render_hp_config(hparams))
    spec = Path(runspec).resolve()
    rel = os.path.relpath(spec, cwd)
    argv = build_argv(layout.run_command or (), rel if not rel.startswith("../../..") else str(spec), overrides)
    try:
        return subprocess.run(argv, cwd=cwd, env=env, check=False).returncode
    except FileNotFoundError:
        raise LauncherError(f"run_command: program not found: {argv[0]}",
                            hint="fix run_command in [tool.launcher] of pyproject.toml") from None
