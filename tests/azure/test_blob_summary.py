"""The job summary on the Blob store (Azurite): run records written by several store objects in parallel threads
(as agents on several nodes) keep jobs/<job>/summary.json exact: every record write is an If-Match replace, every
summary change a compare-and-swap retried when another writer was first (412)."""

from __future__ import annotations

import pytest
from blob_writers import blob_store, race

from launcher.jobs import records as R
from launcher.jobs import summary as S

pytestmark = pytest.mark.slow


def test_concurrent_writers_with_etag_conflicts_keep_the_summary_exact(azurite, monkeypatch):
    store = blob_store(azurite)
    names = [f"run1.{i}" for i in range(1, 5)]
    record = {"job": "job1", "status": R.QUEUED, "runs": names, "total_runs": 4, "stage_iterations": [10]}
    store.write_json(R.job_key("job1", "job.json"), record)
    S.start(store, "job1", record)
    for i, name in enumerate(names):
        store.write_json(R.run_key(name), R.new_run_record(run=name, job="job1", workspace="ws", parent="run1",
                                                           index=i, node="node0", hparams={}, seed=i))
    from azure.core.exceptions import ResourceModifiedError
    from azure.storage.blob import BlobClient

    conflicts = []
    real_upload = BlobClient.upload_blob

    def upload_and_count(blob, *args, **kwargs):  # count the lost races the retries absorbed
        try:
            return real_upload(blob, *args, **kwargs)
        except ResourceModifiedError:
            conflicts.append(blob.blob_name)
            raise

    monkeypatch.setattr(BlobClient, "upload_blob", upload_and_count)
    def write(w, rng):
        name = rng.choice(names)
        rec = w.read_json(R.run_key(name))
        state = rng.choice(["running", "completed", "completed", "failed", "queued"])
        rec.update(status=state, iters=rng.randint(0, 10), stage=1,
                   hpmax=round(rng.uniform(-1, 1), 3) if state == "completed" else None)
        w.write_json(R.run_key(name), rec)

    errors = race([blob_store(azurite, store.url) for _ in range(4)], write, rounds=25)
    assert not errors
    assert conflicts, "the writers never collided: the test did not exercise the compare-and-swap"
    kept = S.read(store, "job1")
    truth = S.from_runs(record, [store.read_json(R.run_key(n)) for n in names], "job1")
    assert {k: kept[k] for k in ("counts", "best_hpmax", "iters", "running")} == \
           {k: truth[k] for k in ("counts", "best_hpmax", "iters", "running")}
    assert sum(kept["counts"].values()) == 4


def test_an_old_job_on_blob_gets_its_summary_computed_once(azurite):
    from launcher.jobs.status import job_summary

    store = blob_store(azurite)
    record = {"job": "job1", "status": R.RUNNING, "runs": ["run1.1", "run1.2"], "total_runs": 2}
    store.write_json(R.job_key("job1", "job.json"), record)
    store.write_json(R.run_key("run1.1"), {"run": "run1.1", "job": "job1", "parent": "run1",
                                           "status": R.COMPLETED, "hpmax": 0.5})
    shown = job_summary(store, "job1")  # run1.2 has no record: queued, implied by the plan
    assert (shown["status"], shown["runs_done"], shown["runs_queued"], shown["best_hpmax"]) == \
           ("running", 1, 1, 0.5)
    assert store.read_json(S.summary_key("job1"))["counts"]["completed"] == 1
