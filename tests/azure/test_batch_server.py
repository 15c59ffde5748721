"""The Batch test server, driven through the real azure-batch SDK (and, for files, a real Azurite)."""

from __future__ import annotations

import base64
import json
import shlex
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from azure.batch import models as bm
from azure.batch.models._models import BatchJobTerminateOptions as TerminateOptions  # not re-exported
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError


pytestmark = pytest.mark.slow

PY = shlex.quote(sys.executable)
FAST_POLL = {"polling_interval": 0.05}


def auto_pool(dedicated=1, low_priority=0, slots=1, keep_alive=False, prefix="lp"):
    return bm.BatchPoolInfo(
        auto_pool_specification=bm.BatchAutoPoolSpecification(
            pool_lifetime_option="job",
            keep_alive=keep_alive,
            auto_pool_id_prefix=prefix,
            pool=bm.BatchPoolSpecification(
                vm_size="Standard_D2s_v3",
                target_dedicated_nodes=dedicated,
                target_low_priority_nodes=low_priority,
                task_slots_per_node=slots,
            ),
        )
    )


def make_job(client, job_id, pool_info=None, **kwargs):
    client.create_job(bm.BatchJobCreateOptions(id=job_id, pool_info=pool_info or auto_pool(), **kwargs))


def finish_when_done(client, job_id):
    client.update_job(job_id, bm.BatchJobUpdateOptions(all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.TERMINATE_JOB))


def sh(script: str) -> str:
    return f"/bin/sh -c {shlex.quote(script)}"


def stdout_of(client, job_id, task_id) -> str:
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


# ------------------------------------------------------------------------------------ the main flow
def test_250_tasks_on_an_auto_pool_run_to_completion(batch_server):
    client = batch_server.client()
    make_job(client, "job-big", auto_pool(dedicated=2, slots=4))
    tasks = [
        bm.BatchTaskCreateOptions(id=f"run1-{i}", command_line=sh(f"echo task $AZ_BATCH_TASK_ID; exit {3 if i % 50 == 0 else 0}"))
        for i in range(250)
    ]
    client.create_tasks("job-big", tasks, max_concurrency=4)
    finish_when_done(client, "job-big")
    job = batch_server.wait_for_job("job-big", timeout=60)

    sizes = sorted(len(r.json["value"]) for r in batch_server.requests_matching("POST", "addtaskcollection$"))
    assert sizes == [50, 100, 100]  # the SDK chunks 100 per call
    assert job["executionInfo"]["terminateReason"] == "AllTasksComplete"
    counts = client.get_job_task_counts("job-big").task_counts
    assert (counts.completed, counts.succeeded, counts.failed, counts.active, counts.running) == (250, 245, 5, 0, 0)

    listed = list(client.list_tasks("job-big", max_results=100))
    assert len(listed) == 250 and len({t.id for t in listed}) == 250
    pages = batch_server.requests_matching("GET", "^/jobs/job-big/tasks$")
    assert [r.query.get("$skiptoken") for r in pages] == [None, ["100"], ["200"]]
    failed = {t.id for t in client.list_tasks("job-big", filter="executionInfo/result eq 'failure'")}
    assert failed == {f"run1-{i}" for i in range(0, 250, 50)}
    assert all(t.execution_info.exit_code == 3 for t in listed if t.id in failed)
    assert stdout_of(client, "job-big", "run1-7") == "task run1-7\n"

    # Never more tasks at once than 2 nodes x 4 slots.
    events = sorted([(t.execution_info.start_time, 1) for t in listed] + [(t.execution_info.end_time, -1) for t in listed])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 1 < peak <= 8
    # The auto pool (keepAlive false) is gone with the job.
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(job["executionInfo"]["poolId"])
    assert batch_server.internal_errors == []


