"""rl_nexus's per-run hyperparameter file: `downloaded_hp_config.yaml` holding `hyperparameter-runset:`.

An HP-search child run gets its chosen values this way (research notes A.8, C.11). rl_nexus reads it in
hp_handler.read_hp_config_file: `yaml.load(open('downloaded_hp_config.yaml'))['hyperparameter-runset']`, one
`name: value` per hyperparameter (the count must match the runspec's section), then writes each value back into
the runspec's text with `yaml_value_from_python` (so a value must print as YAML that reads back the same: lists
in flow style, floats as YAML floats). We read it with `--hp-config FILE`, or from ./downloaded_hp_config.yaml
when XT_RUN_NAME is set, as rl_nexus does.
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
    """`hyperparameter-runset:` then one `  name: value` line per hyperparameter, values in YAML flow style."""
    import yaml

    lines = [f"{RUNSET_KEY}:"]
    for name, value in values.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
        if text.endswith("\n..."):  # a plain scalar document's end marker
            text = text[:-4].strip()
        text = text.removesuffix("...").strip()
        lines.append(f"  {name}: {text}")
    return "\n".join(lines) + "\n"


def find_hp_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The explicit file, else ./downloaded_hp_config.yaml when running under a job (XT_RUN_NAME set)."""
    if explicit:
        return Path(explicit)
    auto = (cwd or Path.cwd()) / HP_FILE
    if os.environ.get("XT_RUN_NAME") and auto.is_file():
        return auto
    return None
