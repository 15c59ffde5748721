"""Copying what a job or a run left in the store into a local folder (`launcher download`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.jobs import records as R
from launcher.jobs.status import child_names


@dataclass
class Download:
    name: str  # job12 or run41.3
    dest: Path  # DEST/<name>
    files: int = 0
    byte_count: int = 0
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "dest": str(self.dest), "files": self.files, "bytes": self.byte_count,
                "runs": list(self.runs)}


def download(store, name: str, dest: str | Path) -> Download:
    """A job's records and every child run's files into dest/<job>/ (runs in dest/<job>/<run>/), or a run's
    files into dest/<run>/. Keys of hidden objects ('.'-prefixed) are left out."""
    result = Download(name=name, dest=Path(dest) / name)

    def copy_prefix(prefix: str, into: Path) -> None:
        for key in store.list(prefix):
            rel = key[len(prefix):]
            if not rel or rel.startswith("."):
                continue
            try:
                got = store.get_file(key, into / rel)
            except OSError as exc:
                raise LauncherError(f"cannot write {into / rel}: {exc.strerror or exc}",
                                    hint="download into a folder you can write to: launcher download NAME DEST") \
                    from None
            if got:
                result.files += 1
                result.byte_count += (into / rel).stat().st_size

    if name.startswith("job"):
        copy_prefix(R.job_key(name, ""), result.dest)
        result.runs = child_names(store, name)
        for run in result.runs:
            copy_prefix(R.run_key(run, ""), result.dest / run)
    else:
        copy_prefix(R.run_key(name, ""), result.dest)
        result.runs = [name]
    return result
