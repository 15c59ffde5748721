"""The .gitignore lines `launcher init` adds: the local store and what runs write beside the code."""

from __future__ import annotations

HEADER = "# runspec-launcher: the local store, run results and the local datastore (written by `launcher init`)"


def wanted_lines(store: str = ".launcher") -> list[str]:
    # rl_nexus runs write into ../results and read ../datastore, relative to where they start (rl_nexus/ in an
    # rl_nexus checkout, the project folder otherwise): both at the repository's top either way.
    return [f"/{store.strip('/')}/", "/results/", "/datastore/"]


def merge(existing: str | None, store: str = ".launcher") -> str:
    """existing with the missing lines appended under one comment (lines already there, in any form that
    ignores the same folder, are not repeated)."""
    text = existing or ""
    have = {line.strip().strip("/") for line in text.splitlines() if line.strip() and not line.startswith("#")}
    missing = [line for line in wanted_lines(store) if line.strip("/") not in have]
    if not missing:
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    if text and not text.endswith("\n\n"):
        text += "\n"
    return text + HEADER + "\n" + "\n".join(missing) + "\n"
