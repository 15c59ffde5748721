"""Render a CheckResult (validate / lint) as text, JSON, or GitHub annotations + step summary."""

from __future__ import annotations

import json

from launcher.diagnostics import ERROR, INFO, WARNING
from launcher.report.text import render_diagnostic

MAX_ANNOTATIONS_PER_FILE = 10  # GitHub shows at most 10 per step and type; we say how many more there are


def _counts(result) -> str:
    e, w = len(result.errors), len(result.warnings)
    i = len(result.diagnostics) - e - w
    parts = [f"{e} error{'s' * (e != 1)}", f"{w} warning{'s' * (w != 1)}"]
    if i:
        parts.append(f"{i} note{'s' * (i != 1)}")
    n = len(result.files)
    return f"{n} file{'s' * (n != 1)} checked: " + ", ".join(parts)


def render_text(result, *, strict: bool = False) -> str:
    out = []
    for f in result.files:
        for d in f.diagnostics:
            out.append(render_diagnostic(d, f.source_lines))
    verdict = "valid" if result.exit_code(strict=strict) == 0 else "INVALID"
    out.append(f"{_counts(result)} — {verdict}\n")
    return "".join(out)


def render_json(result, *, strict: bool = False) -> str:
    return json.dumps(result.to_dict(strict=strict), indent=2) + "\n"


def render_github(result, *, strict: bool = False) -> str:
    """Workflow-command annotations (at most 10 per file, then a count), then the text summary line."""
    from launcher.github import format_annotation, workspace_relative

    lines = []
    for f in result.files:
        shown = 0
        for d in f.diagnostics:
            if d.severity == INFO:
                continue
            if shown == MAX_ANNOTATIONS_PER_FILE:
                rest = sum(1 for x in f.diagnostics if x.severity != INFO) - shown
                lines.append(format_annotation("notice", f"{rest} more problem(s) in this file; run "
                                               f"`launcher lint {f.file}` to see them all",
                                               file=workspace_relative(f.file)))
                break
            msg = d.message + (f" — {d.hint}" if d.hint else "")
            lines.append(format_annotation(d.severity, msg, file=workspace_relative(d.file or f.file),
                                           line=d.line, col=d.col, title=d.code))
            shown += 1
    lines.append(_counts(result))
    return "\n".join(lines) + "\n"


def render_markdown(result, *, strict: bool = False, title: str = "Runspec check") -> str:
    """A step-summary table: one row per problem."""
    ok = result.exit_code(strict=strict) == 0
    icon = {ERROR: "❌", WARNING: "⚠️", INFO: "ℹ️"}
    out = [f"### {title}: {'passed' if ok else 'failed'}", "", _counts(result), ""]
    rows = [(f, d) for f in result.files for d in f.diagnostics]
    if rows:
        out += ["| | where | code | problem | how to fix |", "|---|---|---|---|---|"]
        for f, d in rows:
            where = f"`{d.file}:{d.line}:{d.col}`" if d.line else f"`{d.file}`"
            out.append(f"| {icon.get(d.severity, '')} | {where} | {d.code} | {_cell(d.message)} | {_cell(d.hint)} |")
    return "\n".join(out) + "\n"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")
