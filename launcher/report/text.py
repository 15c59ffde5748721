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
    if exc.diagnostics and exc.diagnostics[0].message in exc.message:
        return out  # the diagnostics already say it all, each with its place and hint: not once more
    out += f"launcher: error: {exc.message}\n"
    if exc.hint:
        out += f"  hint: {exc.hint}\n"
    return out


def render_run_error(summary, *, verbose: bool) -> str:
    """The error of a failed `launcher run` (a RunSummary): which stage, where in the component's code, the hint."""
    err = summary.error
    where = ""
    if err.stage is not None and err.stage <= len(summary.stages):
        stage = summary.stages[err.stage - 1]
        where = f"stage {err.stage} of {len(summary.stages)} ({stage.component}) failed: "
    out = f"launcher: error: {where}{err.message}\n"
    if err.location:
        out += f"  at {err.location}\n"
    if err.hint:
        out += f"  hint: {err.hint}\n"
    if verbose and err.traceback:
        out += err.traceback
    elif err.type:
        out += "  (run again with --verbose for the full traceback)\n"
    return out
