"""The assignment step of an adaptive search on Blob storage (Azurite): Store.append_update extends an append
blob at the position it read (Store.update is an ETag compare-and-swap), so runs pulling at once on several
nodes never take the same assignment."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hpsearch"))
from search_sim import plan_for  # noqa: E402

from launcher.hpsearch.assign import pull_assignment, read_state, replay, with_results  # noqa: E402
from launcher.hpsearch.space import Dimension, SearchSpace  # noqa: E402
from launcher.jobs import records as R  # noqa: E402

pytestmark = pytest.mark.slow


def _store(azurite, container: str):
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    return AzureBlobStore(f"{azurite.account_url}/{container}",
                          AzureNamedKeyCredential(azurite.account_name, azurite.account_key))


def test_update_is_a_compare_and_swap(azurite):
    store = _store(azurite, f"u{uuid.uuid4().hex[:12]}")
    assert store.update("jobs/job1/x", lambda old: (b"1", old)) is None  # created (If-None-Match: *)
    calls = []

    def change(old):
        calls.append(old)
        if len(calls) == 1:  # another writer gets in between our read and our write
            _store(azurite, store.url.rsplit("/", 1)[1]).write_bytes("jobs/job1/x", b"2")
        return (old + b"+", old)

    assert store.update("jobs/job1/x", change) == b"2"  # the first attempt lost (412) and was retried
    assert calls == [b"1", b"2"] and store.read_bytes("jobs/job1/x") == b"2+"
    assert store.update("jobs/job1/x", lambda old: (None, "kept")) == "kept"  # None writes nothing
    assert store.read_bytes("jobs/job1/x") == b"2+"


def test_append_update_appends_at_the_position_it_read(azurite):
    store = _store(azurite, f"a{uuid.uuid4().hex[:12]}")
    assert store.append_update("jobs/job1/log", lambda old: (b"1\n", old)) is None  # created as an append blob
    calls = []

    def change(old):
        calls.append(old)
        if len(calls) == 1:  # another writer appends between our read and our append
            other = _store(azurite, store.url.rsplit("/", 1)[1])
            other.append_update("jobs/job1/log", lambda o: (b"2\n", None))
        return (b"3\n", old)

    assert store.append_update("jobs/job1/log", change) == b"1\n2\n"  # the first attempt lost (412), retried
    assert calls == [b"1\n", b"1\n2\n"] and store.read_bytes("jobs/job1/log") == b"1\n2\n3\n"
    assert store.append_update("jobs/job1/log", lambda old: (None, "kept")) == "kept"  # None appends nothing
    assert store.read_bytes("jobs/job1/log") == b"1\n2\n3\n"


def test_runs_pulling_at_once_on_blob_storage_never_take_the_same_assignment(azurite):
    container = f"s{uuid.uuid4().hex[:12]}"
    space = SearchSpace("dgd", 3, [Dimension("a", list(range(6))), Dimension("b", list(range(4)))])
    plan = plan_for("job1", space, 0)
    _store(azurite, container).ensure_container()
    nodes, per = 4, 4  # 4 nodes x 4 slots, each slot its own client (as each task's agent is)
    errors: list[BaseException] = []
    barrier = threading.Barrier(nodes * per)

    def slot(n: int) -> None:
        try:
            store = _store(azurite, container)
            run = f"run1.{n + 1}"
            rec = R.new_run_record(run=run, job="job1", workspace="ws1", parent="run1", index=n + 1,
                                   node=f"node{n // per}", hparams={}, seed=n)
            rec["status"] = R.RUNNING
            store.write_json(R.run_key(run), rec)
            barrier.wait()
            hp = pull_assignment(store, plan, run)
            rec.update(status=R.COMPLETED, hparams=hp, hpmax=float(hp["a"] - hp["b"]), ended=R.now_iso())
            store.write_json(R.run_key(run), rec)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=slot, args=(n,)) for n in range(nodes * per)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    store = _store(azurite, container)
    state = read_state(store, "job1")
    assert sorted(e["number"] for e in state["assignments"]) == list(range(nodes * per))
    assert sorted(e["run"] for e in state["assignments"]) == sorted(f"run1.{n + 1}" for n in range(nodes * per))
    for e in state["assignments"]:
        assert store.read_json(R.run_key(e["run"]))["hparams"] == e["hparams"]
    assert replay(with_results(store, state)) == []