def test_task_environment_working_dir_and_no_shell(batch_server):
    client = batch_server.client()
    make_job(client, "job-env", common_environment_settings=[bm.EnvironmentSetting(name="FROM_JOB", value="j")])
    dump = "import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"
    client.create_task("job-env", bm.BatchTaskCreateOptions(
        id="env", command_line=f"{PY} -c {shlex.quote(dump)}",
        environment_settings=[bm.EnvironmentSetting(name="FROM_TASK", value="t t")]))
    client.create_task("job-env", bm.BatchTaskCreateOptions(id="noshell", command_line="echo $HOME 'a  b'"))
    finish_when_done(client, "job-env")
    job = batch_server.wait_for_job("job-env")

    seen = json.loads(stdout_of(client, "job-env", "env"))
    env = seen["env"]
    task = client.get_task("job-env", "env")
    assert env["AZ_BATCH_TASK_ID"] == "env" and env["AZ_BATCH_JOB_ID"] == "job-env"
    assert env["AZ_BATCH_POOL_ID"] == job["executionInfo"]["poolId"] == task.node_info.pool_id
    assert env["AZ_BATCH_NODE_ID"] == task.node_info.node_id
    assert seen["cwd"] == env["AZ_BATCH_TASK_WORKING_DIR"]
    assert env["AZ_BATCH_NODE_SHARED_DIR"].endswith("/shared")
    assert (env["FROM_JOB"], env["FROM_TASK"]) == ("j", "t t")
    task_dir = batch_server.task_dir("job-env", "env")
    assert (task_dir / "stdout.txt").is_file() and str(task_dir / "wd") == seen["cwd"]
    # commandLine is split like a shell would, but nothing is expanded: no shell runs it.
    assert stdout_of(client, "job-env", "noshell") == "$HOME a  b\n"


def test_wall_clock_limit_kills_the_task(batch_server):
    client = batch_server.client()
    make_job(client, "job-wall")
    client.create_task("job-wall", bm.BatchTaskCreateOptions(
        id="slow", command_line="sleep 30",
        constraints=bm.BatchTaskConstraints(max_wall_clock_time=timedelta(seconds=0.5), max_task_retry_count=3)))
    started = time.monotonic()
    finish_when_done(client, "job-wall")
    batch_server.wait_for_job("job-wall", timeout=10)
    info = client.get_task("job-wall", "slow").execution_info
    assert time.monotonic() - started < 5
    assert info.result == "failure" and info.failure_info.code == "TaskEnded"
    assert info.exit_code == 137 and info.retry_count == 0  # a wall-clock kill is not retried


def test_non_zero_exit_is_retried_up_to_the_limit(batch_server):
    client = batch_server.client()
    make_job(client, "job-retry")
    third_time_lucky = sh("n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]")
    for task_id, retries in (("enough", 2), ("too-few", 1)):
        client.create_task("job-retry", bm.BatchTaskCreateOptions(
            id=task_id, command_line=third_time_lucky,
            constraints=bm.BatchTaskConstraints(max_task_retry_count=retries)))
    finish_when_done(client, "job-retry")
    batch_server.wait_for_job("job-retry")
    enough = client.get_task("job-retry", "enough").execution_info
    too_few = client.get_task("job-retry", "too-few").execution_info
    assert (enough.result, enough.exit_code, enough.retry_count) == ("success", 0, 2)
    assert (too_few.result, too_few.exit_code, too_few.retry_count) == ("failure", 1, 1)
    assert too_few.failure_info.code == "FailureExitCode"


def test_missing_program_is_a_task_failure(batch_server):
    client = batch_server.client()
    make_job(client, "job-noprog")
    client.create_task("job-noprog", bm.BatchTaskCreateOptions(id="t", command_line="no-such-program-here --x"))
    finish_when_done(client, "job-noprog")
    batch_server.wait_for_job("job-noprog")
    info = client.get_task("job-noprog", "t").execution_info
    assert info.result == "failure" and info.failure_info.code == "CommandProgramNotFound"


