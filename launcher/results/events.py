"""TensorBoard event files of jobs' runs, fetched from the store (local or Azure) into a cache folder laid out
<cache>/<job>/<run>/<path under the run's results>, so one TensorBoard shows every run, named by job and run."""

from __future__ import annotations

from pathlib import Path

from launcher.jobs import records as R

EVENT_MARK = "tfevents"  # TensorBoard event files are named events.out.tfevents.<time>.<host>...


def fetch_event_files(store, job: str, runs: list[dict], cache: Path) -> int:
    """Copy every event file of the runs into the cache (again when it changed: a running run's grows);
    returns how many the cache holds for them."""
    count = 0
    for r in runs:
        prefix = R.run_key(r["run"], "mirrored/")
        for key in store.list(prefix):
            rel = key[len(prefix):]
            if EVENT_MARK not in rel.rsplit("/", 1)[-1] or ".." in rel.split("/"):
                continue
            dest = cache / job / r["run"] / rel
            data = store.read_bytes(key)
            if data is None:
                continue
            if not dest.is_file() or dest.stat().st_size != len(data):
                from launcher.fsutil import atomic_write

                atomic_write(dest, data)
            count += 1
    return count
