"""Projects with their own entry point (`run_command = "python run.py {runspec}"`): run it, no shell.

The environment contract is the one rl_nexus's run.py expects on an XT node: XT_RUN_NAME (the run name),
XT_DATA_DIR (the data folder, rl_nexus's $datastore) and, for HP-search runs, downloaded_hp_config.yaml
(`hyperparameter-runset:`) in the working folder. `--set <key>=value` overrides become rl_nexus's
`--key value` command-line string replacements.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from launcher.runtime.files import write_text_atomic
from launcher.runtime.hpconfig import HP_FILE, render_hp_config


def build_argv(run_command: list[str], runspec: str, overrides: dict[str, str]) -> list[str]:
    argv = [a.replace("{runspec}", runspec) for a in run_command]
    for key, value in overrides.items():
        argv += [f"--{key.strip('<>')}", str(value)]
    return argv


def run_external(run_command: list[str], runspec: str, *, overrides: dict[str, str], run_name: str,
                 hparams: dict[str, Any] | None, data_dir: str | None, cwd: Path | None = None) -> int:
    cwd = cwd or Path.cwd()
    env = dict(os.environ)
    env["XT_RUN_NAME"] = run_name
    if data_dir:
        env["XT_DATA_DIR"] = data_dir
    if hparams:
        target = cwd / HP_FILE
        write_text_atomic(target, render_hp_config(hparams))
    argv = build_argv(run_command, runspec, overrides)
    try:
        return subprocess.run(argv, cwd=cwd, env=env, check=False).returncode
    except FileNotFoundError:
        from launcher.diagnostics import LauncherError

        raise LauncherError(f"run_command: program not found: {argv[0]}",
                            hint="fix run_command in [tool.launcher] of pyproject.toml") from None