# ------------------------------------------------------------------------------------- files
def test_output_files_are_uploaded_to_azurite(batch_server, azurite):
    client = batch_server.client()
    container = azurite.create_container("results-up")
    sas = azurite.container_sas_url("results-up", "rcw")

    def output(pattern, path, condition):
        return bm.OutputFile(
            file_pattern=pattern,
            destination=bm.OutputFileDestination(container=bm.OutputFileBlobContainerDestination(container_url=sas, path=path)),
            upload_options=bm.OutputFileUploadConfiguration(upload_condition=condition),
        )

    make_job(client, "job-out")
    client.create_task("job-out", bm.BatchTaskCreateOptions(
        id="r1", command_line=sh("mkdir -p out/sub && echo '{\"loss\": 1}' > out/metrics.json && echo x > out/sub/x.txt && echo done"),
        output_files=[
            output("out/**/*", "job-out/r1", "tasksuccess"),
            output("../std*.txt", "job-out/r1/logs", "taskcompletion"),
            output("out/metrics.json", "job-out/r1/exact.json", "taskcompletion"),
            output("out/metrics.json", "job-out/r1/on-failure.json", "taskfailure"),
        ]))
    finish_when_done(client, "job-out")
    batch_server.wait_for_job("job-out")

    assert client.get_task("job-out", "r1").execution_info.result == "success"
    names = sorted(b.name for b in container.list_blobs(name_starts_with="job-out/"))
    assert names == [
        "job-out/r1/exact.json",
        "job-out/r1/logs/stderr.txt",
        "job-out/r1/logs/stdout.txt",
        "job-out/r1/metrics.json",
        "job-out/r1/sub/x.txt",
    ]
    assert json.loads(container.download_blob("job-out/r1/metrics.json").readall()) == {"loss": 1}
    assert container.download_blob("job-out/r1/logs/stdout.txt").readall() == b"done\n"


def test_output_upload_without_write_permission_fails_the_task(batch_server, azurite):
    client = batch_server.client()
    azurite.create_container("results-ro")
    read_only = azurite.container_sas_url("results-ro", "rl")
    make_job(client, "job-ro")
    client.create_task("job-ro", bm.BatchTaskCreateOptions(
        id="t", command_line="true",
        output_files=[bm.OutputFile(
            file_pattern="../stdout.txt",
            destination=bm.OutputFileDestination(container=bm.OutputFileBlobContainerDestination(container_url=read_only)),
            upload_options=bm.OutputFileUploadConfiguration(upload_condition="taskcompletion"))]))
    finish_when_done(client, "job-ro")
    batch_server.wait_for_job("job-ro")
    info = client.get_task("job-ro", "t").execution_info
    assert info.exit_code == 0 and info.result == "failure" and info.failure_info.code == "FileUploadError"
    assert "sig=" not in info.failure_info.message  # no SAS secrets in failure messages


def test_resource_files_come_from_azurite_sas_urls(batch_server, azurite):
    client = batch_server.client()
    container = azurite.create_container("inputs")
    container.upload_blob("data/a.txt", b"alpha", overwrite=True)
    container.upload_blob("code/pkg/main.py", b"print('main')", overwrite=True)
    container.upload_blob("code/run.sh", b"echo run", overwrite=True)
    make_job(client, "job-res")
    client.create_task("job-res", bm.BatchTaskCreateOptions(
        id="t", command_line=sh("cat in/a.txt; echo; ls -R code | sort; cat code/pkg/main.py"),
        resource_files=[
            bm.ResourceFile(http_url=azurite.blob_sas_url("inputs", "data/a.txt"), file_path="in/a.txt"),
            bm.ResourceFile(storage_container_url=azurite.container_sas_url("inputs", "rl"), blob_prefix="code/"),
        ]))
    client.create_task("job-res", bm.BatchTaskCreateOptions(
        id="missing", command_line="true",
        resource_files=[bm.ResourceFile(http_url=azurite.blob_sas_url("inputs", "nope.txt"), file_path="x")]))
    finish_when_done(client, "job-res")
    batch_server.wait_for_job("job-res")

    out = stdout_of(client, "job-res", "t")
    assert out.startswith("alpha\n") and out.endswith("print('main')")
    assert "main.py" in out and "run.sh" in out
    missing = client.get_task("job-res", "missing").execution_info
    assert missing.result == "failure" and missing.failure_info.code == "BlobNotFound"


