"""Whole-file writes that never leave a half-written file behind (temp file + os.replace)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launcher.fsutil import atomic_write


def write_text_atomic(path: str | Path, text: str) -> None:
    atomic_write(path, text)


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # Paths and other odd values that components put into settings or metrics: keep the summary readable.
    return str(value)
