"""Terminal rendering of diagnostics and errors."""

from __future__ import annotations

from launcher.diagnostics import Diagnostic, LauncherError


def location(d: Diagnostic) -> str:
    loc = d.file or "<input>"
    if d.line:
        loc += f":{d.line}"
        if d.col:
            loc += f":{d.col}"
    return loc


def render_diagnostic(d: Diagnostic, source_lines: list[str] | None = None) -> str:
    """`file:line:col: CODE severity: message`, the quoted source line with a caret, then the hint."""
    out = [f"{location(d)}: {d.code} {d.severity}: {d.message}"]
    if source_lines and 0 < d.line <= len(source_lines):
        text = source_lines[d.line - 1].rstrip("\n").expandtabs(1)
        out.append(f"    {text}")
        if d.col:
            out.append("    " + " " * (d.col - 1) + "^")
    if d.hint:
        out.append(f"    hint: {d.hint}")
    return "\n".join(out) + "\n"


def render_error(exc: LauncherError) -> str:
    out = "".join(render_diagnostic(d) for d in exc.diagnostics)
    out += f"launcher: error: {exc.message}\n"
    if exc.hint:
        out += f"  hint: {exc.hint}\n"
    return out