# ---------------------------------------------------------------------------- what the service rejects
def test_bad_signature_is_rejected_with_403(batch_server):
    wrong = base64.b64encode(b"not the key" * 3).decode()  # well-formed, but not the server's key
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(batch_server.endpoint, AzureNamedKeyCredential(batch_server.account, wrong))
    with pytest.raises(HttpResponseError) as caught:
        client.get_job("anything")
    assert caught.value.status_code == 403 and caught.value.error.code == "AuthenticationFailed"

    with pytest.raises(urllib.error.HTTPError) as raw:  # unsigned request: the body has Batch's error shape
        urllib.request.urlopen(f"{batch_server.endpoint}/jobs?api-version=2025-06-01", timeout=5)
    body = json.loads(raw.value.read())
    assert raw.value.code == 403 and body["code"] == "AuthenticationFailed"
    assert body["odata.metadata"].startswith(batch_server.endpoint)
    assert body["message"]["lang"] == "en-US" and body["values"][0]["key"] == "AuthenticationErrorDetail"
    assert batch_server.client().list_jobs() is not None  # the right key still works


def test_ids_are_validated_and_case_insensitive(batch_server):
    client = batch_server.client()
    for bad in ("bad id!", "run527.1", "x" * 65):
        with pytest.raises(HttpResponseError) as caught:
            make_job(client, bad)
        assert caught.value.status_code == 400 and caught.value.error.code == "InvalidPropertyValue"
    make_job(client, "x" * 64)
    make_job(client, "Job-A")
    with pytest.raises(ResourceExistsError) as caught:
        make_job(client, "job-a")
    assert caught.value.error.code == "JobExists"
    assert client.get_job("JOB-A").id == "Job-A"

    with pytest.raises(HttpResponseError) as caught:
        client.create_job(bm.BatchJobCreateOptions(id="no-pool", pool_info=None))
    assert caught.value.status_code == 400 and caught.value.error.code == "MissingRequiredProperty"

    client.create_task("Job-A", bm.BatchTaskCreateOptions(id="Run527-1", command_line="true"))
    with pytest.raises(ResourceExistsError) as caught:
        client.create_task("job-a", bm.BatchTaskCreateOptions(id="run527-1", command_line="true"))
    assert caught.value.error.code == "TaskExists"
    # create_tasks treats TaskExists as success, so re-adding the same tasks is idempotent.
    client.create_tasks("job-a", [bm.BatchTaskCreateOptions(id=f"run527-{i}", command_line="true") for i in (1, 2)])
    assert sorted(t.id for t in client.list_tasks("job-a")) == ["Run527-1", "run527-2"]
    with pytest.raises(HttpResponseError) as caught:
        client.create_task("job-a", bm.BatchTaskCreateOptions(id="run527.3", command_line="true"))
    assert caught.value.error.code == "InvalidPropertyValue"


def test_more_than_100_tasks_in_one_call_is_413(batch_server):
    client = batch_server.client()
    make_job(client, "job-413")
    group = bm.BatchTaskGroup(task_values=[bm.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(101)])
    with pytest.raises(HttpResponseError) as caught:
        client.create_task_collection("job-413", group)
    assert caught.value.status_code == 413 and caught.value.error.code == "RequestBodyTooLarge"
    assert client.get_job_task_counts("job-413").task_counts.active == 0


# ------------------------------------------------------------------------------------------- faults
def test_throttling_429_with_retry_after_is_retried_by_the_sdk(batch_server):
    client = batch_server.client(retry_backoff_factor=0.01)  # the SDK's own retry policy, with short waits
    fault = batch_server.faults.add("POST", r"^/jobs$", 429, retry_after=0, times=2)
    make_job(client, "job-429")
    assert fault.hits == 2
    assert [r.status for r in batch_server.requests_matching("POST", r"^/jobs$")] == [429, 429, 201]
    assert client.get_job("job-429").state == "active"


