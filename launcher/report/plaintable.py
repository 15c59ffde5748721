"""Large tables as plain text: the same layout rich gives a SIMPLE_HEAD table without edges (header, a rule,
rows; columns three spaces apart; numbers right-aligned; trailing spaces trimmed), at a fraction of its cost.
rich.Table measures and wraps every cell through its layout engine: 97 % of `launcher runs` at 10,000 runs.
report.jobs.render_table uses it for tables longer than a screen; tests hold the two outputs equal."""

from __future__ import annotations

SEP = "   "


def cell_len(text: str) -> int:
    if text.isascii():  # most cells: one column a character
        return len(text)
    from rich.cells import cell_len as rich_cell_len  # the width rich gives a cell (wide characters count 2)

    return rich_cell_len(text)  # imported only for such a cell: rich's width tables cost a start-up ~10 ms


def render_plain(columns: list[str], cells: list[list[str]], right: list[bool]) -> str:
    """columns: header names; cells: formatted rows; right: which columns are right-aligned."""
    widths = [cell_len(c) for c in columns]
    lens = [[len(v) if v.isascii() else cell_len(v) for v in row] for row in cells]  # cell_len, inlined
    for row in lens:
        for i, n in enumerate(row):
            if n > widths[i]:
                widths[i] = n

    def line(values: list[str], sizes: list[int]) -> str:
        parts = []
        for v, n, w, r in zip(values, sizes, widths, right):
            pad = " " * (w - n)
            parts.append(pad + v if r else v + pad)
        return SEP.join(parts).rstrip()

    out = [line(columns, [cell_len(c) for c in columns]), "─" * (sum(widths) + len(SEP) * (len(widths) - 1))]
    out.extend(line(row, sizes) for row, sizes in zip(cells, lens))
    return "\n".join(s for s in out if s.strip()) + "\n"
