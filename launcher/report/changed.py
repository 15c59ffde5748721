"""Reporters of `launcher changed`: the terminal lines and the step summary's Markdown."""

from __future__ import annotations

from launcher.changes import ChangedResult


def render_text(result: ChangedResult) -> str:
    if not result.items:
        return f"no runspec changed ({result.event}{', ' + result.note if result.note else ''})\n"
    lines = []
    for i in result.items:
        where = f"launch on {i.target} ({i.backend})" if i.launch else "validate and smoke only"
        lines.append(f"{i.runspec}  {where}")
    if result.held and any(i.launch for i in result.items):
        lines.append(f"not launching on this event: {result.held}; validated and smoke-run only")
    return "\n".join(lines) + "\n"


def render_markdown(result: ChangedResult) -> str:
    out = [f"### Changed runspecs ({result.origin})", ""]
    if not result.items:
        out.append("No runspec under the runspec root changed: nothing to validate or launch.")
        return "\n".join(out) + "\n"
    out += ["| runspec | launches | target |", "|---|---|---|"]
    for i in result.items:
        launches = f"no ({result.held})" if i.launch and result.held else ("yes" if i.launch else "no")
        out.append(f"| `{i.runspec}` | {launches} | {i.target or '—'} {f'({i.backend})' if i.backend else ''} |")
    if result.fork:
        out += ["", "This pull request comes from a fork: its runspecs are validated and smoke-run, never launched."]
    elif result.held and any(i.launch for i in result.items):
        out += ["", f"Nothing launches on this event ({result.held}): validated and smoke-run only."]
    return "\n".join(out) + "\n"