def test_503_is_retried_and_a_persistent_503_surfaces(batch_server):
    client = batch_server.client(retry_total=2, retry_backoff_factor=0.01)
    make_job(client, "job-503")
    batch_server.faults.add("GET", r"^/jobs/job-503$", 503, times=1)
    assert client.get_job("job-503").id == "job-503"
    batch_server.faults.add("GET", r"^/jobs/job-503$", 503, retry_after=0, times=None)
    with pytest.raises(HttpResponseError) as caught:
        client.get_job("job-503")
    assert caught.value.status_code == 503 and caught.value.error.code == "ServerBusy"


def test_job_exists_after_a_create_that_actually_succeeded(batch_server):
    client = batch_server.client()
    batch_server.faults.add("POST", r"^/jobs$", 409, "JobExists", after=True)
    with pytest.raises(ResourceExistsError) as caught:
        make_job(client, "job-twice")
    assert caught.value.error.code == "JobExists"
    assert client.get_job("job-twice").state == "active"  # the first attempt did create it


def test_active_job_quota_and_pool_quota_errors(batch_server):
    client = batch_server.client()
    batch_server.faults.add("POST", r"^/jobs$", 409, "ActiveJobAndScheduleQuotaReached")
    with pytest.raises(ResourceExistsError) as caught:
        make_job(client, "job-quota")
    assert caught.value.error.code == "ActiveJobAndScheduleQuotaReached"
    assert "quota" in caught.value.message.lower()
    with pytest.raises(ResourceNotFoundError):
        client.get_job("job-quota")


def test_auto_pool_quota_completes_the_job_with_a_scheduling_error(batch_server):
    # PoolInformation.autoPoolSpecification: "If auto Pool creation fails, the Batch service moves the Job to a
    # completed state, and the Pool creation error is set in the Job's scheduling error property."
    from azure.core.exceptions import ResourceExistsError

    client = batch_server.client()
    batch_server.faults.scheduling_error(r"^job-nopool$")
    make_job(client, "job-nopool")
    job = client.get_job("job-nopool")
    assert str(job.state) in ("completed", "BatchJobState.COMPLETED") and job.execution_info.pool_id is None
    assert job.execution_info.scheduling_error.code == "AutoPoolCreationFailedWithQuotaReached"
    with pytest.raises(ResourceExistsError) as err:
        client.create_task("job-nopool", bm.BatchTaskCreateOptions(id="t", command_line="true"))
    assert err.value.error.code == "JobCompleted"
    # The old model (kept for tests that want it): the job stays active and its tasks never run.
    batch_server.faults.scheduling_error(r"^job-stuck$", completes=False)
    make_job(client, "job-stuck")
    client.create_task("job-stuck", bm.BatchTaskCreateOptions(id="t", command_line="true"))
    time.sleep(0.2)
    assert client.get_job("job-stuck").state == "active" and client.get_task("job-stuck", "t").state == "active"


def test_core_quota_shows_as_pool_resize_errors(batch_server):
    client = batch_server.client()
    batch_server.faults.resize_error(r"^pool-q$", "AccountCoreQuotaReached", max_dedicated=1)
    client.create_pool(bm.BatchPoolCreateOptions(id="pool-q", vm_size="Standard_D2s_v3", target_dedicated_nodes=3))
    pool = client.get_pool("pool-q")
    assert pool.allocation_state == "steady"
    assert (pool.current_dedicated_nodes, pool.target_dedicated_nodes) == (1, 3)
    assert [e.code for e in pool.resize_errors] == ["AccountCoreQuotaReached"]
    assert len(list(client.list_nodes("pool-q"))) == 1
    client.begin_resize_pool("pool-q", bm.BatchPoolResizeOptions(target_dedicated_nodes=1), **FAST_POLL).result()
    pool = client.get_pool("pool-q")
    assert pool.resize_errors is None and pool.current_dedicated_nodes == 1


def test_slow_responses_are_delayed(batch_server):
    client = batch_server.client()
    make_job(client, "job-slow")
    batch_server.faults.add("GET", r"^/jobs/job-slow$", delay=0.3)
    started = time.monotonic()
    assert client.get_job("job-slow").id == "job-slow"
    assert time.monotonic() - started >= 0.3


