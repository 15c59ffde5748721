"""Reading a job's state back from the store: its runs, its summary, and the detection of lost runs.

Works on any store and needs no backend, so `launcher ledger refresh` can call job_summary(store, job).
A run whose agent died cannot say so itself: a run left "running" with a stale heartbeat, or whose local
supervisor process is gone, is marked lost here when someone looks.
"""

from __future__ import annotations

import time

from launcher.jobs import records as R
from launcher.jobs import summary as S
from launcher.jobs.summary import run_fraction  # noqa: F401 - the progress rule's old home

# An agent refreshes its heartbeat every few seconds; this much silence means it is gone.
LOST_AFTER_SECONDS = 120.0
#: A follower looks for lost runs (a dead supervisor or agent) this often, not at every poll.
RECONCILE_EVERY = 5.0


def read_job(store, job: str) -> dict | None:
    return store.read_json(R.job_key(job, "job.json"))


def child_names(store, job: str, job_record: dict | None = None) -> list[str]:
    record = job_record if job_record is not None else read_job(store, job)
    if record and record.get("runs"):
        return list(record["runs"])
    plan = store.read_json(R.job_key(job, "plan.json")) or {}
    return [c["name"] for c in plan.get("children", [])]


def read_runs(store, job: str, *, reconcile_lost: bool = True, last: int | None = None,
              indexed: bool = False) -> list[dict]:
    """The child runs of a job (run.json each), in run order; runs whose agent is gone are marked lost first.
    last: only the last `last` runs in run order are read (`launcher runs JOB --last N`). indexed: an ended run
    the job's index holds comes as its runindex.Entry (its sortable fields) instead of its record: what
    `runs --sort F --last N` sorts and filters before it reads the N records it shows (runindex.full)."""
    record = read_job(store, job)
    if reconcile_lost:
        refresh = getattr(store, "refresh_job", None)
        if refresh is not None:  # a backend that knows more than the store (Azure Batch) folds it in first
            refresh(job)
            record = read_job(store, job)
    names = child_names(store, job, record)
    if last is not None:
        names = sorted(names, key=R.run_sort_key)[-last:] if last > 0 else []
    if indexed:
        from launcher.jobs import runindex

        entries = runindex.read_entries(store, job)
    else:
        entries = {}
    out = []
    for name in names:
        rec = entries.get(name) or store.read_json(R.run_key(name))
        out.append(rec if rec else {"run": name, "job": job, "status": R.QUEUED})
    if reconcile_lost and record and record.get("status") not in R.FINAL_STATES + (R.REMOVED,):
        if _reconcile_runs(store, job, out):  # it marks runs that had not ended: entries stay as they are
            out = [r if r.get("run") in entries else store.read_json(R.run_key(r["run"])) or r for r in out]
    return sorted(out, key=lambda r: R.run_sort_key(r["run"]))


def failed_runs(store, job: str, *, limit: int) -> list[dict]:
    """The first `limit` failed or lost runs in run order: reads records only until it has them."""
    out = []
    for name in sorted(child_names(store, job), key=R.run_sort_key):
        rec = store.read_json(R.run_key(name))
        if rec and rec.get("status") in (R.FAILED, R.LOST):
            out.append(rec)
            if len(out) >= limit:
                break
    return out


def mark_unfinished(store, job: str, status: str, reason: str) -> list[str]:
    """Give every run that has not ended the final `status`; returns their names."""
    changed = []
    plan = None
    for name in child_names(store, job):
        rec = store.read_json(R.run_key(name))
        if rec is None:  # a child whose record is still implied by the plan (not started)
            if plan is None:
                plan = store.read_json(R.job_key(job, "plan.json")) or {}
            from launcher.backends.base import implied_child_record

            rec = implied_child_record(plan, name)
        if rec is None or rec.get("status") in R.FINAL_STATES:
            continue
        rec["status"] = status
        rec["ended"] = R.now_iso()
        rec["error"] = rec.get("error") or reason
        store.write_json(R.run_key(name), rec)
        changed.append(name)
    finish_job(store, job)
    return changed


def _supervisor_gone(store, job: str) -> bool:
    sup = store.read_json(R.job_key(job, "supervisor.json"))
    if not sup or sup.get("finished"):
        return False
    if sup.get("host") == R.hostname() and not R.pid_alive(sup.get("pid")):
        return True
    beat = R.parse_iso(sup.get("heartbeat"))
    return beat is not None and time.time() - beat > LOST_AFTER_SECONDS


def reconcile(store, job: str) -> list[str]:
    """Mark runs lost whose agent is gone; returns the runs that changed."""
    before = {r["run"]: r.get("status") for r in read_runs(store, job, reconcile_lost=False)}
    after = read_runs(store, job)
    return [r["run"] for r in after if before.get(r["run"]) != r.get("status")]


