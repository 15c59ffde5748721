"""rl_nexus's per-run hyperparameter file: `downloaded_hp_config.yaml` holding `hyperparameter-runset:`.

An HP-search child run gets its chosen values this way (research notes A.8, C.11); we read it with
`--hp-config FILE`, or from ./downloaded_hp_config.yaml when XT_RUN_NAME is set, as rl_nexus does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from launcher.diagnostics import LauncherError

HP_FILE = "downloaded_hp_config.yaml"
RUNSET_KEY = "hyperparameter-runset"


def read_hp_config(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LauncherError(f"--hp-config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LauncherError(f"--hp-config {path} is not valid YAML: {exc}") from None
    runset = doc.get(RUNSET_KEY) if isinstance(doc, dict) else None
    if not isinstance(runset, dict):
        raise LauncherError(f"--hp-config {path} has no '{RUNSET_KEY}:' mapping",
                            hint=f"write '{RUNSET_KEY}:' followed by one '  name: value' line per hyperparameter")
    return dict(runset)


def render_hp_config(values: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump({RUNSET_KEY: dict(values)}, sort_keys=False, default_flow_style=False)


def find_hp_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The explicit file, else ./downloaded_hp_config.yaml when running under a job (XT_RUN_NAME set)."""
    if explicit:
        return Path(explicit)
    auto = (cwd or Path.cwd()) / HP_FILE
    if os.environ.get("XT_RUN_NAME") and auto.is_file():
        return auto
    return None
