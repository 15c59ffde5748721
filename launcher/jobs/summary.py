"""A job's running summary, kept up to date as its runs change, so watching a job costs O(changes), not O(runs).

    jobs/<job>/summary.json  {"version", "job", "counts": {state: runs}, "best_hpmax", "iters",
                              "running": {run: fraction done}, "stage_iterations", "changes", "changed"}

The store folds every write of a child's run.json into it (store/local.py under the job's lock, store/
azure_blob.py with an ETag compare-and-swap): the change is the difference between what the record replaced
counted and what the new one counts, so a write that changes nothing counted here (a heartbeat, a console tail)
costs no summary write. What is counted:

* counts by status; a child with no record yet (implied by the plan) is queued;
* best_hpmax: the best hpmax over completed runs only (the hpmax rule, tests/jobs/test_hpmax_rule.py);
* iters: the iterations the ended runs reported, summed;
* running: each running run's fraction done (3 decimals), for the progress bar.

A job launched before summaries existed has none: the first reader computes it from the run records once and
writes it (ensure()). A finished job's summary never changes: finish_job copies it into job.json, and readers
that see a final job.json read nothing else.
"""

from __future__ import annotations

import json

from launcher.jobs import records as R

SUMMARY = "summary.json"
VERSION = 1


def summary_key(job: str) -> str:
    return R.job_key(job, SUMMARY)


def run_fraction(run: dict, stage_iterations: list | None) -> float:
    """How far a running run has got (0..1): the stages before its current one, plus its last reported
    iteration of the current one, over all its stages' max_iterations. 0 when that is not known."""
    iters, stage = run.get("iters"), run.get("stage")
    if not stage_iterations or not isinstance(iters, int) or not isinstance(stage, int) or stage < 1:
        return 0.0
    total = sum(stage_iterations)
    if total <= 0:
        return 0.0
    before = sum(stage_iterations[:stage - 1])
    current = min(iters, stage_iterations[stage - 1]) if stage <= len(stage_iterations) else 0
    return max(0.0, min(0.999, (before + current) / total))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _counted(rec: dict | None, stage_iterations) -> tuple:
    """(status, hpmax, iters, fraction): what one child's record adds to the summary."""
    status = (rec or {}).get("status") or R.QUEUED
    hpmax = rec.get("hpmax") if status == R.COMPLETED and _number(rec.get("hpmax")) else None
    iters = rec.get("iters") if status in R.FINAL_STATES and _number(rec.get("iters")) else 0
    fraction = round(run_fraction(rec, stage_iterations), 3) if status == R.RUNNING else None
    return status, hpmax, iters, fraction


def empty(job: str, stage_iterations=None) -> dict:
    return {"version": VERSION, "job": job, "counts": {s: 0 for s in R.RUN_STATES}, "best_hpmax": None,
            "iters": 0, "running": {}, "stage_iterations": stage_iterations, "changes": 0, "changed": R.now_iso()}


def from_runs(job_record: dict | None, runs: list[dict], job: str | None = None) -> dict:
    """The summary of these child records (pure; what the incremental updates must always equal)."""
    record = job_record or {}
    summary = empty(job or record.get("job") or "", record.get("stage_iterations"))
    for n, rec in enumerate(runs):
        status, hpmax, iters, fraction = _counted(rec, summary["stage_iterations"])
        summary["counts"][status] = summary["counts"].get(status, 0) + 1
        summary["iters"] += iters
        if hpmax is not None and (summary["best_hpmax"] is None or hpmax > summary["best_hpmax"]):
            summary["best_hpmax"] = hpmax
        if fraction is not None:
            summary["running"][rec.get("run") or f"#{n}"] = fraction
    return summary


class _Recompute(Exception):
    """The change took away the best hpmax: only the other runs can say what the best is now."""


def apply(summary: dict, run: str, old: dict | None, new: dict | None) -> dict | None:
    """The summary after run's record went from old to new; None when nothing it counts changed."""
    si = summary.get("stage_iterations")
    (s0, h0, i0, f0), (s1, h1, i1, f1) = _counted(old, si), _counted(new, si)
    if (s0, h0, i0, f0) == (s1, h1, i1, f1):
        return None
    out = dict(summary, counts=dict(summary["counts"]), running=dict(summary.get("running") or {}))
    out["counts"][s0] = out["counts"].get(s0, 0) - 1
    out["counts"][s1] = out["counts"].get(s1, 0) + 1
    out["iters"] = summary.get("iters", 0) + i1 - i0
    out["running"].pop(run, None)
    if f1 is not None:
        out["running"][run] = f1
    best = summary.get("best_hpmax")
    if h0 is not None and h0 == best and (h1 is None or h1 < h0):
        raise _Recompute
    if h1 is not None and (best is None or h1 > best):
        out["best_hpmax"] = h1
    out["changes"] = summary.get("changes", 0) + 1
    out["changed"] = R.now_iso()
    return out


