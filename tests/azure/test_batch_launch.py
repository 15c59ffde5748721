"""`launcher launch` on an azure-batch target, end to end: the Batch test server runs the tasks as local
processes, Azurite holds the store. Real git projects, the CLI as real processes."""

from __future__ import annotations

import json
import time

import pytest

from tests.azure.azure_backend_support import make_project, tiny_runspec

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, batch_server, azurite):
    return make_project(tmp_path / "experiments", batch_server, azurite)


def _job_body(server) -> dict:
    return next(r.json for r in server.requests_matching("POST", r"^/jobs$") if r.status == 201)


def test_walk_through_runs_20_runs_on_batch_with_results_in_blob(project, batch_server):
    proc = project.cli("launch", "runspecs/xt_walk_through.yaml", check=True, timeout=300)
    # The cost estimate comes before anything is submitted: 5 Spot nodes × the 30 min limit × $0.02.
    assert proc.stdout.splitlines()[0] == ("estimated cost: up to $0.05 for 2.5 node-hours at $0.02 per node-hour "
                                           "(5 spot nodes × the 0.5 h wall-clock limit)")
    assert proc.stdout.splitlines()[1].startswith("job1, target: azb-cpu, creating parent runs: 5/5")
    assert "job1: completed, 20/20 runs done" in proc.stdout

    # The Batch job: valid id, metadata, a Spot auto pool of 5 nodes with 4 slots each, created with no action
    # on completion and switched to terminatejob after the tasks were added.
    body = _job_body(batch_server)
    assert body["id"] == "ws1-job1" and body["onAllTasksComplete"] == "noaction"
    meta = {m["name"]: m["value"] for m in body["metadata"]}
    assert meta["launcher_job"] == "job1" and meta["runspec"] == "runspecs/xt_walk_through.yaml"
    assert len(meta["content_hash"]) >= 12 and len(meta["commit"]) == 40 and meta["origin"].startswith("local:")
    pool = body["poolInfo"]["autoPoolSpecification"]
    assert pool["keepAlive"] is False and pool["poolLifetimeOption"] == "job"
    assert pool["pool"]["targetLowPriorityNodes"] == 5 and pool["pool"]["targetDedicatedNodes"] == 0
    assert pool["pool"]["taskSlotsPerNode"] == 4 and pool["pool"]["startTask"]["waitForSuccess"] is True
    order = [(r.method, r.path) for r in batch_server.requests if r.method in ("POST", "PATCH")]
    assert order.index(("PATCH", "/jobs/ws1-job1")) > max(
        i for i, (m, p) in enumerate(order) if p.endswith("/addtaskcollection"))
    patch = next(r.json for r in batch_server.requests_matching("PATCH", r"^/jobs/ws1-job1$"))
    assert patch == {"onAllTasksComplete": "terminatejob"}
    job = batch_server.wait_for_job("ws1-job1", "completed", timeout=30)
    assert job["executionInfo"]["terminateReason"] == "AllTasksComplete"

    # One task per run, argv only, no SAS on a command line; the store SAS only in the environment.
    tasks = [t for r in batch_server.requests_matching("POST", "/addtaskcollection$") for t in r.json["value"]]
    assert sorted(t["id"] for t in tasks) == sorted(f"run{p}-{c}" for p in range(1, 6) for c in range(1, 5))
    for t in tasks:
        assert "sig=" not in t["commandLine"] and "bash" not in t["commandLine"]
        env = {e["name"]: e["value"] for e in t["environmentSettings"]}
        assert "sig=" in env["LAUNCHER_STORE_URL"] and "sp=racw" in env["LAUNCHER_STORE_URL"]
        assert all("sig=" in f["httpUrl"] and "sp=r&" in f["httpUrl"] for f in t["resourceFiles"])
        assert t["outputFiles"][0]["filePattern"] == "../std*.txt"

    # Results, metrics and consoles are in the blob store; `launcher runs` shows them.
    store = project.store()
    keys = store.list("runs/run3.2/")
    for name in ("run.json", "console.txt", "metrics.jsonl", "summary.json", "batch/stdout.txt",
                 "mirrored/walk_through/rl/Maze_Env/finetuned_policy.json"):
        assert f"runs/run3.2/{name}" in keys, name
    assert "Objective that would be maximized" in store.read_text("runs/run3.2/console.txt")
    runs = project.json("runs", "job1")["runs"]
    assert [r["run"] for r in runs] == [f"run{p}.{c}" for p in range(1, 6) for c in range(1, 5)]
    assert all(r["status"] == "completed" and isinstance(r["hpmax"], float) and "s4-rew" in r["metrics"]
               for r in runs)
    assert all(r["batch_node"].startswith("tvmps_") for r in runs)
    rows = project.ledger_rows()
    assert len(rows) == 2 and "| job1 |" in rows[1] and "| azb-cpu |" in rows[1] and "| completed |" in rows[1]
    assert "20 (5 × 4)" in rows[1]
    # No --target needed: the run is not in the local store, so the azb-cpu store is looked in, and named.
    logs = project.cli("logs", "run2.3", check=True)
    assert "All processing stages completed." in logs.stdout
    assert "run2.3: from the store of target azb-cpu" in logs.stderr
    # Nothing secret in the store's records or the CLI's output.
    assert "sig=" not in json.dumps(project.json("status", "job1")) + proc.stdout + proc.stderr
    assert not store.exists("jobs/job1/cancel")


