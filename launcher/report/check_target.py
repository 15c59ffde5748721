"""Render `launcher check` reports as text (JSON is their to_dict)."""

from __future__ import annotations

MARK = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def render_text(reports) -> str:
    out = []
    for report in reports:
        out.append(f"target {report.target}: {'ready' if report.ok else 'NOT ready'}")
        for c in report.checks:
            out.append(f"  {MARK.get(c.status, c.status)}  {c.name}: {c.detail}")
            if c.fix:
                out.append(f"        fix: {c.fix}")
    return "\n".join(out) + "\n"
