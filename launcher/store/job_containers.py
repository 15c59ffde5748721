"""Which blob container a key of the Azure store lives in: the store's own, or the container of one job.

Code running in a Batch job may write only that job's results (issue 11; docs/azure.md, "Jobs cannot touch each
other"). So everything a task writes lives in a container of its own job, `<store container>-<job>`, and the
task's SAS is a container SAS on that container alone; the store container keeps what tasks only read (code,
bundles, plans, runspecs, job records) and what they never see (counters, indexes). The job-scoped keys:

    runs/<run>/...                   every run record and result (run.json, console.txt, mirrored/, batch/std*.txt)
    jobs/<job>/summary.json          the job's counts, folded in by each run record write (jobs/summary.py)
    jobs/<job>/search.jsonl          an adaptive search's append log (hpsearch/assign.py); search.json, its older form
    jobs/<job>/cancel                the cancel marker: the launcher writes it, the agents poll it
    jobs/<job>/runindex/<n>.json     ended runs' sortable fields, folded in with the summary (jobs/runindex.py)

A run's job is not in its name (run41.3 is the third child of parent run41), so the launcher records, at launch,
`index/runs/<parent>` -> {"job": ...} in the store container, for every parent of the job; a run without an
index entry (written before there was one) stays in the store container.

Container names: 3 to 63 characters, lowercase letters, digits and single hyphens, starting and ending with a
letter or digit (learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-
metadata). `<container>-<job>` is one when it fits; a longer one keeps a prefix of the store's name and a hash of
all of it. A store container whose own name ends like a job container's (`-job7`) is refused: its name would be
another store's job container.
"""

from __future__ import annotations

import hashlib
import re

from launcher.diagnostics import LauncherError

MAX_NAME = 63
CONTAINER_RE = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
JOB_RE = re.compile(r"^job[1-9][0-9]*$")
_JOB_SUFFIX = re.compile(r"-job[0-9]+$")
#: the names under jobs/<job>/ that tasks write (or, the cancel marker, read): they live in the job's container
JOB_SCOPED_NAMES = frozenset({"summary.json", "search.jsonl", "search.json", "cancel"})
#: the folders under jobs/<job>/ whose objects tasks write: the run index's shards, folded in with the summary
JOB_SCOPED_FOLDERS = frozenset({"runindex"})
RUN_INDEX = "index/runs/"
_HASH_CHARS = 10


def check_store_container(container: str) -> None:
    """A store container name that job containers can be derived from without colliding (LauncherError if not)."""
    if not CONTAINER_RE.match(container or ""):
        raise LauncherError(f"{container!r} is not a valid blob container name",
                            hint="3-63 characters: lowercase letters, digits and single hyphens, starting and "
                                 "ending with a letter or digit")
    if _JOB_SUFFIX.search(container):
        raise LauncherError(f"store container {container!r} ends like a job's results container (-jobN): its name "
                            "could be the results container of another store's job",
                            hint="rename the container (e.g. drop the -jobN ending); each job's results go to "
                                 "'<container>-<job>'")


def job_container_name(container: str, job: str) -> str:
    """The container of `job`'s results: `<container>-<job>`, or `<prefix>-<hash of container>-<job>` when that
    would pass 63 characters. The short form never collides: the job is the name's last hyphen-separated part,
    and a store container cannot end in -jobN itself. The hashed form could, in principle, equal the short form
    of a store container literally named `<prefix>-<10 hex>`: 40 bits of sha256 make that a deliberate choice of
    name, not an accident."""
    check_store_container(container)
    if not JOB_RE.match(job or ""):
        raise LauncherError(f"{job!r} is not a job name like 'job12': no results container for it")
    name = f"{container}-{job}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(container.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    keep = MAX_NAME - len(job) - len(digest) - 2
    if keep < 1:
        raise LauncherError(f"job name {job!r} is too long for a blob container name (63 characters at most)")
    head = container[:keep].rstrip("-")
    return f"{head}-{digest}-{job}"


def run_index_key(parent: str) -> str:
    return f"{RUN_INDEX}{parent}"


def parent_of(run: str) -> str:
    """run41.3 -> run41; run41 -> run41."""
    return run.split(".", 1)[0]


def job_named_by(key: str) -> str | None:
    """The job of a jobs/<job>/<name> key whose name lives in the job's container; else None."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "jobs" or not JOB_RE.match(parts[1]):
        return None
    if (len(parts) == 3 and parts[2] in JOB_SCOPED_NAMES) or (len(parts) == 4 and parts[2] in JOB_SCOPED_FOLDERS):
        return parts[1]  # jobs/<job>/runindex/<n>.json, or the folder's prefix jobs/<job>/runindex/
    return None


def run_named_by(key: str) -> str | None:
    """The run of a runs/<run>/... key (or of a prefix that names one run completely: 'runs/run41.3/'); else None."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[0] == "runs" and parts[1]:
        return parts[1]
    return None