def test_a_preempted_node_still_ends_with_20_completed_runs(project, batch_server):
    result = json.loads(project.cli("launch", "runspecs/xt_walk_through.yaml", "--detach", "--format", "json",
                                    check=True).stdout)
    assert result["status"] == "launched"
    store = project.store()

    def running() -> int:
        return sum((store.read_json(f"runs/run{p}.{c}/run.json") or {}).get("status") == "running"
                   for p in range(1, 6) for c in range(1, 5))

    deadline = time.monotonic() + 90
    while running() < 12 and time.monotonic() < deadline:  # the agents are under way on every node
        time.sleep(0.2)
    pool = batch_server.job_pool_id("ws1-job1")
    victims = batch_server.preempt_node(pool, 0)
    assert victims  # tasks were running there and go back to the queue
    batch_server.wait_for_job("ws1-job1", "completed", timeout=150)
    summary = project.wait("job1", timeout=60)
    assert summary["status"] == "completed" and summary["runs_completed"] == 20
    runs = project.json("runs", "job1")["runs"]
    again = [r for r in runs if r["run"].replace(".", "-") in victims]
    assert again and all(r["status"] == "completed" for r in again)
    assert any(r.get("attempts", 1) >= 2 for r in again)  # a run the node was running started again


def test_active_job_quota_launches_nothing_and_lists_running_jobs(project, batch_server):
    from azure.batch import models as bm

    client = batch_server.client()
    client.create_job(bm.BatchJobCreateOptions(id="someone-elses-job", pool_info=bm.BatchPoolInfo(pool_id="p")))
    project.write("runspecs/tiny.yaml", tiny_runspec())
    batch_server.faults.add("POST", r"^/jobs$", 409, "ActiveJobAndScheduleQuotaReached")
    proc = project.cli("launch", "runspecs/tiny.yaml")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "active-job quota is reached" in proc.stderr and "someone-elses-job" in proc.stderr
    assert project.ledger_rows() == []
    assert [j["id"] for j in batch_server.service.list_jobs()] == ["someone-elses-job"]
    # No job record, no run records, no index entry: `launcher jobs` does not show it.
    store = project.store()
    assert store.list("jobs/") == [] and store.list("runs/") == [] and store.list("index/") == []
    assert not store.job_container("job1").exists()  # its results container (the summary, parents) went too
    assert project.json("jobs", "--target", "azb-cpu")["jobs"] == []
    unknown = project.cli("status", "job1")
    assert unknown.returncode == 1 and "no job 'job1'" in unknown.stderr
    # The quota is back (the fault was one answer): the same content launches, with fresh numbers (job1 and
    # run1 stay used).
    assert batch_server.faults.pending == []
    again = json.loads(project.cli("launch", "runspecs/tiny.yaml", "--detach", "--format", "json", check=True).stdout)
    assert again["status"] == "launched" and again["job"] == "job2" and again["parents"] == ["run2"]
    project.wait("job2")


