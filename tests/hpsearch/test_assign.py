"""The assignment step: atomic under racing runs (processes on the folder store), the rule for runs that fail,
restarts keeping their assignment, and a clear failure when Bayesian search lacks Optuna."""

from __future__ import annotations

import multiprocessing
import sys

import pytest
from search_sim import finish, plan_for

from launcher.hpsearch.assign import inputs, pull_assignment, read_state
from launcher.hpsearch.space import Dimension, SearchSpace
from launcher.jobs import records as R
from launcher.store.local import LocalStore

SPACE = SearchSpace("dgd", 7, [Dimension("a", list(range(8))), Dimension("b", ["x", "y", "z"], ordered=False)])


def start(store, plan, run: str) -> dict:
    rec = R.new_run_record(run=run, job=plan["job"], workspace="ws1", parent="run1", index=1, node="node0",
                           hparams={}, seed=1)
    rec["status"] = R.RUNNING
    store.write_json(R.run_key(run), rec)
    return pull_assignment(store, plan, run)


def _pull_many(root: str, names: list[str], barrier) -> None:
    store = LocalStore(root)
    plan = plan_for("job1", SPACE, 0)
    barrier.wait()
    for name in names:
        start(store, plan, name)


def test_runs_starting_at_once_in_many_processes_never_take_the_same_assignment(tmp_path):
    procs, per = 6, 5
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    barrier = ctx.Barrier(procs)
    workers = [ctx.Process(target=_pull_many, args=(str(tmp_path), [f"run1.{p * per + i + 1}" for i in range(per)],
                                                    barrier)) for p in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert all(w.exitcode == 0 for w in workers)
    entries = read_state(LocalStore(tmp_path), "job1")["assignments"]
    assert sorted(e["number"] for e in entries) == list(range(procs * per))  # each number once, none lost
    assert len({e["run"] for e in entries}) == procs * per


def test_a_failed_run_gives_no_result_and_stops_counting_as_pending(tmp_path):
    store = LocalStore(tmp_path)
    plan = plan_for("job1", SPACE, 0)
    a = start(store, plan, "run1.1")
    start(store, plan, "run1.2")
    finish(store, "run1.1", a, None, status=R.FAILED)
    start(store, plan, "run1.3")
    state = read_state(store, "job1")
    by_run = {e["run"]: e for e in state["assignments"]}
    assert by_run["run1.1"]["result"] == {"status": "failed", "hpmax": None}
    results, pending = inputs(state["assignments"], known=by_run["run1.3"]["known"], before=2)
    assert results == [] and pending == [by_run["run1.2"]["hparams"]]  # the failed one is neither


def test_a_run_started_again_keeps_its_assignment(tmp_path):
    store = LocalStore(tmp_path)
    plan = plan_for("job1", SPACE, 0)
    first = start(store, plan, "run1.1")
    finish(store, "run1.1", first, None, status=R.LOST)
    start(store, plan, "run1.2")  # notes run1.1 as lost
    assert start(store, plan, "run1.1") == first  # Batch's retry of the same run
    entry = next(e for e in read_state(store, "job1")["assignments"] if e["run"] == "run1.1")
    assert entry["restarts"] == 1 and entry["result"] is None and len(read_state(store, "job1")["assignments"]) == 2


def test_a_pull_appends_its_own_lines_and_never_rewrites_the_log(tmp_path):
    store = LocalStore(tmp_path)
    plan = plan_for("job1", SPACE, 0)
    log = tmp_path / "jobs" / "job1" / "search.jsonl"
    before = b""
    for i in range(1, 31):
        hp = start(store, plan, f"run1.{i}")
        if i % 2:
            finish(store, f"run1.{i}", hp, float(hp["a"]))
        after = log.read_bytes()
        assert after.startswith(before)  # what was there stays byte for byte: an append, not a rewrite
        grown = after[len(before):]
        # this pull's decision, plus the result it noted of the run that ended since the last pull
        assert grown.count(b"\n") <= 2 + (i == 1) and len(grown) < 600, grown
        before = after
    entries = read_state(store, "job1")["assignments"]
    assert [e["number"] for e in entries] == list(range(30))
    assert sum(e["result"] is not None for e in entries) == 15


def test_a_write_torn_by_a_crash_costs_nothing_after_it(tmp_path):
    store = LocalStore(tmp_path)
    plan = plan_for("job1", SPACE, 0)
    start(store, plan, "run1.1")
    log = tmp_path / "jobs" / "job1" / "search.jsonl"
    with open(log, "ab") as fh:
        fh.write(b'{"e":"assign","number":1,"ru')  # a pull cut short mid-write
    start(store, plan, "run1.2")
    start(store, plan, "run1.3")
    entries = read_state(store, "job1")["assignments"]
    assert [(e["number"], e["run"]) for e in entries] == [(0, "run1.1"), (1, "run1.2"), (2, "run1.3")]


def test_bayesian_without_optuna_fails_the_run_with_a_clear_message(tmp_path, monkeypatch):
    from launcher.diagnostics import LauncherError

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ModuleNotFoundError
    store = LocalStore(tmp_path)
    plan = plan_for("job1", SearchSpace("bayesian", 1, SPACE.dimensions), 0)
    with pytest.raises(LauncherError, match="needs Optuna") as err:
        start(store, plan, "run1.1")
    assert "runspec-launcher[search]" in err.value.message and "dgd" in err.value.hint
    assert read_state(store, "job1") is None  # nothing half-written