def child_record(data: bytes | None) -> dict | None:
    """The record in run.json bytes when it is a child run's (parents are not counted), else None."""
    if not data:
        return None
    try:
        rec = json.loads(data)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not rec.get("parent") or not isinstance(rec.get("job"), str):
        return None
    return rec


def run_of_key(key: str) -> str | None:
    """'runs/run41.2/run.json' -> 'run41.2'; None for any other key."""
    if key.startswith("runs/") and key.endswith("/run.json") and key.count("/") == 2:
        return key[5:-9]
    return None


def encode(summary: dict) -> bytes:
    return (json.dumps(summary, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def fold(store, job: str, run: str, old_bytes: bytes | None, new_rec: dict, update, read_record=None) -> None:
    """Fold one run record write into the job's summary. update(key, change) is the store's atomic
    read-change-write of the summary (with the job's lock already held on the folder store). No summary yet: the
    job predates them (or its launch is still writing); the first reader computes it (ensure()). read_record():
    the run's record as the store has it now, for a store whose writers of one run are not serialised (the blob
    store: see runindex.fold); None where they are (the folder store, under the job's lock: new_rec is current)."""
    old = child_record(old_bytes)

    def change(current: bytes | None):
        if current is None:
            return None, None
        try:
            summary = json.loads(current)
            new = apply(summary, run, old, new_rec)
        except _Recompute:
            new = dict(compute(store, job), changes=summary.get("changes", 0) + 1)
        except (ValueError, KeyError, TypeError, AttributeError):  # a damaged summary: start again from the records
            new = compute(store, job)
        return (None if new is None else encode(new)), None

    if not (_counted(old, None)[:3] == _counted(new_rec, None)[:3] and (
            new_rec.get("status") != R.RUNNING
            or ((old or {}).get("iters"), (old or {}).get("stage")) == (new_rec.get("iters"), new_rec.get("stage")))):
        update(summary_key(job), change)  # else nothing counted changed (a heartbeat, a console tail): no read
    # Then the job's index of ended runs, with the same atomic update (jobs/runindex.py). After the summary: the
    # summary is folded from differences, so the shorter the time between a record's write and its fold, the
    # smaller the window in which a recompute (_Recompute) can already see a later record; the index reads the
    # run's current record itself and does not depend on when it runs.
    from launcher.jobs import runindex

    runindex.fold(job, run, old, new_rec, update, read_record=read_record)


def compute(store, job: str, job_record: dict | None = None) -> dict:
    """The summary from the run records (O(runs)): for jobs without one and after the best run was replaced."""
    from launcher.backends.base import implied_child_record
    from launcher.jobs.status import child_names, read_job

    record = job_record if job_record is not None else read_job(store, job)
    plan = None
    runs = []
    for name in child_names(store, job, record):
        rec = store.read_json(R.run_key(name))
        if rec is None:
            if plan is None:
                plan = store.read_json(R.job_key(job, "plan.json")) or {}
            rec = implied_child_record(plan, name) or {"run": name, "status": R.QUEUED}
        runs.append(rec)
    return from_runs(record, runs, job)


def start(store, job: str, job_record: dict) -> None:
    """A new job's summary, every run queued (written at launch, before any run record can change)."""
    summary = empty(job, job_record.get("stage_iterations"))
    summary["counts"][R.QUEUED] = len(job_record.get("runs") or []) or int(job_record.get("total_runs") or 0)
    store.write_bytes(summary_key(job), encode(summary))


def read(store, job: str, job_record: dict | None = None) -> dict:
    """The job's summary; computed once from the run records (and written) for a job that has none."""
    data = store.read_bytes(summary_key(job))
    if data is not None:
        try:
            summary = json.loads(data)
            if summary.get("version") == VERSION:
                return summary
        except ValueError:
            pass
    return ensure(store, job, job_record)


def ensure(store, job: str, job_record: dict | None = None) -> dict:
    """Compute and write the summary of a job that has none, under the job's lock: a run record written meanwhile
    waits for it, so no change is counted twice (the blob store has no lock: its window is one compute)."""
    result = {}

    def change(current: bytes | None):
        if current is not None:
            try:
                summary = json.loads(current)
                if summary.get("version") == VERSION:
                    result["summary"] = summary
                    return None, None
            except ValueError:
                pass
        result["summary"] = compute(store, job, job_record)
        return encode(result["summary"]), None

    with store.job_lock(job):
        store.update_locked(summary_key(job), change)
    return result["summary"]
