"""The row the workflow's record job pushes, built by the trusted launcher from trusted inputs.

The record job holds `contents: write`. The launch result it downloads was written in a job where the pull
request's code may have run (the local backend runs it in `launch-local`), so the artifact's row is not taken as
it is: every column that can be known without it comes from the record job's own inputs (the runspec path of the
matrix, the payload it checked out itself at the event's head commit, the target and origin of the trusted plan
job). From the artifact only the job's number, launch time, status and best hpmax are taken, each checked for its
form; the invariants of table.upsert (a row is only ever updated by its own launch) then hold on the remote.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePosixPath

from launcher.diagnostics import LauncherError
from launcher.ledger.table import LedgerRow, format_runs

_LAUNCHED_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
#: The statuses a launch result's row can carry (job states, as launch and following write them).
ROW_STATUSES = frozenset({"submitted", "submitting", "queued", "running", "completed", "failed", "cancelled",
                          "lost", "removed"})


def _claimed(claimed: dict, source: str) -> dict:
    """The four columns taken from an untrusted launch result, each checked for its form."""
    from launcher.jobs.numbering import JOB_NAME_RE

    if not isinstance(claimed, dict):
        raise LauncherError(f"{source}: a ledger row must be a JSON object")

    def bad(name: str, why: str) -> LauncherError:
        return LauncherError(f"{source}: {name} {claimed.get(name)!r} {why}; the row was not recorded",
                             hint="the record job takes only the job number, launch time, status and best hpmax "
                                  "from the launch result; everything else it works out itself")

    job = claimed.get("job")
    if not isinstance(job, str) or not JOB_NAME_RE.match(job):
        raise bad("job", "is not a job name like 'job12'")
    launched = claimed.get("launched")
    if not isinstance(launched, str) or not _LAUNCHED_RE.match(launched):
        raise bad("launched", "is not a launch time like '2025-05-01 12:34'")
    status = claimed.get("status") or "submitted"
    if not isinstance(status, str) or status not in ROW_STATUSES:
        raise bad("status", f"is not one of {', '.join(sorted(ROW_STATUSES))}")
    hpmax = claimed.get("best_hpmax") or ""
    if hpmax != "":
        try:
            ok = math.isfinite(float(hpmax)) and not isinstance(hpmax, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise bad("best_hpmax", "is not a number")
    return {"job": job, "launched": launched, "status": status, "best_hpmax": str(hpmax)}


def check_payload_path(payload_dir: Path, runspec: str) -> Path:
    """The runspec inside the payload checkout: relative, no '..', and no symlink leading out of it."""
    p = PurePosixPath(runspec)
    if not runspec or p.is_absolute() or ".." in p.parts:
        raise LauncherError(f"runspec {runspec!r} must be a path inside the repository, without '..'")
    full = (payload_dir / runspec).resolve()
    if not full.is_relative_to(payload_dir.resolve()) or not full.is_file():
        raise LauncherError(f"runspec {runspec!r} is not a file of the payload checkout {payload_dir}",
                            hint="the record job checks the event's head commit out into the payload folder")
    return full


def trusted_row(claimed: dict, *, payload_dir: str | Path, runspec: str, target: str, origin: str,
                ledger_rel: str, source: str = "ledger-row.json") -> LedgerRow:
    """The ledger row of a launch of `runspec` at the payload's HEAD on `target`, with the artifact's job number,
    launch time, status and best hpmax. The artifact's own content hash, commit, target and runspec must agree."""
    from launcher import gitutil
    from launcher.config import load_config
    from launcher.jobs.plan import launcher_settings
    from launcher.runspec.api import resolve_file

    taken = _claimed(claimed, source)
    payload_dir = Path(payload_dir)
    path = check_payload_path(payload_dir, runspec)
    commit = gitutil.head_commit(payload_dir)
    if not commit:
        raise LauncherError(f"the payload checkout {payload_dir} has no commit")
    cfg = load_config(project=payload_dir)
    resolved = resolve_file(path, component_roots=cfg.roots_with([]))
    settings = launcher_settings(resolved.data)
    ledger_folder = PurePosixPath(ledger_rel).parent.as_posix()
    column = PurePosixPath(os.path.relpath(PurePosixPath(runspec).as_posix(), ledger_folder)).as_posix()
    hp = settings["hp_tuning"]
    row = LedgerRow(job=taken["job"], launched=taken["launched"], runspec=column,
                    content_hash=resolved.content_hash, commit=commit, target=target,
                    runs=format_runs(settings["total_runs"], settings["compute_nodes"], settings["runs_per_node"]),
                    hp_tuning=str(hp).lower() if hp is False else str(hp), status=taken["status"],
                    best_hpmax=taken["best_hpmax"], description=resolved.description, origin=origin)
    for name in ("content_hash", "commit", "target", "runspec"):
        said = claimed.get(name)
        if said not in (None, "") and LedgerRow(job=row.job, **{name: said}).to_dict()[name] != getattr(row, name):
            raise LauncherError(f"{source}: {name} {said!r} is not what {runspec} at {commit[:12]} on {target} "
                                f"gives ({getattr(row, name)!r}); the row was not recorded",
                                hint="the launch result does not belong to this runspec, commit and target")
    return row
