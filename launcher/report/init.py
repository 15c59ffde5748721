"""`launcher init`'s result as text (what changed, the closing validation, the next commands) or JSON."""

from __future__ import annotations

import json
import os

from launcher import UPSTREAM_REPO

_SCHEMA_URL = "https://raw.githubusercontent.com/{repo}/{ref}/schemas/runspec.schema.json"


def schema_modeline(plan) -> str:
    ref = plan.pin.sha if plan.pin else "main"
    return "# yaml-language-server: $schema=" + _SCHEMA_URL.format(repo=UPSTREAM_REPO, ref=ref)


def next_commands(plan, runspecs: list[str]) -> list[str]:
    from launcher.cli import COMMANDS

    layout = plan.layout
    inside = layout.working_dir  # rl_nexus: runspec paths are given from inside rl_nexus/, as with run.py
    shown = [os.path.relpath(plan.root / r, plan.root / inside) if inside else r for r in runspecs]
    root = os.path.relpath(plan.root / layout.runspec_root, plan.root / inside) if inside else layout.runspec_root
    out = [f"cd {inside}"] if inside else []
    out.append(f"launcher validate {root}/*.yaml")
    first = shown[0] if shown else f"{root}/x.yaml"
    out += [f"launcher smoke {first}", f"launcher lint {first}"]
    if "check" in COMMANDS:
        out.append(f"launcher check {first}")
    return out


def _rel(plan, path: str) -> str:
    return os.path.relpath(path, plan.root)


def render_text(plan, check, *, dry_run: bool) -> str:
    from launcher.report.check import render_text as render_check

    lines = [f"launcher init: {plan.layout.describe()}"]
    width = max(len(c.path) for c in plan.changes)
    for c in plan.changes:
        verb = {"create": "would create" if dry_run else "created",
                "update": "would update" if dry_run else "updated"}.get(c.status, c.status)
        lines.append(f"  {verb:<12} {c.path:<{width}}  {c.note}".rstrip())
    for key in plan.kept_settings:
        lines.append(f"  kept         {key} as you have it (init's value differs; --force replaces it)")
    if plan.upgrade:
        up = plan.upgrade
        lines.append(f"upgrade: {up.old.label} -> {up.new.label}")
        if up.config_changes:
            lines.append("  config changes in between (CHANGELOG.md has the rest):")
            lines += [f"    {c.version}  {c.kind:<10} {c.key}: {c.text}" for c in up.config_changes]
        else:
            lines.append("  no change to the [tool.launcher] settings in between")
        for key, new in up.deprecated_in_use:
            lines.append(f"  deprecated: '{key}' in your [tool.launcher]: rename it to '{new}'")
    out = "\n".join(lines) + "\n"
    if dry_run:
        out += plan.diff()
        n = len(plan.pending)
        out += f"dry run: nothing written ({n} file{'s' * (n != 1)} would change)\n"
    elif not plan.pending:
        out += "nothing to change: the repository is set up\n"
    runspecs = [_rel(plan, f.file) for f in check.files] if check else []
    if check is not None:
        out += render_check(check)
    else:
        out += f"no runspecs under {plan.layout.runspec_root}/ yet\n"
    out += ("Editor completion and checking of runspecs (yaml-language-server): make this their first line\n"
            f"  {schema_modeline(plan)}\n")
    out += "Next:\n" + "".join(f"  {c}\n" for c in next_commands(plan, runspecs))
    return out


def render_json(plan, check, *, dry_run: bool) -> str:
    runspecs = [_rel(plan, f.file) for f in check.files] if check else []
    doc = {"layout": plan.layout.kind, "dry_run": dry_run, "files": [c.to_dict() for c in plan.changes],
           "kept_settings": plan.kept_settings,
           "pin": {"sha": plan.pin.sha, "release": plan.pin.version} if plan.pin else None,
           "validation": check.to_dict() if check else None,
           "schema_modeline": schema_modeline(plan), "next": next_commands(plan, runspecs)}
    if dry_run:
        doc["diff"] = plan.diff()
    if plan.upgrade:
        doc["upgrade"] = {"from": plan.upgrade.old.version or plan.upgrade.old.sha,
                          "to": plan.upgrade.new.version or plan.upgrade.new.sha,
                          "config_changes": [vars(c) for c in plan.upgrade.config_changes],
                          "deprecated_in_use": [{"key": k, "replacement": r}
                                                for k, r in plan.upgrade.deprecated_in_use]}
    return json.dumps(doc, indent=2) + "\n"
