"""Issue 11, item 12: code running in a job cannot reach the store credential, and nothing it (or anyone) changed
in the store after upload is run: bundles and snapshots are verified by sha256, plans and runspecs by the hashes
the launcher put on the task's command line, and an existing content-addressed blob is checked before reuse."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from launcher.agent import verify_content_addressed
from launcher.azure.bundle import build_bundle, bundle_key
from launcher.jobs import records as R
from launcher.store.local import LocalStore
from tests.azure.azure_backend_support import REPO, make_project, tiny_runspec

# What the demonstrated attack did: read the agent's initial environment from /proc/<pid>/environ (every ancestor
# of the run), and with a store SAS found there overwrite a blob that other jobs trust.
ATTACK = r'''
import os, sys, urllib.request
stolen, pid = [], os.getppid()
while pid > 1:
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        env = []
    stolen += [e.decode() for e in env if b"sig=" in e]
    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
print("STOLEN" if stolen else "NO-CREDENTIAL", flush=True)
for item in stolen:
    base, query = item.split("=", 1)[1].split("?", 1)
    req = urllib.request.Request(f"{base}/code/poisoned-by-a-run?{query}", data=b"x", method="PUT",
                                 headers={"x-ms-blob-type": "BlockBlob"})
    try:
        urllib.request.urlopen(req, timeout=10)
        print("WROTE", flush=True)
    except Exception as exc:
        print("REFUSED", exc, flush=True)
'''


@pytest.mark.slow
def test_a_run_cannot_read_the_store_sas_from_its_agent(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "p", batch_server, azurite)
    text = (project.root / "pyproject.toml").read_text()
    project.write("pyproject.toml", text.replace('workspace = "ws1"\n', 'workspace = "ws1"\n'
                                                 f'run_command = ["{sys.executable}", "attack.py", "{{runspec}}"]\n'))
    project.write("attack.py", ATTACK)
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/t.yaml", check=True, timeout=240)
    store = project.store()
    console = store.read_text("runs/run1.1/console.txt") or ""
    assert "NO-CREDENTIAL" in console and "STOLEN" not in console, console
    assert not store.exists("code/poisoned-by-a-run")
    # The task definition is as the launcher wrote it: the bundle runs only after its sha256 was checked.
    task = next(t for r in batch_server.requests_matching("POST", "/addtaskcollection$") for t in r.json["value"])
    data, sha = build_bundle()
    assert f" -c " in task["commandLine"] and sha in task["commandLine"]
    assert f"launcher-{sha}.pyz" in task["commandLine"] and "--plan-sha256" in task["commandLine"]


@pytest.mark.slow
def test_poisoned_blobs_are_replaced_before_reuse_and_never_run(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "p", batch_server, azurite)
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/t.yaml", check=True, timeout=240)
    store = project.store()
    data, sha = build_bundle()
    code_key = store.read_json("jobs/job1/plan.json")["code_key"]
    genuine_code = store.read_bytes(code_key)
    # Someone who held a write SAS changed the shared bundle and the snapshot (the old code reused them as is).
    store.write_bytes(bundle_key(sha), b"print('poisoned')")
    store.write_bytes(code_key, b"PK poisoned")
    out = project.cli("launch", "runspecs/t.yaml", "--force", check=True, timeout=240)  # same code, same bundle
    assert "job2: completed" in out.stdout, out.stdout + out.stderr
    assert store.read_bytes(bundle_key(sha)) == data and store.read_bytes(code_key) == genuine_code


@pytest.mark.slow
def test_a_bundle_changed_between_submit_and_start_does_not_run(tmp_path, batch_server, azurite):
    import threading
    import time

    project = make_project(tmp_path / "p", batch_server, azurite)
    store = project.store()
    data, sha = build_bundle()
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    store.write_bytes(bundle_key(sha), b"print('poisoned before the launch')")  # the launcher repairs this ...
    # ... but not this one: the bundle is changed while the task list is on its way to Batch.
    batch_server.faults.add("POST", r"/addtaskcollection$", delay=1.0, times=1)

    def poison() -> None:
        deadline = time.monotonic() + 120
        while not batch_server.requests_matching("POST", "/addtaskcollection$") and time.monotonic() < deadline:
            time.sleep(0.02)
        store.write_bytes(bundle_key(sha), b"print('poisoned after submit')")

    thread = threading.Thread(target=poison, daemon=True)
    thread.start()
    project.cli("launch", "runspecs/t.yaml", "--detach", check=True, timeout=240)
    thread.join(timeout=120)
    batch_server.wait_for_job("ws1-job1", "completed", timeout=60)
    task_dir = batch_server.task_dir("ws1-job1", "run1-1")
    assert "was changed after upload; not running it" in (task_dir / "stderr.txt").read_text()
    assert "poisoned" not in (task_dir / "stdout.txt").read_text()
    summary = project.wait("job1", timeout=60)
    assert summary["status"] == "failed"


def _agent(store_dir, *args):
    env = dict(os.environ, LAUNCHER_STORE_URL=str(store_dir), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "launcher.azure.node_agent", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_agent_runs_no_plan_or_runspec_but_the_submitted_one(tmp_path):
    store = LocalStore(tmp_path / "store")
    plan = {"job": "job1", "workspace": "ws1", "children": [], "code_key": "code/" + "0" * 64 + ".zip"}
    store.write_json(R.job_key("job1", "plan.json"), plan)
    store.write_text(R.job_key("job1", "launched_job_spec.yaml"), "component: root/Root_Component\n")
    plan_sha = hashlib.sha256(store.read_bytes(R.job_key("job1", "plan.json"))).hexdigest()
    spec_sha = hashlib.sha256(store.read_bytes(R.job_key("job1", "launched_job_spec.yaml"))).hexdigest()
    # Another job's code rewrote the plan after submission: the agent (after its re-exec) refuses it.
    store.write_json(R.job_key("job1", "plan.json"), {**plan, "run_command": ["sh", "-c", "evil"]})
    proc = _agent(tmp_path / "store", "--plan-sha256", plan_sha, "--spec-sha256", spec_sha, "job1", "run1.1")
    assert proc.returncode == 3 and "plan.json is not the one the launcher submitted" in proc.stderr
    store.write_json(R.job_key("job1", "plan.json"), plan)
    store.write_text(R.job_key("job1", "launched_job_spec.yaml"), "changed: 1\n")
    proc = _agent(tmp_path / "store", "--plan-sha256", plan_sha, "--spec-sha256", spec_sha, "job1", "run1.1")
    assert proc.returncode == 3 and "launched_job_spec.yaml is not the one" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_code_snapshots_must_hash_to_their_name():
    good = b"PK zip bytes"
    key = f"code/{hashlib.sha256(good).hexdigest()}.zip"
    verify_content_addressed(key, good)
    with pytest.raises(RuntimeError, match="was changed after upload"):
        verify_content_addressed(key, b"PK other bytes")
    with pytest.raises(RuntimeError, match="not a content-addressed"):
        verify_content_addressed("code/latest.zip", good)


def test_local_put_if_absent_replaces_a_changed_object(tmp_path):
    store = LocalStore(tmp_path / "s")
    assert store.put_if_absent("code/a.zip", b"genuine") == 7
    assert store.put_if_absent("code/a.zip", b"genuine") == 0
    store.write_bytes("code/a.zip", b"poison")
    assert store.put_if_absent("code/a.zip", b"genuine") == 7 and store.read_bytes("code/a.zip") == b"genuine"
    assert json.loads(json.dumps({"ok": True}))