def test_task_collection_failing_half_way_can_be_resumed(batch_server):
    tasks = [bm.BatchTaskCreateOptions(id=f"t{i:03d}", command_line="true") for i in range(100)]
    # A 503 after the first 30 tasks: the SDK's retry policy resends the chunk, and TaskExists counts as success.
    client = batch_server.client()
    make_job(client, "job-half")
    batch_server.faults.add("POST", r"/addtaskcollection$", 503, partial=30)
    client.create_tasks("job-half", tasks)
    assert len(list(client.list_tasks("job-half"))) == 100
    assert [r.status for r in batch_server.requests_matching("POST", "job-half/addtaskcollection$")] == [503, 200]

    # A dropped connection after 40 tasks: create_tasks gives up; calling it again with all tasks resumes.
    make_job(client, "job-drop")
    batch_server.faults.add("POST", r"/addtaskcollection$", partial=40, drop_connection=True)
    with pytest.raises(HttpResponseError):
        client.create_tasks("job-drop", tasks)
    assert len(list(client.list_tasks("job-drop"))) == 40
    client.create_tasks("job-drop", tasks)
    assert len(list(client.list_tasks("job-drop"))) == 100


# ------------------------------------------------------------------------------- preemption, lifecycle
def test_preemption_requeues_running_tasks(batch_server):
    client = batch_server.client()
    make_job(client, "job-spot", auto_pool(dedicated=0, low_priority=1))
    # First run marks the node and sleeps; the requeued run finds the mark and finishes at once.
    client.create_task("job-spot", bm.BatchTaskCreateOptions(
        id="t", command_line=sh("[ -f $AZ_BATCH_NODE_SHARED_DIR/seen ] && exit 0; touch $AZ_BATCH_NODE_SHARED_DIR/seen; sleep 30")))
    marks = batch_server.root / "nodes"
    deadline = time.monotonic() + 10
    while not list(marks.glob("*/shared/seen")):  # the first run is past its `touch`
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.02)
    pool_id = batch_server.job_pool_id("job-spot")
    assert batch_server.preempt_node(pool_id, 0, down_for=0.3) == ["t"]
    assert [n.state for n in client.list_nodes(pool_id)] == ["preempted"]
    finish_when_done(client, "job-spot")
    batch_server.wait_for_job("job-spot", timeout=10)
    info = client.get_task("job-spot", "t").execution_info
    assert (info.result, info.requeue_count, info.retry_count) == ("success", 1, 0)
    assert info.last_requeue_time is not None


