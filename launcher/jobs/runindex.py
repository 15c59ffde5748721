"""A job's index of its ended runs' sortable fields, so `launcher runs JOB --sort F --last N` reads N run records,
not every one.

    jobs/<job>/runindex/<shard>.json   {"version", "runs": {run: entry}}   shard = the child's index // SHARD

An entry is the part of a run record that the runs table can sort, filter or choose by (ENTRY_FIELDS: every
field runquery.value reads). It is kept where the job summary is folded (summary.fold: the folder store under the
job's lock, the blob store with an ETag compare-and-swap per shard), and only for runs in a final state: their
records no longer change, so a run costs one shard write when it ends, and none while it runs. A run that is
queued or running has no entry, and a reader reads its record (which may also be reconciled as lost).

The rule readers rely on: an entry, when there is one, equals entry(record) of the run's current record. A run
without one (not ended, or a job launched before this index existed) is read from its record.
"""

from __future__ import annotations

import json

from launcher.jobs import records as R

VERSION = 1
SHARD = 25  # entries per shard object: a run's end rewrites ~5 KB on average; a 10,000-run job has 400 shards
PREFIX = "runindex/"
#: What runquery.value, runs_columns and check_field read of a record (elapsed: started/ended; reason:
#: status, reason, error; columns: metric_order).
ENTRY_FIELDS = ("run", "job", "status", "node", "iters", "hpmax", "exit_code", "started", "ended", "reason",
                "error", "seed", "parent", "metrics", "metric_order", "hparams", "index")


class Entry(dict):
    """A run as the index has it: enough to sort, filter and choose by, not the record itself (full() reads it)."""


def entry(rec: dict) -> dict:
    return {k: rec[k] for k in ENTRY_FIELDS if k in rec}


def shard_of(rec: dict | None) -> int | None:
    index = (rec or {}).get("index")
    return index // SHARD if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else None


def shard_key(job: str, shard: int) -> str:
    return R.job_key(job, f"{PREFIX}{shard}.json")


def _final(rec: dict | None) -> bool:
    return bool(rec) and rec.get("status") in R.FINAL_STATES


def fold(job: str, run: str, old: dict | None, new: dict, update, read_record=None) -> None:
    """Keep the run's entry equal to its record's (ended runs only). update(key, change): the store's atomic
    read-change-write, as summary.fold gets it. A write between two unfinished states touches nothing.

    read_record(): the run's record as the store has it now. The entry is made from that, inside the shard's
    atomic change, not from `new`: two writers of one run (an agent's "completed" and the launcher marking it
    lost) can fold in the opposite order to their record writes, and the shard write that commits last must
    still carry the last record. (The summary needs no such care: it folds differences, old -> new.)"""
    if not _final(old) and not _final(new):
        return
    shard = shard_of(new)
    if shard is None:
        return

    def change(current: bytes | None):
        rec = (read_record() if read_record is not None else None) or new
        want = entry(rec) if _final(rec) and shard_of(rec) == shard else None
        try:
            data = json.loads(current) if current else None
        except ValueError:
            data = None  # damaged: rebuilt from here on; runs it lost are read from their records
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("runs"), dict):
            data = {"version": VERSION, "runs": {}}
        if data["runs"].get(run) == want:
            return None, None
        if want is None:
            data["runs"].pop(run, None)
        else:
            data["runs"][run] = want
        return _encode(data), None

    update(shard_key(job, shard), change)


def _encode(data: dict) -> bytes:
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def read_entries(store, job: str) -> dict[str, Entry]:
    """Every entry of the job's index (none for a job without one)."""
    out: dict[str, Entry] = {}
    for key in store.list(R.job_key(job, PREFIX)):
        if not key.endswith(".json"):
            continue
        try:
            data = json.loads(store.read_bytes(key) or b"null")
        except ValueError:
            continue  # damaged: its runs are read from their records (and the next fold starts it again)
        if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("runs"), dict):
            for name, fields in data["runs"].items():
                # Only entries of this job's runs, named as they are filed: on Azure the shards sit in the job's
                # results container, which the job's own tasks can write (a wrong entry is read from its record)
                if (isinstance(fields, dict) and _final(fields) and fields.get("run") == name
                        and fields.get("job") == job and isinstance(name, str)):
                    out[name] = Entry(fields)
    return out


def full(store, runs: list[dict], job_of=None) -> list[dict]:
    """The runs with every Entry replaced by the run's record (as read_runs would have given it)."""
    out = []
    for r in runs:
        if isinstance(r, Entry):
            s = job_of(r["job"]) if job_of is not None else store
            rec = s.read_json(R.run_key(r["run"]))
            # a record of another job's run (an entry a task of this job forged) is not shown as this job's
            r = rec if rec and rec.get("job") == r["job"] else {"run": r["run"], "job": r["job"], "status": R.QUEUED}
        out.append(r)
    return out
