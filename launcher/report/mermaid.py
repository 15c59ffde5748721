"""Mermaid `xychart-beta` charts for the PR comment and the step summary: GitHub renders them in Markdown, so a
chart needs no image hosting (a PNG would need an artifact, which expires and needs a login, or a branch).

Syntax: https://mermaid.js.org/syntax/xyChart.html (`x-axis "title" [cat, ...]`, `y-axis "title" min --> max`,
`line [y, ...]`). An xychart has no legend, so the caption under it names the lines.
"""

from __future__ import annotations

from launcher.report.numbers import fmt


def _label(text: str) -> str:
    """A quoted Mermaid string: no double quotes, backticks or line breaks inside (Mermaid has no escape for
    them, and a backtick fence inside would end the Markdown code block)."""
    return '"' + " ".join(str(text).replace('"', "'").replace("`", "'").split()) + '"'


def _num(v: float) -> str:
    """The one number format, but never an exponent: Mermaid's xychart grammar has no 1e-07."""
    text = fmt(float(v))
    if "e" in text:
        text = format(float(v), ".12f").rstrip("0").rstrip(".") or "0"
    return text


def xychart(*, title: str, x_label: str, xs: list, y_label: str, series: list[list[float]]) -> str:
    """An xychart with one line per series over the categories xs (all series as long as xs)."""
    values = [v for ys in series for v in ys]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.05
    lines = ["xychart-beta", f"  title {_label(title)}",
             f"  x-axis {_label(x_label)} [{', '.join(_category(x) for x in xs)}]",
             f"  y-axis {_label(y_label)} {_num(lo - pad)} --> {_num(hi + pad)}"]
    lines += [f"  line [{', '.join(_num(v) for v in ys)}]" for ys in series]
    return "\n".join(lines) + "\n"


def _category(x) -> str:
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return _label(fmt(x) if not isinstance(x, int) else str(x))


def block(chart: str) -> str:
    return "```mermaid\n" + chart + "```"