def test_terminate_job_kills_running_tasks(batch_server):
    client = batch_server.client()
    make_job(client, "job-term", auto_pool(dedicated=1, slots=2, keep_alive=True))
    client.create_tasks("job-term", [bm.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 30") for i in range(3)])
    batch_server.wait_for_tasks("job-term", lambda ts: sum(t["state"] == "running" for t in ts) == 2)
    started = time.monotonic()
    client.begin_terminate_job("job-term", TerminateOptions(termination_reason="UserCancel"), **FAST_POLL).result()
    assert time.monotonic() - started < 5
    job = client.get_job("job-term")
    assert job.state == "completed" and job.execution_info.termination_reason == "UserCancel"
    states = {t.id: (t.state, t.execution_info and t.execution_info.failure_info and t.execution_info.failure_info.code)
              for t in client.list_tasks("job-term")}
    assert sorted(states.values(), key=str) == [("active", None), ("completed", "TaskEnded"), ("completed", "TaskEnded")]
    # keepAlive=True: the pool outlives the job and must be deleted by whoever created it.
    pool_id = job.execution_info.pool_id
    assert client.pool_exists(pool_id)
    client.begin_delete_pool(pool_id, **FAST_POLL).result()
    # SDK 15.1 quirk: its exception policy turns the 404 into an error, so pool_exists never says False.
    with pytest.raises(ResourceNotFoundError):
        client.pool_exists(pool_id)


def test_delete_job_and_pool_crud(batch_server):
    client = batch_server.client()
    client.create_pool(bm.BatchPoolCreateOptions(
        id="pool-a", vm_size="Standard_D2s_v3", target_dedicated_nodes=1, target_low_priority_nodes=2, task_slots_per_node=2))
    with pytest.raises(ResourceExistsError):
        client.create_pool(bm.BatchPoolCreateOptions(id="POOL-A", vm_size="Standard_D2s_v3"))
    assert [p.id for p in client.list_pools()] == ["pool-a"]
    nodes = list(client.list_nodes("pool-a"))
    assert [n.is_dedicated for n in nodes] == [True, False, False] and {n.state for n in nodes} == {"idle"}
    counts = list(client.list_pool_node_counts())
    assert counts[0].pool_id == "pool-a" and counts[0].low_priority.total == 2 and counts[0].dedicated.idle == 1

    make_job(client, "job-del", bm.BatchPoolInfo(pool_id="pool-a"))
    client.create_task("job-del", bm.BatchTaskCreateOptions(id="t", command_line="sleep 30"))
    batch_server.wait_for_tasks("job-del", lambda ts: ts[0]["state"] == "running")
    client.begin_delete_job("job-del", **FAST_POLL).result()
    with pytest.raises(ResourceNotFoundError):
        client.get_job("job-del")
    assert client.get_pool("pool-a").state == "active"  # an explicit pool outlives its jobs
    client.begin_delete_pool("pool-a", **FAST_POLL).result()
    assert list(client.list_pools()) == []


def test_job_listing_pages_and_filters(batch_server):
    client = batch_server.client()
    for i in range(5):
        make_job(client, f"job-l{i}")
    client.begin_terminate_job("job-l0", TerminateOptions(termination_reason="Cancelled"), **FAST_POLL).result()
    assert len(list(client.list_jobs(max_results=2))) == 5
    assert len(batch_server.requests_matching("GET", r"^/jobs$")) == 3
    assert sorted(j.id for j in client.list_jobs(filter="state eq 'active'")) == [f"job-l{i}" for i in range(1, 5)]
    only_ids = list(client.list_jobs(filter="state eq 'completed'", select=["id", "state"]))
    assert [(j.id, j.state, j.pool_info) for j in only_ids] == [("job-l0", "completed", None)]
    with pytest.raises(HttpResponseError) as caught:
        list(client.list_jobs(filter="startswith(id, 'job')"))
    assert caught.value.error.code == "InvalidQueryParameterValue"


def test_terminatejob_at_creation_completes_a_job_without_tasks(batch_server):
    """Why a launcher must add its tasks first and only then set terminatejob (update_job)."""
    client = batch_server.client()
    make_job(client, "job-early", all_tasks_complete_mode="terminatejob")
    assert client.get_job("job-early").state == "completed"
    with pytest.raises(ResourceExistsError) as caught:
        client.create_task("job-early", bm.BatchTaskCreateOptions(id="t", command_line="true"))
    assert caught.value.error.code == "JobCompleted"


def test_task_failure_can_terminate_the_job(batch_server):
    client = batch_server.client()
    make_job(client, "job-fail", auto_pool(slots=2), task_failure_mode="performexitoptionsjobaction")
    client.create_tasks("job-fail", [
        bm.BatchTaskCreateOptions(id="bad", command_line="false"),
        bm.BatchTaskCreateOptions(id="slow", command_line="sleep 30"),
    ])
    job = batch_server.wait_for_job("job-fail", timeout=10)
    assert job["executionInfo"]["terminateReason"] == "TaskFailed"


def test_requests_are_recorded(batch_server):
    client = batch_server.client()
    make_job(client, "job-rec", metadata=[bm.BatchMetadataItem(name="launcher_job", value="42")])
    job = client.get_job("job-rec")
    job.priority = 5
    client.replace_job("job-rec", job)  # PUT
    assert client.get_job("job-rec").priority == 5
    create = batch_server.requests_matching("POST", r"^/jobs$")[0]
    assert create.status == 201 and create.query["api-version"]
    assert create.headers["authorization"].startswith(f"SharedKey {batch_server.account}:")
    assert create.json["metadata"] == [{"name": "launcher_job", "value": "42"}]
    assert create.json["poolInfo"]["autoPoolSpecification"]["keepAlive"] is False


def test_terminate_task_and_task_files(batch_server):
    client = batch_server.client()
    make_job(client, "job-files", auto_pool(slots=2))
    client.create_task("job-files", bm.BatchTaskCreateOptions(id="done", command_line=sh("echo 0123456789; echo oops >&2; echo x > result.txt")))
    client.create_task("job-files", bm.BatchTaskCreateOptions(id="stuck", command_line="sleep 30"))
    batch_server.wait_for_tasks("job-files", lambda ts: [t["state"] for t in ts] == ["completed", "running"])
    client.terminate_task("job-files", "stuck")
    batch_server.wait_for_tasks("job-files", lambda ts: ts[1]["state"] == "completed")
    assert client.get_task("job-files", "stuck").execution_info.failure_info.code == "TaskEnded"

    top = {f.name: f.is_directory for f in client.list_task_files("job-files", "done")}
    assert top == {"stderr.txt": False, "stdout.txt": False, "wd": True}
    every = {f.name for f in client.list_task_files("job-files", "done", recursive=True)}
    assert "wd/result.txt" in every
    assert b"".join(client.download_task_file("job-files", "done", "stderr.txt")) == b"oops\n"
    assert b"".join(client.download_task_file("job-files", "done", "stdout.txt", ocp_range="bytes=2-5")) == b"2345"
    assert client.get_task_file_properties("job-files", "done", "stdout.txt") is not None  # HEAD
    head = batch_server.requests_matching("HEAD", "/files/stdout.txt$")[0]
    assert head.status == 200
    with pytest.raises(ResourceNotFoundError):
        client.download_task_file("job-files", "done", "../../../../etc/passwd")


def test_slots_and_parallel_task_limits(batch_server):
    client = batch_server.client()
    make_job(client, "job-limit", auto_pool(dedicated=2, slots=4), max_parallel_tasks=3)
    client.create_tasks("job-limit", [bm.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 0.3") for i in range(6)])
    client.create_task("job-limit", bm.BatchTaskCreateOptions(id="wide", command_line="true", required_slots=4))
    finish_when_done(client, "job-limit")
    batch_server.wait_for_job("job-limit", timeout=20)
    tasks = list(client.list_tasks("job-limit"))
    events = sorted([(t.execution_info.start_time, 1) for t in tasks] + [(t.execution_info.end_time, -1) for t in tasks])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 3  # maxParallelTasks caps the job although 8 slots are free
    assert all(t.execution_info.result == "success" for t in tasks)


def test_job_wall_clock_limit_terminates_the_job(batch_server):
    client = batch_server.client()
    make_job(client, "job-timeout", constraints=bm.BatchJobConstraints(max_wall_clock_time=timedelta(seconds=0.5)))
    client.create_task("job-timeout", bm.BatchTaskCreateOptions(id="t", command_line="sleep 30"))
    job = batch_server.wait_for_job("job-timeout", timeout=10)
    assert job["executionInfo"]["terminateReason"] == "MaxWallClockTimeExpiry"
    assert client.get_task("job-timeout", "t").execution_info.failure_info.code == "TaskEnded"


def test_bearer_tokens_are_accepted_over_a_custom_policy(batch_server):
    from azure.batch import BatchClient
    from azure.core.credentials import AccessToken
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy

    class FakeCredential:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("fake-token", int(time.time()) + 3600)

    class InsecureBearer(BearerTokenCredentialPolicy):
        def on_request(self, request):
            request.context["enforce_https"] = False  # the server is plain http on 127.0.0.1
            return super().on_request(request)

    credential = FakeCredential()
    policy = InsecureBearer(credential, "https://batch.core.windows.net//.default")
    client = BatchClient(batch_server.endpoint, credential, authentication_policy=policy)
    make_job(client, "job-bearer")
    assert batch_server.requests_matching("POST", "^/jobs$")[0].headers["authorization"] == "Bearer fake-token"
