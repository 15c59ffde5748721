"""The component catalog: where a component's defaults (and so its allowed keys) come from.

A component `processors/RL_Proc` is defined by `<root>/processors/RL_Proc/RL_Proc.yaml` (its defaults; every
key it may take) and its code `<root>/processors/RL_Proc/RL_Proc.py` (class `RL_Proc`). The root component is
special, as in rl_nexus: `<root>/root/Root_Component.yaml`. Roots are searched in order; the first hit wins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.runspec.load import Document, LoadError, read_document

COMPONENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)/([A-Za-z_][A-Za-z0-9_]*)$")
ROOT_COMPONENT = "root/Root_Component"


@dataclass
class ComponentDef:
    name: str  # "processors/RL_Proc"
    yaml_path: Path
    doc: Document  # the defaults file, with positions and text (for comments as descriptions)

    @property
    def defaults(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def class_name(self) -> str:
        return self.name.split("/", 1)[1]

    @property
    def py_path(self) -> Path:
        return self.yaml_path.with_suffix(".py")

    def description(self, key: str) -> str:
        """The comment on the key's line in the defaults file (rl_nexus documents settings that way)."""
        line, _ = self.doc.key_pos.get((key,), (0, 0))
        if not line:
            return ""
        text = self.doc.lines[line - 1]
        idx = _comment_start(text)
        return text[idx + 1:].strip() if idx >= 0 else ""


def _comment_start(line: str) -> int:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return -1


def candidate_files(name: str, roots: list[Path], suffix: str) -> list[Path]:
    """Where a component's file with this suffix (.yaml: defaults, .py: code) may be, root by root."""
    category, cname = name.split("/", 1)
    if name == ROOT_COMPONENT:
        return [Path(r) / "root" / f"{cname}{suffix}" for r in roots]
    return [Path(r) / category / cname / f"{cname}{suffix}" for r in roots]


class CatalogError(Exception):
    """A component's defaults file exists but cannot be loaded."""

    def __init__(self, name: str, error: LoadError) -> None:
        super().__init__(f"{name}: {error.message}")
        self.name = name
        self.error = error


class ComponentCatalog:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self._cache: dict[str, ComponentDef | None] = {}

    @property
    def rl_nexus_tree(self) -> bool:
        """True when the roots are a user's whole rl_nexus components/ tree (no built-ins behind it): there a
        component that no root has is what rl_nexus fails on (FileNotFoundError in get_comp_spec)."""
        from launcher.config import BUILTIN_COMPONENTS, is_rl_nexus_tree

        resolved = [r.resolve() for r in self.roots]
        return BUILTIN_COMPONENTS not in resolved and any(is_rl_nexus_tree(r) for r in self.roots)

    def yaml_candidates(self, name: str) -> list[Path]:
        return candidate_files(name, self.roots, ".yaml")

    def find(self, name: str) -> ComponentDef | None:
        """The component's definition, or None when no root has it. CatalogError if its file is broken."""
        if name in self._cache:
            return self._cache[name]
        found = None
        if COMPONENT_RE.match(name):
            for path in self.yaml_candidates(name):
                if path.is_file():
                    try:
                        doc = read_document(path, display=str(path))
                    except LoadError as exc:
                        raise CatalogError(name, exc) from None
                    if not isinstance(doc.data, dict):
                        raise CatalogError(name, LoadError(_not_mapping(path)))
                    found = ComponentDef(name, path, doc)
                    break
        self._cache[name] = found
        return found

    def all(self) -> list[ComponentDef]:
        """Every component on every root (first root wins per name), for schema generation."""
        names: list[str] = []
        for root in self.roots:
            if (root / "root" / "Root_Component.yaml").is_file():
                names.append(ROOT_COMPONENT)
            for yml in sorted(root.glob("*/*/*.yaml")):
                if yml.stem == yml.parent.name and yml.parent.parent.name != "root":
                    names.append(f"{yml.parent.parent.name}/{yml.stem}")
        out = []
        for name in dict.fromkeys(names):
            try:
                d = self.find(name)
            except CatalogError:
                continue
            if d:
                out.append(d)
        return out

    def names(self) -> list[str]:
        """Every component name on the roots (a cheap listing, for "did you mean")."""
        if getattr(self, "_names", None) is None:
            found: list[str] = []
            for root in self.roots:
                for yml in sorted(Path(root).glob("*/*/*.yaml")):
                    if yml.stem == yml.parent.name:
                        found.append(f"{yml.parent.parent.name}/{yml.stem}")
            self._names = list(dict.fromkeys(found))
        return self._names

    def where(self, name: str) -> str:
        """Human text naming the places searched, for 'not found' messages."""
        if not COMPONENT_RE.match(name):
            return "(not a valid component name)"
        cands = self.yaml_candidates(name)
        return ", ".join(display_path(p) for p in cands)


def display_path(p: str | Path) -> str:
    """A path as short as possible: relative to the current folder when that is shorter."""
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return str(p)
    return rel if len(rel) < len(str(p)) else str(p)


def _not_mapping(path: Path):
    from launcher.diagnostics import ERROR, Diagnostic

    return Diagnostic("RS013", ERROR, "a component's defaults file must be a mapping of settings", str(path), 1, 1)
