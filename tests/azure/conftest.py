"""Fixtures for the Azure harness tests: Azurite and the Batch test server (defined in tests/services)."""

from __future__ import annotations

import sys
from pathlib import Path

# tests/ is on sys.path when pytest imports tests/conftest.py ("prepend" import mode); make sure of it
# so that the shared services package is importable however this folder is collected.
_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from services.azurite import azurite  # noqa: E402,F401  (re-exported fixture)
from services.batch_server import batch_server  # noqa: E402,F401  (re-exported fixture)