def _reconcile_runs(store, job: str, runs: list[dict], *, check_supervisor: bool = False) -> bool:
    """Given the job's (unfinished) runs as read: mark lost what lost its agent; True when something changed."""
    if not check_supervisor and not any(r.get("status") in (R.QUEUED, R.RUNNING) for r in runs):
        return False
    if _supervisor_gone(store, job):
        return bool(mark_unfinished(store, job, R.LOST, "the job's supervisor process is gone"))
    lost = False
    for rec in runs:
        if rec.get("status") != R.RUNNING:
            continue
        dead_here = rec.get("host") == R.hostname() and rec.get("agent_pid") and not R.pid_alive(rec["agent_pid"])
        beat = R.parse_iso(rec.get("heartbeat"))
        stale = beat is not None and time.time() - beat > LOST_AFTER_SECONDS
        if dead_here or stale:
            fresh = store.read_json(R.run_key(rec["run"])) or rec
            if fresh.get("status") != R.RUNNING:  # it ended while we looked
                continue
            fresh.update(status=R.LOST, ended=R.now_iso(), error="the run's agent stopped reporting")
            store.write_json(R.run_key(rec["run"]), fresh)
            lost = True
    if lost:
        finish_job(store, job)
    return lost


def completed_hpmaxes(runs: list[dict]) -> list[float]:
    """The hpmax of each completed run: a run that was cancelled, failed or lost has none (a record written
    before that rule may still carry the raw last value of a metric: it is ignored)."""
    return [r["hpmax"] for r in runs if r.get("status") == R.COMPLETED
            and isinstance(r.get("hpmax"), (int, float)) and not isinstance(r.get("hpmax"), bool)]


def parent_status(children: list[dict]) -> str:
    """A parent run's final state from its children's: completed only when every child completed; cancelled
    when one was cancelled; failed otherwise (a node whose runs all crashed did not complete)."""
    states = [c.get("status") for c in children]
    if states and all(s == R.COMPLETED for s in states):
        return R.COMPLETED
    if R.CANCELLED in states:
        return R.CANCELLED
    return R.FAILED


def summarize(job_record: dict | None, runs: list[dict], *, cancel_requested: bool = False) -> dict:
    """The job's status from its runs (pure)."""
    return view(job_record, S.from_runs(job_record, runs), cancel_requested=cancel_requested)


def view(job_record: dict | None, summary: dict, *, cancel_requested: bool = False) -> dict:
    """The job's status from its summary's counts (jobs/summary.py): what `status`, `jobs` and the follower show."""
    counts = {s: 0 for s in R.RUN_STATES}
    counts.update(summary.get("counts") or {})
    known = sum(counts.values())
    total = known or (job_record or {}).get("total_runs", 0)
    done = sum(counts[s] for s in R.FINAL_STATES)
    status = (job_record or {}).get("status", R.QUEUED)
    if status not in (R.SUBMITTING, R.REMOVED):
        if known and done == known:
            if counts[R.CANCELLED] or cancel_requested:
                status = R.CANCELLED
            elif counts[R.COMPLETED] == known:
                status = R.COMPLETED
            else:
                status = R.FAILED
        elif counts[R.RUNNING] or done:
            status = R.RUNNING
        else:
            status = R.QUEUED
    return {
        "job": (job_record or {}).get("job"), "status": status, "runs_total": total, "runs_done": done,
        "progress": round(done + sum((summary.get("running") or {}).values()), 3),
        "runs_completed": counts[R.COMPLETED], "runs_running": counts[R.RUNNING], "runs_queued": counts[R.QUEUED],
        "runs_failed": counts[R.FAILED] + counts[R.LOST], "runs_cancelled": counts[R.CANCELLED],
        "best_hpmax": summary.get("best_hpmax"),
    }


