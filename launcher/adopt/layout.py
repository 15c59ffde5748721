"""Which kind of repository `launcher init` stands in, and the settings that follow from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

RL_NEXUS = "rl_nexus"
PLAIN = "plain"


@dataclass(frozen=True)
class Layout:
    kind: str                                  # RL_NEXUS or PLAIN
    component_roots: list[str] = field(default_factory=list)  # relative to the repository, posix
    runspec_root: str = "runspecs"             # where the pipeline's `launcher changed` looks
    working_dir: str | None = None             # rl_nexus: runs start in rl_nexus/, as XT started them
    python_path: list[str] | None = None
    run_command: str | None = None

    def describe(self) -> str:
        if self.kind == RL_NEXUS:
            return "an rl_nexus checkout (rl_nexus/run.py, rl_nexus/components, rl_nexus/specs)"
        return "a plain project" + (f" with components in {', '.join(self.component_roots)}"
                                    if self.component_roots else "")


def detect(root: Path) -> Layout:
    """rl_nexus's layout is what its tutorial and XT's config assume: run.py, components/ and specs/ inside
    rl_nexus/ (XT's working-dir), with imports resolved from the repository root (XT's python-path "../")."""
    nexus = root / "rl_nexus"
    if (nexus / "run.py").is_file() and (nexus / "components").is_dir() and (nexus / "specs").is_dir():
        return Layout(kind=RL_NEXUS, component_roots=["rl_nexus/components"], runspec_root="rl_nexus/specs",
                      working_dir="rl_nexus", python_path=["."], run_command="python run.py {runspec}")
    roots = ["components"] if (root / "components").is_dir() else []
    return Layout(kind=PLAIN, component_roots=roots, runspec_root="runspecs")


def find_runspecs(root: Path, layout: Layout) -> list[Path]:
    """The runspecs under the layout's runspec root (sorted), for the closing validation."""
    folder = root / layout.runspec_root
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
