"""Adding a job's tasks (launcher/azure/task_submit.py) against the Batch test server through the real SDK: 100
tasks per call, calls at once, and each way a call can fail (issue 11: the 10,000-run submit)."""

from __future__ import annotations

import pytest
from azure.batch import models as bm
from azure.core.exceptions import HttpResponseError

from launcher.azure.task_submit import add_tasks

pytestmark = pytest.mark.slow


def _job(server, job_id: str):
    client = server.client(retry_total=0)
    client.create_job(bm.BatchJobCreateOptions(id=job_id, pool_info=bm.BatchPoolInfo(pool_id="no-such-pool")))
    return client


def _bodies(n: int) -> list[dict]:
    return [{"id": f"run1-{i}", "commandLine": f"/bin/true {i}"} for i in range(1, n + 1)]


def _calls(server) -> list[int]:
    return [len(r.json["value"]) for r in server.requests_matching("POST", "/addtaskcollection$")]


def test_250_tasks_go_in_100_per_call_at_once_and_each_is_acknowledged(batch_server):
    client = _job(batch_server, "j1")
    outcome = add_tasks(client, "j1", _bodies(250), concurrency=3)
    assert (outcome.refused, outcome.not_added, outcome.errors) == ([], [], [])
    assert sorted(_calls(batch_server)) == [50, 100, 100]
    assert sorted(t["id"] for t in batch_server.service.list_tasks("j1")) == sorted(b["id"] for b in _bodies(250))
    assert batch_server.requests_matching("GET", "/tasks$") == []  # no listing to check: the answers tell


def test_a_body_too_large_is_split_and_a_half_done_dropped_call_is_sent_again(batch_server):
    client = _job(batch_server, "j2")
    batch_server.faults.add("POST", "/addtaskcollection$", 413, "RequestBodyTooLarge")
    batch_server.faults.add("POST", "/addtaskcollection$", partial=30, drop_connection=True)
    outcome = add_tasks(client, "j2", _bodies(100), concurrency=1)
    assert (outcome.refused, outcome.not_added) == ([], [])
    assert batch_server.faults.pending == []
    assert _calls(batch_server)[:2] == [100, 50]  # refused whole, then halves; the first half dropped after 30
    tasks = batch_server.service.list_tasks("j2")
    assert len(tasks) == 100 and len({t["id"] for t in tasks}) == 100  # the re-sent 30 were TaskExists


def test_a_call_refused_whole_is_reported_with_the_tasks_it_held(batch_server):
    client = _job(batch_server, "j3")
    bodies = _bodies(150)
    del bodies[120]["commandLine"]  # malformed: Batch refuses the whole call of 100 (400)
    outcome = add_tasks(client, "j3", bodies, concurrency=2)
    assert outcome.not_added == [b["id"] for b in bodies[100:]]
    assert isinstance(outcome.errors[0], HttpResponseError) and outcome.errors[0].status_code == 400
    assert outcome.errors[0].error.code  # Batch's own code and message reach the launch's error
    assert len(batch_server.service.list_tasks("j3")) == 100


def test_a_service_that_keeps_failing_leaves_the_tasks_not_added_after_a_few_tries(batch_server):
    client = _job(batch_server, "j4")
    batch_server.faults.add("POST", "/addtaskcollection$", 503, times=None)
    outcome = add_tasks(client, "j4", _bodies(10), concurrency=1)
    assert len(outcome.not_added) == 10 and outcome.errors
    assert len(_calls(batch_server)) == 4  # CHUNK_ATTEMPTS
    assert batch_server.service.list_tasks("j4") == []
