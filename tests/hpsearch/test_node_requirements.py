"""An Azure node can run a bayesian search's pull: its venv (launcher/azure/launcher-requirements.txt, the
launcher lock) holds every distribution that the search modules import, with their own dependencies."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from launcher.azure.node_setup import LAUNCHER_REQUIREMENTS

REPO = Path(__file__).resolve().parents[2]
SEARCH_MODULES = sorted((REPO / "launcher" / "hpsearch").glob("*.py"))


def _imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every module a file imports, also inside functions (bayesian imports Optuna lazily)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _third_party_distributions() -> set[str]:
    by_module = md.packages_distributions()
    out = set()
    for path in SEARCH_MODULES:
        for top in _imported_top_levels(path) - set(sys.stdlib_module_names) - {"launcher", "__future__"}:
            assert top in by_module, f"{path.name} imports {top}, which no installed distribution provides"
            out |= {canonicalize_name(d) for d in by_module[top]}
    return out


def _closure(roots: set[str], python: str) -> set[str]:
    """The distributions roots need on a node with that Python (no extras), by their installed metadata."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:  # needed only on another Python than this one: its name is checked
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(canonicalize_name(req.name))
    return seen


def test_the_node_venv_has_what_a_bayesian_search_imports():
    locked = {canonicalize_name(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==",
                                                      LAUNCHER_REQUIREMENTS.read_text(), re.M)}
    imported = _third_party_distributions()
    assert "optuna" in imported  # bayesian.py's sampler: the point of this test
    for python in ("3.10", "3.12"):  # Ubuntu 22.04's and 24.04's Python
        missing = _closure(imported, python) - locked
        assert not missing, (f"the node venv lacks {sorted(missing)} (Python {python}): add them to the launcher "
                             "lock (make lock's launcher.txt extras) and copy it to launcher/azure/")