def test_throttling_retried_create_and_interrupted_task_submission_end_in_one_clean_job(project, batch_server):
    project.write("runspecs/tiny.yaml", tiny_runspec(total_runs=120, nodes=1, per_node=1, iters=200, report=100))
    # create_job: done, but the answer is a 503 -> the SDK retries -> JobExists -> checked and taken as created
    batch_server.faults.add("POST", r"^/jobs$", 503, after=True)
    # throttled, then a collection carried out half-way before the connection drops, then busy again
    batch_server.faults.add("POST", "/addtaskcollection$", 429, retry_after=0.05)
    batch_server.faults.add("POST", "/addtaskcollection$", partial=40, drop_connection=True)
    batch_server.faults.add("POST", "/addtaskcollection$", 503)
    proc = project.cli("launch", "runspecs/tiny.yaml", "--detach", check=True)
    assert "job1" in proc.stdout
    assert batch_server.faults.pending == []
    creates = batch_server.requests_matching("POST", r"^/jobs$")
    assert [r.status for r in creates] == [503, 409]
    tasks = batch_server.service.list_tasks("ws1-job1")
    assert len(tasks) == 120 and len({t["id"].lower() for t in tasks}) == 120  # no duplicates, none missing
    patch = batch_server.requests_matching("PATCH", r"^/jobs/ws1-job1$")
    assert [r.json for r in patch] == [{"onAllTasksComplete": "terminatejob"}]
    # One node, one slot: the first runs are under way. Cancel (no need to wait for 120 runs).
    assert project.json("cancel", "job1")["status"] == "cancelled"
    assert batch_server.wait_for_job("ws1-job1", "completed", timeout=30)["executionInfo"]["terminateReason"] == \
        "UserTerminate"


def test_quota_keeps_the_job_waiting_and_status_and_ledger_say_so(project, batch_server):
    project.write("runspecs/tiny.yaml", tiny_runspec())
    project.write("runspecs/spot.yaml", tiny_runspec(low_priority="true", total_runs=1, per_node=1))
    # Item 9: Batch completes a job whose auto pool it cannot create (before, the harness kept it active and the
    # runs stayed queued for ever). The launch says so and launches nothing.
    batch_server.faults.scheduling_error("ws1-job1")  # AutoPoolCreationFailedWithQuotaReached
    batch_server.faults.resize_error(".*", "AccountLowPriorityCoreQuotaReached", max_low_priority=0)
    refused = project.cli("launch", "runspecs/tiny.yaml", "--detach")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "Batch could not create the auto pool of ws1-job1: AutoPoolCreationFailedWithQuotaReached" in refused.stderr
    assert "core quota" in refused.stderr and project.ledger_rows() == []
    project.cli("launch", "runspecs/spot.yaml", "--detach", check=True)
    second = project.json("status", "job2")
    assert second["status"] == "waiting: quota (AccountLowPriorityCoreQuotaReached)"
    assert second["batch"]["resize_errors"] == ["AccountLowPriorityCoreQuotaReached"]
    text = project.cli("status", "job2", check=True).stdout
    assert "waiting: quota (AccountLowPriorityCoreQuotaReached)" in text
    project.cli("ledger", "refresh", check=True)
    rows = project.ledger_rows()
    assert any("| job2 |" in r and "waiting: quota (AccountLowPriorityCoreQuotaReached)" in r for r in rows)
    cancelled = project.json("cancel", "job2")
    assert cancelled["status"] == "cancelled"
    assert batch_server.service.get_job("ws1-job2")["state"] == "completed"


def test_an_auto_pool_that_fails_after_submission_fails_the_queued_runs(project, batch_server):
    # Item 9, the other order: the pool is created asynchronously and fails after the tasks are in.
    project.write("runspecs/tiny.yaml", tiny_runspec(total_runs=2, per_node=1))
    batch_server.faults.resize_error(".*", "AccountCoreQuotaReached", max_dedicated=0)
    project.cli("launch", "runspecs/tiny.yaml", "--detach", check=True)
    batch_server.fail_auto_pool("ws1-job1", "AutoPoolCreationFailedWithQuotaReached")
    summary = project.wait("job1", timeout=60)
    assert summary["status"] == "failed"
    runs = project.json("runs", "job1")["runs"]
    assert all(r["status"] == "failed" and "the auto pool could not be created: "
               "AutoPoolCreationFailedWithQuotaReached" in r["error"] for r in runs)


