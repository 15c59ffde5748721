"""Paths and helpers shared by the runtime tests (a uniquely named module: every test area has a conftest)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TEST_COMPONENTS = HERE / "components"
SPECS = HERE / "specs"
COMPAT = REPO.parent / "shared" / "compat" / "rl_nexus"


def read_summary(experiment_dir: Path) -> dict:
    return json.loads((experiment_dir / "summary.json").read_text())
