"""The Batch test server's node model (issue 11, "Harness"): start tasks that really run and can make a node
unusable, auto-users with their own homes, a node Python without the launcher's packages, task slots bounded by
the VM size, an auto pool that cannot be created completing its job, throttling, apt meeting the dpkg lock, and
Blob containers mounted as folders. Each behaviour's source is cited in docs/test-harness.md."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid

import pytest
from azure.batch import models as bm
from azure.core.exceptions import HttpResponseError

from services.batch_server import BatchTestServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python like the one on a fresh Ubuntu image: an interpreter without the launcher's packages."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


@pytest.fixture
def node_server(tmp_path, bare_python):
    server = BatchTestServer(root=tmp_path / "batch", node_python=bare_python)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.internal_errors, server.internal_errors


def sh(script: str) -> str:
    return f"/bin/sh -c {shlex.quote(script)}"


def pool(start_task=None, slots=1, nodes=1, vm_size="Standard_D2s_v3", mounts=None, keep_alive=True):
    return bm.BatchPoolInfo(auto_pool_specification=bm.BatchAutoPoolSpecification(
        pool_lifetime_option="job", auto_pool_id_prefix="t", keep_alive=keep_alive, pool=bm.BatchPoolSpecification(
            vm_size=vm_size, target_dedicated_nodes=nodes, task_slots_per_node=slots, start_task=start_task,
            mount_configuration=mounts)))


def admin_start(command: str, retries: int = 0, wait: bool = True):
    return bm.BatchStartTask(command_line=sh(command), wait_for_success=wait, max_task_retry_count=retries,
                             user_identity=bm.UserIdentity(auto_user=bm.AutoUserSpecification(
                                 scope=bm.AutoUserScope.POOL, elevation_level=bm.ElevationLevel.ADMIN)))


def run_job(client, job_id, pool_info, *commands):
    client.create_job(bm.BatchJobCreateOptions(id=job_id, pool_info=pool_info))
    for i, command in enumerate(commands):
        client.create_task(job_id, bm.BatchTaskCreateOptions(id=f"t{i}", command_line=sh(command)))
    client.update_job(job_id, bm.BatchJobUpdateOptions(all_tasks_complete_mode=bm.BatchAllTasksCompleteMode.TERMINATE_JOB))


def stdout(client, job_id, task_id="t0") -> str:
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


def test_the_start_task_runs_first_as_the_admin_user_and_tasks_run_as_another(node_server):
    client = node_server.client()
    start = admin_start('echo "$USER $HOME" > "$AZ_BATCH_NODE_SHARED_DIR/start-user"; '
                        'mkdir -p "$HOME/.local/lib" && touch "$HOME/.local/lib/user-installed"; '
                        'pwd > "$AZ_BATCH_NODE_SHARED_DIR/start-cwd"')
    run_job(client, "j1", pool(start), 'cat "$AZ_BATCH_NODE_SHARED_DIR/start-user"; echo "$USER $HOME"; '
                                       '[ -e "$HOME/.local/lib/user-installed" ] && echo visible || echo not-for-this-user')
    node_server.wait_for_job("j1", timeout=30)
    start_user, task_user, missing = stdout(client, "j1").splitlines()[:3]
    assert start_user.startswith("pool-admin ") and task_user.startswith("task-nonadmin-t0 ")
    assert start_user.split()[1] != task_user.split()[1]  # a `pip install --user` of the start task is not theirs
    assert missing == "not-for-this-user"
    pool_id = node_server.job_pool_id("j1")
    node = next(iter(client.list_nodes(pool_id)))
    assert node.start_task_info.exit_code == 0 and node.start_task_info.state == "completed"
    cwd = (node_server.node_dirs(pool_id)[0] / "shared" / "start-cwd").read_text().strip()
    assert cwd.endswith("/startup/wd")


def test_a_failing_start_task_makes_the_node_unusable_after_its_retries(node_server):
    client = node_server.client()
    run_job(client, "j2", pool(admin_start("echo broken setup >&2; exit 3", retries=2)), "echo never")
    pool_id = node_server.job_pool_id("j2")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        node = next(iter(client.list_nodes(pool_id)))
        if node.state == "starttaskfailed":
            break
        time.sleep(0.05)
    assert node.state == "starttaskfailed"
    info = node.start_task_info
    assert info.exit_code == 3 and info.retry_count == 2 and info.failure_info.code == "FailureExitCode"
    time.sleep(0.3)
    assert client.get_task("j2", "t0").state == "active"  # never scheduled to an unusable node
    counts = next(iter(client.list_pool_node_counts()))
    assert counts.dedicated.start_task_failed == 1


def test_without_wait_for_success_tasks_run_beside_a_failed_start_task(node_server):
    client = node_server.client()
    run_job(client, "j3", pool(admin_start("exit 1", wait=False)), "echo ran")
    node_server.wait_for_job("j3", timeout=30)
    assert stdout(client, "j3") == "ran\n"


def test_the_node_python_has_no_launcher_packages_and_apt_is_the_images(node_server, bare_python):
    client = node_server.client()
    run_job(client, "j4", pool(), 'command -v python3; python3 -c "import yaml" 2>&1 | tail -1; '
                                  'apt-get install -y python3-venv && cat "$AZ_BATCH_NODE_ROOT_DIR/apt.log"')
    node_server.wait_for_job("j4", timeout=30)
    lines = stdout(client, "j4").splitlines()
    assert lines[0].endswith("/bin/python3") and "ModuleNotFoundError: No module named 'yaml'" in lines[1]
    assert lines[2].endswith("apt-get install -y python3-venv")  # recorded, nothing installed on this machine


def test_apt_meets_the_dpkg_lock_unless_it_waits_for_it(node_server):
    client = node_server.client()
    node_server.dpkg_locked_nodes = 2
    run_job(client, "j5", pool(admin_start("apt-get install -y python3-venv")), "true")
    run_job(client, "j6", pool(admin_start("apt-get -o DPkg::Lock::Timeout=600 install -y python3-venv")), "true")
    node_server.wait_for_job("j6", timeout=30)
    failed = next(iter(client.list_nodes(node_server.job_pool_id("j5"))))
    assert failed.state == "starttaskfailed" and failed.start_task_info.exit_code == 100
    stderr = (node_server.node_dirs(node_server.job_pool_id("j5"))[0] / "startup" / "stderr.txt").read_text()
    assert "Could not get lock /var/lib/dpkg/lock-frontend" in stderr


def test_task_slots_are_bounded_by_the_vm_size(node_server):
    client = node_server.client()
    client.create_pool(bm.BatchPoolCreateOptions(id="p8", vm_size="Standard_D2s_v3", task_slots_per_node=8))
    for vm, slots in (("Standard_D2s_v3", 9), ("Standard_F72s_v2", 257), ("Standard_Nonexistent", 1)):
        with pytest.raises(HttpResponseError) as err:
            client.create_pool(bm.BatchPoolCreateOptions(id=f"p-{uuid.uuid4().hex[:6]}", vm_size=vm,
                                                         task_slots_per_node=slots))
        assert err.value.status_code == 400 and err.value.error.code == "InvalidPropertyValue"
    with pytest.raises(HttpResponseError) as err:  # an auto pool too: the job is not created
        client.create_job(bm.BatchJobCreateOptions(id="j-slots", pool_info=pool(slots=9)))
    assert "between 1 and 8 for Standard_D2s_v3 (2 vCPUs)" in str(err.value)


def test_requests_past_the_rate_are_throttled_with_retry_after(tmp_path):
    with BatchTestServer(root=tmp_path / "b", max_requests_per_second=5) as server:
        client = server.client(retry_backoff_factor=0.01)
        for _ in range(12):
            list(client.list_jobs())
        assert server.throttled > 0
        throttled = [r for r in server.requests if r.status == 429]
        assert throttled and all(r.status in (200, 429) for r in server.requests)
        # Without retries the caller sees the 429 and its Retry-After.
        no_retry = server.client(retry_total=0)
        with pytest.raises(HttpResponseError) as err:
            for _ in range(10):
                list(no_retry.list_jobs())
        assert err.value.status_code == 429 and err.value.error.code == "TooManyRequests"
        assert float(err.value.response.headers["Retry-After"]) > 0


def test_a_blob_container_is_mounted_as_a_folder(tmp_path, bare_python, azurite):
    container = "m" + uuid.uuid4().hex[:10]
    azurite.create_container(container).upload_blob("policies/p1.json", b'{"w": 1}')
    sas = azurite.container_sas_url(container, permission="rl").split("?", 1)[1]
    with BatchTestServer(root=tmp_path / "b", node_python=bare_python,
                         storage_endpoints={azurite.account_name: azurite.account_url}) as server:
        client = server.client()
        mounts = [bm.MountConfiguration(azure_blob_file_system_configuration=bm.AzureBlobFileSystemConfiguration(
            account_name=azurite.account_name, container_name=container, relative_mount_path="datastore",
            sas_key=sas))]
        run_job(client, "jm", pool(mounts=mounts), 'cat "$AZ_BATCH_NODE_MOUNTS_DIR/datastore/policies/p1.json"')
        server.wait_for_job("jm", timeout=30)
        assert stdout(client, "jm") == '{"w": 1}'