def test_authentication_and_configuration_problems_say_what_to_set(project, batch_server):
    project.write("runspecs/tiny.yaml", tiny_runspec())
    wrong = project.cli("launch", "runspecs/tiny.yaml", TEST_BATCH_KEY="QUFBQQ==")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "refused the credentials" in wrong.stderr and "AuthenticationFailed" in wrong.stderr
    assert project.ledger_rows() == [] and batch_server.service.list_jobs() == []
    missing = project.cli("launch", "runspecs/tiny.yaml", "--force", TEST_BATCH_ENDPOINT="")
    assert missing.returncode == 1
    assert "batch_endpoint comes from the environment variable TEST_BATCH_ENDPOINT, which is not set" in missing.stderr
    env = project.env()
    env.pop("TEST_BATCH_KEY")
    import subprocess
    import sys

    nokey = subprocess.run([sys.executable, "-m", "launcher", "launch", "runspecs/tiny.yaml", "--force"],
                           cwd=project.root, env=env, capture_output=True, text=True, timeout=120)
    assert nokey.returncode == 1 and "environment variable TEST_BATCH_KEY is not set" in nokey.stderr
    assert batch_server.key not in wrong.stderr + missing.stderr + nokey.stderr
    assert project.ledger_rows() == []


def test_hold_keeps_the_pool_until_pool_delete(project, batch_server):
    project.write("runspecs/held.yaml", tiny_runspec(hold="true", total_runs=2))
    project.cli("launch", "runspecs/held.yaml", check=True)
    body = _job_body(batch_server)
    assert body["poolInfo"]["autoPoolSpecification"]["keepAlive"] is True
    batch_server.wait_for_job("ws1-job1", "completed", timeout=60)
    pool = batch_server.job_pool_id("ws1-job1")
    assert [p["id"] for p in batch_server.service.list_pools()] == [pool]
    status = project.json("status", "job1")
    assert status["status"] == "completed" and status["batch"]["hold"] is True
    assert "launcher pool delete job1" in status["note"]
    listed = project.json("pool", "list")["pools"]
    assert [(p["pool"], p["job"]) for p in listed] == [(pool, "job1")]
    deleted = project.json("pool", "delete", "job1")
    assert deleted == {"job": "job1", "pool": pool, "deleted": True}
    assert batch_server.service.list_pools() == []
    gone = project.cli("pool", "delete", "nosuchpool")
    assert gone.returncode == 1 and "no pool 'nosuchpool'" in gone.stderr


def test_cancel_terminates_the_batch_job_and_a_failed_start_is_reported(project, batch_server):
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=2, iters=5_000_000, report=1000))
    project.cli("launch", "runspecs/long.yaml", "--detach", check=True)
    batch_server.wait_for_tasks("ws1-job1", lambda ts: all(t["state"] == "running" for t in ts), timeout=60)
    out = project.json("cancel", "job1")
    assert out["status"] == "cancelled" and sorted(out["cancelled_runs"]) == ["run1.1", "run1.2"]
    job = batch_server.wait_for_job("ws1-job1", "completed", timeout=30)
    assert job["executionInfo"]["terminateReason"] == "UserTerminate"
    # A node without the configured python: the task fails before any agent runs; status says why.
    text = (project.root / "pyproject.toml").read_text().replace('python = "', 'python = "/nonexistent/python3" #')
    project.write("pyproject.toml", text)
    project.write("runspecs/tiny.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/tiny.yaml", "--detach", check=True)
    batch_server.wait_for_job("ws1-job2", "completed", timeout=30)
    summary = project.wait("job2", timeout=30)
    assert summary["status"] == "failed"
    run = project.json("runs", "job2")["runs"][0]
    assert run["status"] == "failed" and "CommandProgramNotFound" in run["error"]


