"""The job summary (launcher/jobs/summary.py): kept by the store as run records change, equal at every moment to
the summary computed from the records themselves, also when several processes write records of one job at once;
computed once for a job launched before summaries existed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from launcher.jobs import records as R
from launcher.jobs import summary as S
from launcher.jobs.status import job_summary, summarize
from launcher.store.local import LocalStore

REPO = Path(__file__).resolve().parents[2]
STAGES = [10, 10]

# One writer: random transitions of randomly chosen runs of job1 (the same runs as the other writers), the
# way agents, supervisors and `cancel` write them: read the record, change it, write it back.
WRITER = r"""
import os, random, sys, time
from launcher.jobs import records as R
from launcher.store.local import LocalStore
store, seed, runs = LocalStore(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
while not os.path.exists(sys.argv[5]):  # start together: the writes overlap
    time.sleep(0.01)
for _ in range(int(sys.argv[4])):
    name = f"run1.{rng.randint(1, runs)}"
    rec = store.read_json(R.run_key(name))
    state = rng.choice(["running", "running", "completed", "completed", "failed", "queued", "lost"])
    rec.update(status=state, iters=rng.randint(0, 10), stage=rng.randint(1, 2),
               hpmax=round(rng.uniform(-1, 1), 4) if state == "completed" else rng.choice([None, 0.5]))
    store.write_json(R.run_key(name), rec)
"""


def _new_job(store, runs: int, *, summary: bool = True) -> dict:
    names = [f"run1.{i}" for i in range(1, runs + 1)]
    record = {"job": "job1", "status": R.QUEUED, "runs": names, "parents": ["run1"], "total_runs": runs,
              "stage_iterations": STAGES}
    store.write_json(R.job_key("job1", "job.json"), record)
    if summary:
        S.start(store, "job1", record)
    store.write_json(R.run_key("run1"), {"run": "run1", "job": "job1", "parent": None, "status": R.QUEUED,
                                         "children": names})
    for i, name in enumerate(names):
        store.write_json(R.run_key(name), R.new_run_record(run=name, job="job1", workspace="ws", parent="run1",
                                                           index=i, node="node0", hparams={}, seed=i))
    return record


def _counted(summary: dict) -> dict:
    return {k: summary[k] for k in ("counts", "best_hpmax", "iters", "running")}


def _from_records(store, record) -> dict:
    return S.from_runs(record, [store.read_json(R.run_key(n)) for n in record["runs"]], "job1")


def test_concurrent_writers_in_several_processes_keep_the_summary_exact(tmp_path):
    store = LocalStore(tmp_path / "store")
    record = _new_job(store, 6)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store.root), str(seed), "6", "300", str(go)],
                              cwd=REPO) for seed in range(4)]
    time.sleep(0.5)
    go.write_text("")
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    kept = S.read(store, "job1")
    assert kept["changes"] > 0 and kept["counts"]["queued"] < 6  # the writers changed it
    assert _counted(kept) == _counted(_from_records(store, record))
    assert sum(kept["counts"].values()) == 6


def test_the_best_hpmax_is_recomputed_when_its_run_stops_being_completed(tmp_path):
    store = LocalStore(tmp_path / "store")
    record = _new_job(store, 3)
    for name, hp in (("run1.1", 0.9), ("run1.2", 0.4)):
        store.write_json(R.run_key(name), dict(store.read_json(R.run_key(name)), status=R.COMPLETED, hpmax=hp))
    assert S.read(store, "job1")["best_hpmax"] == 0.9
    # A run that ended failed carries no hpmax, whatever its record says (the hpmax rule)
    store.write_json(R.run_key("run1.3"), dict(store.read_json(R.run_key("run1.3")), status=R.FAILED, hpmax=5))
    assert S.read(store, "job1")["best_hpmax"] == 0.9
    store.write_json(R.run_key("run1.1"), dict(store.read_json(R.run_key("run1.1")), status=R.QUEUED))
    assert S.read(store, "job1")["best_hpmax"] == 0.4
    assert _counted(S.read(store, "job1")) == _counted(_from_records(store, record))


def test_a_heartbeat_writes_no_summary(tmp_path):
    store = LocalStore(tmp_path / "store")
    _new_job(store, 2)
    rec = dict(store.read_json(R.run_key("run1.1")), status=R.RUNNING, iters=3, stage=1)
    store.write_json(R.run_key("run1.1"), rec)
    before = S.read(store, "job1")
    assert before["running"] == {"run1.1": 0.15}
    store.write_json(R.run_key("run1.1"), dict(rec, heartbeat=R.now_iso(), console_tail="step 4\n"))
    assert S.read(store, "job1") == before


def test_status_from_the_summary_equals_status_from_the_records(tmp_path):
    store = LocalStore(tmp_path / "store")
    record = _new_job(store, 4)
    updates = [(R.COMPLETED, 0.2, 10, 2), (R.RUNNING, None, 4, 2), (R.FAILED, None, 3, 1), (R.QUEUED, None, None, None)]
    for i, (state, hp, iters, stage) in enumerate(updates, 1):
        name = f"run1.{i}"
        store.write_json(R.run_key(name), dict(store.read_json(R.run_key(name)), status=state, hpmax=hp,
                                               iters=iters, stage=stage))
    runs = [store.read_json(R.run_key(n)) for n in record["runs"]]
    shown = job_summary(store, "job1")
    assert {k: shown[k] for k in summarize(record, runs)} == {**summarize(record, runs), "job": "job1"}
    assert shown["progress"] == 2.7 and shown["runs_running"] == 1 and shown["best_hpmax"] == 0.2


def test_a_job_without_a_summary_is_computed_once_then_read_from_job_json(tmp_path):
    store = LocalStore(tmp_path / "store")
    _new_job(store, 3, summary=False)  # launched before summaries existed
    for i, hp in ((1, 0.1), (2, 0.3), (3, None)):
        name = f"run1.{i}"
        store.write_json(R.run_key(name), dict(store.read_json(R.run_key(name)),
                                               status=R.COMPLETED if hp is not None else R.FAILED, hpmax=hp))
    assert store.read_bytes(S.summary_key("job1")) is None
    first = job_summary(store, "job1")
    assert (first["status"], first["runs_done"], first["runs_failed"], first["best_hpmax"]) == ("failed", 3, 1, 0.3)
    settled = store.read_json(R.job_key("job1", "job.json"))
    assert settled["status"] == "failed" and settled["summary"]["counts"]["completed"] == 2
    # A finished job's summary is final: its runs' records are not read again.
    for name in settled["runs"]:
        store.delete(R.run_key(name))
    store.delete(S.summary_key("job1"))
    assert job_summary(store, "job1") == first


def test_a_running_job_without_a_summary_gets_one_that_then_follows_changes(tmp_path):
    store = LocalStore(tmp_path / "store")
    record = _new_job(store, 2, summary=False)
    store.write_json(R.run_key("run1.1"), dict(store.read_json(R.run_key("run1.1")), status=R.RUNNING))
    assert store.read_bytes(S.summary_key("job1")) is None  # nothing to fold into yet
    assert job_summary(store, "job1")["runs_running"] == 1
    assert json.loads(store.read_bytes(S.summary_key("job1")))["counts"]["running"] == 1
    store.write_json(R.run_key("run1.1"), dict(store.read_json(R.run_key("run1.1")), status=R.COMPLETED,
                                               hpmax=0.7))
    assert _counted(S.read(store, "job1")) == _counted(_from_records(store, record))
    assert job_summary(store, "job1")["best_hpmax"] == 0.7


def test_a_damaged_summary_is_computed_again(tmp_path):
    store = LocalStore(tmp_path / "store")
    record = _new_job(store, 2)
    store.write_bytes(S.summary_key("job1"), b"{not json")
    store.write_json(R.run_key("run1.2"), dict(store.read_json(R.run_key("run1.2")), status=R.RUNNING))
    assert _counted(S.read(store, "job1")) == _counted(_from_records(store, record))
