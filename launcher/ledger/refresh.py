"""`ledger refresh`: the status and best hpmax of unfinished jobs, asked of the store, written into their rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from launcher.diagnostics import LauncherError
from launcher.ledger.table import Ledger, LedgerRow, with_summary


@dataclass
class RowRefresh:
    job: str
    status: tuple[str, str]  # (before, after)
    best_hpmax: tuple[str, str]
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.status[0] != self.status[1] or self.best_hpmax[0] != self.best_hpmax[1]

    def to_dict(self) -> dict:
        return {"job": self.job, "changed": self.changed, "status_before": self.status[0],
                "status": self.status[1], "best_hpmax_before": self.best_hpmax[0], "best_hpmax": self.best_hpmax[1],
                "note": self.note}


def refresh_ledger(ledger: Ledger, summary: Callable[[LedgerRow], dict | None]) -> tuple[Ledger, list[RowRefresh]]:
    """Ask summary(row) -> {status, best_hpmax} (or None: unknown) for every row not final; update those rows.

    Only the status and best hpmax cells change; everything else of the row (hand edits too) stays."""
    results: list[RowRefresh] = []
    rows = []
    for row in ledger.rows:
        if row.is_final():
            rows.append(row)
            continue
        try:
            info = summary(row)
        except LauncherError as exc:
            info, note = None, exc.message
        else:
            note = ""
        if not info or info.get("status") in (None, "", "unknown"):
            results.append(RowRefresh(row.job, (row.status, row.status), (row.best_hpmax, row.best_hpmax),
                                      note or "not found in the store"))
            rows.append(row)
            continue
        new = with_summary(row, info)
        results.append(RowRefresh(row.job, (row.status, new.status), (row.best_hpmax, new.best_hpmax)))
        rows.append(new)
    return dataclasses.replace(ledger, rows=tuple(rows)), results