def test_pinned_endpoint_launch_facts_cost_and_a_stale_ledger(project, batch_server, tmp_path):
    # pyproject.toml's endpoint (from TEST_BATCH_ENDPOINT) leads nowhere; the workflow's pinned value wins.
    env = {"TEST_BATCH_ENDPOINT": "http://127.0.0.1:9", "LAUNCHER_AZB_CPU_BATCH_ENDPOINT": batch_server.endpoint}
    project.write("runspecs/spot.yaml", tiny_runspec(low_priority="true", total_runs=2, nodes=1, per_node=2))

    def launch(*args: str) -> dict:
        return json.loads(project.cli("launch", "runspecs/spot.yaml", "--detach", "--format", "json", *args,
                                      check=True, **env).stdout)

    first = launch()
    assert first["status"] == "launched" and first["job"] == "job1"
    assert _job_body(batch_server)["id"] == "ws1-job1"  # the pinned endpoint got the job
    # The facts the PR comment reads, and the estimate: 1 Spot node × the 30 min limit × $0.02.
    assert (first["low_priority"], first["hold"], first["nodes"], first["runs_per_node"], first["total_runs"]) == \
        (True, False, 1, 2, 2)
    cost = first["cost_estimate"]
    assert (cost["total"], cost["currency"], cost["node_hours"], cost["kind"]) == (0.01, "USD", 0.5, "spot")
    from launcher.report.comment import CommentInput, render_comment

    body = render_comment(CommentInput(runspec="runspecs/spot.yaml", launch=first))
    assert "| Estimated cost | 0.01 USD (upper bound: 0.5 node-hours" in body
    assert "| Nodes × runs per node | 1 × 2 |" in body and "Spot" in body
    project.cli("status", "job1", check=True, **env)
    batch_server.wait_for_job("ws1-job1", "completed", timeout=60)

    # A stale ledger (a pull request's checkout lacks the row): the store's index still finds job1.
    (project.root / "jobs.md").unlink()
    again = launch()
    assert again["status"] == "exists" and again["job"] == "job1"
    assert [r.status for r in batch_server.requests_matching("POST", r"^/jobs$")] == [201]
    store = project.store()
    index = store.list("index/launched/")
    assert index == [f"index/launched/{first['content_hash']}-{first['commit'][:12]}-azb-cpu"]
    assert store.read_json(index[0])["job"] == "job1"
    forced = launch("--force")
    assert forced["status"] == "launched" and forced["job"] == "job2"
    assert store.read_json(index[0])["job"] == "job2"

    # logs and download find Azure runs without --target, and say where they came from.
    summary = project.wait("job1", timeout=60)
    assert summary["status"] == "completed"
    logs = project.cli("logs", "run1.1", check=True, **env)
    assert "All processing stages completed." in logs.stdout
    assert "run1.1: from the store of target azb-cpu" in logs.stderr
    got = json.loads(project.cli("download", "run1.2", str(tmp_path / "dl"), "--format", "json", check=True,
                                 **env).stdout)
    assert got["target"] == "azb-cpu" and got["files"] >= 4
    assert (tmp_path / "dl" / "run1.2" / "console.txt").is_file()
    missing = project.cli("logs", "run77.1", **env)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "no run 'run77.1' in the store of any target; looked in: local (folder " in missing.stderr
    assert f"azb-cpu (blob container {project.azurite.account_url}/{project.container})" in missing.stderr
    assert project.json("cancel", "job2")["job"] == "job2"


def test_a_preempted_task_leaves_no_orphaned_run_process(project, batch_server):
    from launcher.jobs.records import pid_alive

    # Minutes of work: a run process that is gone soon after the preemption was killed, it did not just end.
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=2, per_node=2, iters=100_000_000, report=1_000_000))
    project.cli("launch", "runspecs/long.yaml", "--detach", check=True)
    store = project.store()
    deadline = time.monotonic() + 90
    records: list[dict] = []
    while time.monotonic() < deadline:
        records = [store.read_json(f"runs/run1.{i}/run.json") or {} for i in (1, 2)]
        if all(r.get("status") == "running" and r.get("pid") for r in records):
            break
        time.sleep(0.1)
    pids = [r["pid"] for r in records]
    assert all(pid_alive(p) for p in pids), records
    try:
        # The node goes away: Batch kills the agents (their process groups); each run's process, in a session
        # of its own, must die with its agent rather than run on unseen.
        assert sorted(batch_server.preempt_node(batch_server.job_pool_id("ws1-job1"), 0, down_for=30)) == \
            ["run1-1", "run1-2"]
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(pid_alive(p) for p in pids), "a run process outlived its preempted task"
    finally:
        import os
        import signal

        for pid in pids:  # before the fix: the orphans of this test
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    batch_server.service.terminate_job("ws1-job1")  # the requeued tasks never start again
