"""Launches that meet the node (issue 11 items 6 and 8, issue 10's node-side pieces): a start task that fails,
runs_per_node beyond the VM size, the node venv built from the locked requirements, and the datastore mount."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from services.batch_server import BatchTestServer
from tests.azure.azure_backend_support import make_project, tiny_runspec

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, batch_server, azurite):
    return make_project(tmp_path / "experiments", batch_server, azurite)


def _set(project, old: str, new: str) -> None:
    text = (project.root / "pyproject.toml").read_text()
    assert old in text
    project.write("pyproject.toml", text.replace(old, new))


def test_runs_per_node_beyond_the_vm_size_is_refused_before_anything(project, batch_server):
    # Item 8: Standard_D2s_v3 has 2 vCPUs, so at most 8 task slots; before, 9 went to Batch (the harness took 256).
    project.write("runspecs/wide.yaml", tiny_runspec(total_runs=9, per_node=9))
    proc = project.cli("launch", "runspecs/wide.yaml")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "runs_per_node 9 is more than Batch allows on Standard_D2s_v3: at most 8 task slots per node " \
           "(4 × 2 vCPUs)" in proc.stderr
    assert "set job_launcher.runs_per_node to 8 or less" in proc.stderr
    assert not batch_server.requests_matching("POST", "^/jobs$") and project.ledger_rows() == []


def test_a_failing_start_task_fails_the_runs_instead_of_leaving_them_queued(project, batch_server):
    # Item 6: a bad setup line makes every node unusable (startTaskFailed); before, status said "queued" until
    # max_wall_clock while the nodes billed.
    _set(project, 'setup = ["echo node setup"]', 'setup = ["echo no such package >&2; exit 7"]')
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=2, per_node=1))
    project.cli("launch", "runspecs/t.yaml", "--detach", check=True)
    summary = project.wait("job1", timeout=90)
    assert summary["status"] == "failed"
    assert "the start task failed on all 1 node(s)" in summary.get("note", "") and "launcher cancel job1" in summary["note"]
    runs = project.json("runs", "job1")["runs"]
    assert all(r["status"] == "failed" and "the start task failed on every node (exit code 7, FailureExitCode"
               in r["error"] for r in runs)
    body = next(r.json for r in batch_server.requests_matching("POST", r"^/jobs$") if r.status == 201)
    start = body["poolInfo"]["autoPoolSpecification"]["pool"]["startTask"]
    assert start["userIdentity"]["autoUser"] == {"scope": "pool", "elevationLevel": "admin"}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return str(venv / "bin" / "python")


def test_without_python_set_the_node_venv_is_built_from_the_locked_requirements(tmp_path, azurite, bare_python):
    # A node as on a fresh image: python3 has none of the launcher's packages. The start task builds the venv
    # from the hash-locked launcher requirements and the project's requirements.txt; offline (no package index
    # here) pip cannot download them, so the start task fails and the launch says so (item 1: the harness no
    # longer lets a launcher-less node pass). A live account runs the same start task to success.
    server = BatchTestServer(root=tmp_path / "batch", node_python=bare_python,
                             node_env={"PIP_NO_INDEX": "1", "PIP_RETRIES": "0"})
    server.start()
    try:
        project = make_project(tmp_path / "p", server, azurite)
        text = (project.root / "pyproject.toml").read_text()
        text = text.replace(f'python = "{sys.executable}"\n', "").replace('setup = ["echo node setup"]', "setup = []")
        project.write("pyproject.toml", text)
        project.write("requirements.txt", "numpy==1.26.4\n")
        project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
        project.cli("launch", "runspecs/t.yaml", "--detach", check=True)
        summary = project.wait("job1", timeout=300)  # pip gives up slowly on a busy machine
        assert summary["status"] == "failed"
        run = project.json("runs", "job1")["runs"][0]
        assert "the start task failed on every node" in run["error"]
        body = next(r.json for r in server.requests_matching("POST", r"^/jobs$") if r.status == 201)
        start = body["poolInfo"]["autoPoolSpecification"]["pool"]["startTask"]
        script = shlex.split(start["commandLine"])[2]
        assert "--require-hashes -r launcher-requirements.txt" in script and "-r project-requirements.txt" in script
        assert "DPkg::Lock::Timeout=600" in script and "pip install --user" not in script
        assert sorted(f["filePath"] for f in start["resourceFiles"]) == ["launcher-requirements.txt",
                                                                         "project-requirements.txt"]
        task = next(t for r in server.requests_matching("POST", "/addtaskcollection$") for t in r.json["value"])
        argv = shlex.split(task["commandLine"])
        assert argv[:2] == ["/bin/sh", "-c"] and "/launcher-venv-" in argv[2] and argv[3] == "launcher-python"
        pool_id = server.job_pool_id("ws1-job1")
        stderr = (server.node_dirs(pool_id)[0] / "startup" / "stderr.txt").read_text()
        assert "No matching distribution" in stderr or "Could not find a version" in stderr, stderr[-2000:]
    finally:
        server.stop()


def test_the_datastore_container_is_a_folder_on_the_node(tmp_path, azurite):
    server = BatchTestServer(root=tmp_path / "batch", storage_endpoints={azurite.account_name: azurite.account_url})
    server.start()
    try:
        project = make_project(tmp_path / "p", server, azurite)
        data = "d" + project.container[1:]
        azurite.create_container(data).upload_blob("rl/policies/p1.txt", b"policy weights")
        text = (project.root / "pyproject.toml").read_text()
        project.write("pyproject.toml", text.replace('max_retries = 2\n', f'max_retries = 2\ndatastore = "{data}/rl"\n')
                      .replace('workspace = "ws1"\n', 'workspace = "ws1"\nrun_command = ["'
                               + sys.executable + '", "show_data.py", "{runspec}"]\n'))
        project.write("show_data.py", "import os\nprint('DATA', open(os.path.join(os.environ['XT_DATA_DIR'], "
                                      "'policies', 'p1.txt')).read())\n")
        project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
        project.cli("launch", "runspecs/t.yaml", check=True, timeout=240)
        console = project.store().read_text("runs/run1.1/console.txt") or ""
        assert "DATA policy weights" in console, console
        body = next(r.json for r in server.requests_matching("POST", r"^/jobs$") if r.status == 201)
        mount = body["poolInfo"]["autoPoolSpecification"]["pool"]["mountConfiguration"][0]
        blob = mount["azureBlobFileSystemConfiguration"]
        assert blob["containerName"] == data and blob["relativeMountPath"] == "datastore"
        assert "sp=rl" in blob["sasKey"] and blob["blobfuseOptions"] == "-o ro"
    finally:
        server.stop()
