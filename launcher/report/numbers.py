"""The one way a value is written for people: tables, status lines, the ledger, the PR comment, charts.

Fixed point to five decimals, as XT showed rewards and hours (0.00007, not 7e-05), without trailing zeros;
only values too small or too big for that use three significant digits with an exponent. So the same hpmax
reads `-0.1556` in `launcher runs`, in jobs.md and in the pull request, never `-0.155596` in one of them and
`-0.6482497309042877` in another.
"""

from __future__ import annotations

import json
import math


def fmt(value) -> str:
    kind = type(value)
    if kind is str:  # the common cells first (a table of 10,000 runs formats every one)
        return value
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0 or 1e-5 <= abs(value) < 1e6:
            text = format(value, ".5f").rstrip("0").rstrip(".")
            return "0" if text in ("-0", "") else text
        return format(value, ".3g")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def fmt_or(value, missing: str = "n/a") -> str:
    """fmt(value), or `missing` when there is no value."""
    return missing if value is None else fmt(value)
