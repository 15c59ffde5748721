"""The history of the `[tool.launcher]` schema, release by release: what `launcher init --upgrade` reports when
it moves a repository from one release to another, and the deprecated keys the config loader still reads (for
one release, with a warning naming the replacement). CHANGELOG.md tells the same history in prose; a test keeps
the two in step.

Recording a change: add a ConfigChange with the release that ships it. Renaming a key: add the old name to
DEPRECATED (old -> (new, release)); the loader then reads the old key as the new one and warns; delete the
entry one release later (the key is then unknown, and the loader's "did you mean" names the new one).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigChange:
    version: str   # the release that ships it
    kind: str      # added | changed | deprecated | removed
    key: str       # the setting, e.g. "working_dir" or "targets.<name>.auth"
    text: str      # what it means for a repository that upgrades


HISTORY: tuple[ConfigChange, ...] = (
    ConfigChange("0.1.0", "added", "working_dir",
                 "where runs start (run, smoke, launched runs); rl_nexus checkouts use \"rl_nexus\""),
    ConfigChange("0.1.0", "added", "python_path",
                 "folders put first on PYTHONPATH, relative to pyproject.toml (default [\".\"])"),
)

# old top-level key of [tool.launcher] -> (its replacement, the release that deprecated it)
DEPRECATED: dict[str, tuple[str, str]] = {}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3])


def changes_between(old: str | None, new: str, history: tuple[ConfigChange, ...] = HISTORY) -> list[ConfigChange]:
    """The changes after release `old` up to and including `new` (old None: a commit before any release, so
    every change up to `new`)."""
    low = _key(old) if old else (-1,)
    return [c for c in history if low < _key(c.version) <= _key(new)]
