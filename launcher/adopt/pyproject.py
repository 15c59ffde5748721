"""The `[tool.launcher]` table `launcher init` writes, merged into pyproject.toml.

The merge goes through tomlkit, a style-preserving TOML library: it parses the user's file into a document that
keeps every comment, blank line, quoting style and key order, adds only what is missing and writes the rest
back byte for byte (the standard library's tomllib only reads, and writers such as tomli-w drop comments).
Settings the user already has are kept (they are listed), unless --force replaces them with init's values.
"""

from __future__ import annotations

import json

from launcher.adopt.layout import RL_NEXUS, Layout
from launcher.diagnostics import LauncherError

AZURE_TEMPLATE = """\
# An Azure Batch target, ready to uncomment (docs/azure.md explains every setting). Nothing secret goes here:
# the endpoints come from the environment (the workflow passes the repository variables AZURE_BATCH_ENDPOINT and
# AZURE_STORAGE_ACCOUNT_URL), the identity from OIDC in GitHub Actions or `az login` on a laptop.
# [tool.launcher.targets.azb-cpu]
# backend = "azure-batch"
# batch_endpoint = "${AZURE_BATCH_ENDPOINT}"            # https://<account>.<region>.batch.azure.com
# storage_account_url = "${AZURE_STORAGE_ACCOUNT_URL}"  # https://<account>.blob.core.windows.net (the store)
# container = "launcher"                                # blob container of the store; created on first use
# vm_size = "Standard_D2s_v3"                           # the nodes' VM size
# image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts", version = "latest" }
# node_agent_sku = "batch.node.ubuntu 22.04"            # must match the image
# setup = ["python3 -m pip install -q -r requirements.txt"]   # commands run once on every node
# max_wall_clock = "12h"                                # per job and per run: s, m, h, d
# max_retries = 2                                       # Batch re-runs a failed run this often
# price_per_node_hour = { dedicated = 0.096, spot = 0.019 }   # optional: the cost estimate in comments
# auth = "auto"                                         # auto | default | github-oidc
"""


def table_text(layout: Layout) -> str:
    """The table as TOML text with its comments (parsed by tomlkit and merged; also what a new file holds)."""
    settings = [("workspace", '"ws1"', "run names are ws1/run41"),
                ("component_roots", json.dumps(layout.component_roots),
                 "the project's components, searched before the built-ins"),
                ("ledger", '"jobs.md"', "the job ledger, kept on the default branch"),
                ("store", '".launcher"', "the local store of jobs and runs (git-ignored)")]
    if layout.kind == RL_NEXUS:
        settings += [("run_command", json.dumps(layout.run_command), "rl_nexus's own entry point"),
                     ("working_dir", json.dumps(layout.working_dir), "where runs start (XT's working-dir)"),
                     ("python_path", json.dumps(layout.python_path),
                      "first on PYTHONPATH: the repository root (XT's python-path)")]
    width = max(len(f"{k} = {v}") for k, v, _ in settings) + 2
    lines = ["[tool.launcher]",
             "# Written by `launcher init`; the launcher's README (Project configuration) explains every setting."]
    lines += [f"{f'{k} = {v}':<{width}}# {why}" for k, v, why in settings]
    lines += ["", "[tool.launcher.targets.local]     # runs on this machine",
              'backend = "local"', "", AZURE_TEMPLATE.rstrip("\n")]
    return "\n".join(lines) + "\n"


def merge(existing: str | None, layout: Layout, *, force: bool = False) -> tuple[str, list[str]]:
    """(the new text of pyproject.toml, the settings kept as the user had them)."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    template = table_text(layout)
    if existing is None:
        return template, []
    try:
        doc = tomlkit.parse(existing)
    except ParseError as exc:
        raise LauncherError(f"pyproject.toml:{exc.line}:{exc.col}: invalid TOML, not merged into: {exc}",
                            hint="fix the TOML syntax, then run `launcher init` again") from None
    wanted = tomlkit.parse(template)["tool"]["launcher"]
    tool = doc.get("tool")
    if tool is None:
        if existing and not existing.endswith("\n"):
            doc.add(tomlkit.nl())
        tool = tomlkit.table(is_super_table=True)
        doc["tool"] = tool
    elif not isinstance(tool, dict):
        raise LauncherError("pyproject.toml: `tool` is not a table, so [tool.launcher] cannot be added",
                            hint="make `tool` a table ([tool.NAME] sections), then run `launcher init` again")
    if "launcher" not in tool or (force and not isinstance(tool["launcher"], dict)):
        tool["launcher"] = wanted
        return tomlkit.dumps(doc), []
    kept: list[str] = []
    _merge_into(tool["launcher"], wanted, "tool.launcher", force, kept)
    return tomlkit.dumps(doc), kept


def _merge_into(have, want, path: str, force: bool, kept: list[str]) -> None:
    if not isinstance(have, dict):  # `launcher = ...` that is not a table: left alone, and said
        kept.append(path)
        return
    for key, value in want.items():
        where = f"{path}.{key}"
        if key not in have:
            have[key] = value
        elif isinstance(value, dict) and isinstance(have[key], dict):
            _merge_into(have[key], value, where, force, kept)
        elif have[key] != value:
            if force:
                have[key] = value
            else:
                kept.append(where)
