"""`launcher lint --fix`: apply safe fixes as in-place text edits, so comments and formatting survive."""

from __future__ import annotations

from pathlib import Path

from launcher.fsutil import atomic_write


def apply_fixes(result) -> list[tuple[str, list]]:
    """Apply every file's fixes; returns (file, the Fixes applied, top to bottom) for the files changed. Atomic
    per file."""
    changed = []
    for f in result.files:
        if not f.fixes:
            continue
        path = Path(f.file)
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        applied = []
        # bottom-up and right-to-left, so earlier positions stay valid; one fix per position
        for fix in sorted({(x.line, x.col): x for x in f.fixes}.values(), key=lambda x: (x.line, x.col),
                          reverse=True):
            line = lines[fix.line - 1]
            start = fix.col - 1
            if line[start:start + len(fix.old)] != fix.old:
                continue  # the file changed under us; leave it
            lines[fix.line - 1] = line[:start] + fix.replacement + line[start + len(fix.old):]
            applied.append(fix)
        if applied:
            atomic_write(path, "".join(lines), mode=path.stat().st_mode & 0o777)
            changed.append((f.file, sorted(applied, key=lambda x: (x.line, x.col))))
    return changed
