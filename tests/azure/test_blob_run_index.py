"""The index of ended runs on the Blob store (Azurite): record writes of several store objects in parallel threads
(agents on several nodes) keep every shard's entries equal to the records they index (each shard change an
ETag compare-and-swap, retried when another writer was first), and the indexed read of a job sorts to the same
runs as reading every record."""

from __future__ import annotations

import pytest
from blob_writers import blob_store, race

from launcher.jobs import records as R
from launcher.jobs import runindex, runquery
from launcher.jobs import summary as S
from launcher.jobs.status import read_runs

pytestmark = pytest.mark.slow


def test_concurrent_writers_keep_the_index_equal_to_the_records(azurite):
    store = blob_store(azurite)
    names = [f"run1.{i}" for i in range(1, 7)]
    record = {"job": "job1", "status": R.COMPLETED, "runs": names, "total_runs": len(names)}
    store.write_json(R.job_key("job1", "job.json"), record)
    S.start(store, "job1", record)
    for i, name in enumerate(names):  # indexes 0 and 60..: two shards
        store.write_json(R.run_key(name), R.new_run_record(run=name, job="job1", workspace="ws", parent="run1",
                                                           index=i if i < 3 else 60 + i, node="node0",
                                                           hparams={"lr": i / 10}, seed=i))
    def write(w, rng):
        name = rng.choice(names)
        rec = w.read_json(R.run_key(name))
        state = rng.choice(["running", "completed", "completed", "failed", "cancelled"])
        rec.update(status=state, iters=rng.randint(0, 10), metrics={"s1-rew": rng.random()},
                   hpmax=round(rng.uniform(-1, 1), 3) if state == "completed" else None)
        w.write_json(R.run_key(name), rec)

    errors = race([blob_store(azurite, store.url) for _ in range(4)], write, rounds=20)
    assert not errors
    assert len(store.list(R.job_key("job1", runindex.PREFIX))) == 2
    entries = runindex.read_entries(store, "job1")
    for name in names:
        rec = store.read_json(R.run_key(name))
        if rec["status"] in R.FINAL_STATES:
            assert entries[name] == runindex.entry(rec), name
        else:
            assert name not in entries, name
    everything = read_runs(store, "job1")
    indexed = read_runs(store, "job1", indexed=True)
    for field in ("hpmax", "s1-rew", "lr", "status"):
        for reverse in (False, True):
            want = [r["run"] for r in runquery.sort_runs(everything, field, reverse=reverse)]
            got = runquery.sort_runs(indexed, field, reverse=reverse)
            assert [r["run"] for r in got] == want
            assert runindex.full(store, got[-2:]) == runquery.sort_runs(everything, field, reverse=reverse)[-2:]