def job_summary(store, job_name: str, *, check_lost: bool = True, record: dict | None = None) -> dict:
    """dict(status, best_hpmax, runs_done, runs_total, …) of a job; status 'unknown' if the store has no such job.

    Reads job.json and the job's summary (and the records of its running runs, to spot lost ones), never every
    run record: a finished job carries its final summary in job.json, and that is all that is read.
    check_lost=False skips the look for lost runs (a follower does it every RECONCILE_EVERY seconds); record: the
    job.json a follower read a moment ago (at 10,000 runs it is 100+ KB of run names: not parsed every poll)."""
    if record is None or record.get("status") in R.FINAL_STATES + (R.REMOVED, R.SUBMITTING):
        record = read_job(store, job_name)
    if record is None:
        return {"job": job_name, "status": "unknown", "runs_total": 0, "runs_done": 0, "best_hpmax": None}
    # A store opened by a cloud backend (Azure Batch) carries refresh_job: it folds in what only the service
    # knows (a quota keeping the job waiting, tasks that failed before their agent started, a held pool).
    refresh = getattr(store, "refresh_job", None)
    extra = refresh(job_name) if refresh is not None and record.get("status") != R.REMOVED else {}
    if _final_summary(record) is None:
        counts = S.read(store, job_name, record)
        if check_lost and record.get("status") != R.REMOVED and _reconcile_live(store, job_name, counts):
            record = read_job(store, job_name) or record
            counts = _final_summary(record) or S.read(store, job_name, record)
    final = _final_summary(record)
    if final is not None:
        summary = view(record, final, cancel_requested=bool(final.get("cancel_requested")))
    else:
        summary = view(record, counts, cancel_requested=store.exists(R.job_key(job_name, "cancel")))
        if summary["status"] in R.FINAL_STATES and record.get("status") not in (R.SUBMITTING, R.REMOVED):
            record = read_job(store, job_name) or record  # the supervisor may have settled it already
            if _final_summary(record) is None:
                finish_job(store, job_name)  # every run ended: settle job.json once, so later reads stop here
                record = read_job(store, job_name) or record
            if _final_summary(record) is not None:
                summary = view(record, _final_summary(record),
                               cancel_requested=bool(_final_summary(record).get("cancel_requested")))
    summary["job"] = summary.get("job") or job_name  # a record written half-way still says whose it is
    summary.update({k: record.get(k) for k in ("created", "runspec", "target", "description", "ended")})
    if extra:
        if extra.get("waiting") and summary["status"] == R.QUEUED:
            summary["status"] = extra["waiting"]  # e.g. "waiting: quota (AccountCoreQuotaReached)"
        summary.update({k: v for k, v in extra.items() if k != "waiting"})
    return summary


def _final_summary(record: dict) -> dict | None:
    """The summary finish_job left in a finished job's job.json (None while the job runs, or for a job that
    finished before summaries existed: job_summary settles that one once)."""
    final = record.get("summary")
    if record.get("status") in R.FINAL_STATES and isinstance(final, dict) and final.get("version") == S.VERSION:
        return final
    return None


def _reconcile_live(store, job: str, summary: dict) -> bool:
    """Mark lost what lost its agent, reading only the records of the running runs; True when something changed."""
    counts = summary.get("counts") or {}
    if not counts.get(R.QUEUED) and not counts.get(R.RUNNING):
        return False
    running = [store.read_json(R.run_key(name)) or {"run": name} for name in (summary.get("running") or {})]
    return _reconcile_runs(store, job, running, check_supervisor=True)


def finish_job(store, job: str) -> None:
    """Write the final status into job.json once every run has ended (the ledger reads it from there)."""
    record = read_job(store, job)
    if not record or record.get("status") in (R.SUBMITTING, R.REMOVED):
        return
    runs = [store.read_json(R.run_key(n)) or {"status": R.QUEUED} for n in child_names(store, job, record)]
    cancel_requested = store.exists(R.job_key(job, "cancel"))
    counts = S.from_runs(record, runs, job)
    summary = view(record, counts, cancel_requested=cancel_requested)
    if summary["status"] in R.FINAL_STATES and (record.get("status") != summary["status"]
                                               or _final_summary(record) is None):
        # The final summary goes into job.json: readers of a finished job read nothing else.
        record.update(status=summary["status"], ended=record.get("ended") or R.now_iso(),
                      best_hpmax=summary["best_hpmax"], summary=dict(counts, cancel_requested=cancel_requested))
        store.write_json(R.job_key(job, "job.json"), record)
        # Parent runs (one per node) end with their children: completed if all of theirs did.
        by_name = dict(zip(child_names(store, job, record), runs))
        for parent in record.get("parents") or []:
            prec = store.read_json(R.run_key(parent))
            if not prec or prec.get("status") in R.FINAL_STATES:
                continue
            mine = [by_name.get(c, {}) for c in prec.get("children") or []]
            prec.update(status=parent_status(mine) if mine else summary["status"], ended=R.now_iso())
            store.write_json(R.run_key(parent), prec)


def list_jobs(store) -> list[str]:
    names = {key.split("/")[1] for key in store.list("jobs/") if key.endswith("/job.json")}
    return sorted(names, key=R.job_number)


def find_run(store, run: str) -> dict | None:
    """run.json of a run named 'run41.2' or 'ws1/run41.2'."""
    return store.read_json(R.run_key(run.split("/")[-1]))


def wait_for_job(store, job: str, *, poll: float = 0.5, on_update=None, timeout: float | None = None) -> dict:
    """Poll the job until it reaches a final state (or timeout); returns its last summary."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last_check = None
    record = None
    while True:
        # A poll reads the summary; job.json and the running runs' records (to spot lost ones) less often.
        check = last_check is None or time.monotonic() - last_check >= RECONCILE_EVERY
        if check:
            last_check = time.monotonic()
            record = read_job(store, job)
        summary = job_summary(store, job, check_lost=check, record=record)
        if on_update:
            on_update(summary)
        if summary["status"] in R.FINAL_STATES + (R.REMOVED, "unknown"):
            return summary
        if deadline is not None and time.monotonic() > deadline:
            return summary
        time.sleep(poll)
