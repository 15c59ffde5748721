"""Issue 11, item 12, design 2 (docs/azure.md): each job's results live in a container of their own job, and a
task's SAS reaches that container only. With the SAS a task holds, the shared bundle, another job's plan, run
records and summary, and the store's counters are refused by the service (403); the job's own records are not."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest

from launcher.diagnostics import LauncherError
from launcher.store import job_containers as J
from tests.azure.azure_backend_support import make_project, tiny_runspec


# -- names (no service) --------------------------------------------------------------------------------------
def test_a_job_container_is_the_store_container_and_the_job():
    assert J.job_container_name("launcher", "job12") == "launcher-job12"
    assert J.job_container_name("abc", "job1") == "abc-job1"
    assert J.job_container_name("my-store-2", "job7") == "my-store-2-job7"


@pytest.mark.parametrize("container", ["a" * 63, "a" * 55 + "-" + "b" * 7, "x" * 54, "ab-" * 20 + "abc"])
@pytest.mark.parametrize("job", ["job1", "job123456", "job" + "9" * 40])
def test_a_long_name_keeps_the_rules_and_stays_apart(container, job):
    name = J.job_container_name(container, job)
    assert J.CONTAINER_RE.match(name) and len(name) <= 63 and name.endswith(f"-{job}"), name
    # Two store containers that share the kept prefix still get different names (the hash of the whole name).
    other = container[:-1] + ("b" if container[-1] != "b" else "c")
    assert J.job_container_name(other, job) != name


def test_job_container_names_do_not_collide():
    containers = ["abc", "abc-job", "ab-c", "a" * 63, "a" * 62 + "b", "a" * 50, "a" * 60, "st-job-x", "jobs"]
    jobs = ["job1", "job12", "job2", "job123456789"]
    names = {(c, j): J.job_container_name(c, j) for c in containers for j in jobs}
    assert len(set(names.values())) == len(names)
    # A job container is never a valid store container (which could then have job containers of its own).
    for name in names.values():
        with pytest.raises(LauncherError, match="ends like a job's results container"):
            J.check_store_container(name)


@pytest.mark.parametrize("container", ["", "ab", "a" * 64, "Launcher", "la--uncher", "-launcher", "launcher-",
                                       "la_uncher", "$root", "store-job7", "store-job0"])
def test_store_containers_that_would_be_ambiguous_or_invalid_are_refused(container):
    with pytest.raises(LauncherError):
        J.job_container_name(container, "job1")


@pytest.mark.parametrize("job", ["", "job0", "job01", "JOB1", "job1a", "job-1", "run1", "../job1", "job1/x",
                                 "job" + "9" * 60])
def test_only_job_names_get_a_container(job):
    with pytest.raises(LauncherError):
        J.job_container_name("launcher", job)


def test_which_keys_are_a_jobs():
    assert J.job_named_by("jobs/job3/summary.json") == "job3"
    assert J.job_named_by("jobs/job3/search.jsonl") == "job3" and J.job_named_by("jobs/job3/cancel") == "job3"
    assert J.job_named_by("jobs/job3/runindex/4.json") == "job3" and J.job_named_by("jobs/job3/runindex/") == "job3"
    for key in ("jobs/job3/plan.json", "jobs/job3/job.json", "jobs/job3/launched_job_spec.yaml",
                "jobs/job3/batch.json", "jobs/job3/x/summary.json", "jobs/run3/summary.json", "counters/jobs",
                "code/launcher-abc.pyz", "index/runs/run4", "jobs/job3/runindex", "jobs/job3/runindex/a/b.json",
                "jobs/job3/other/4.json"):
        assert J.job_named_by(key) is None, key
    assert J.run_named_by("runs/run4.2/run.json") == "run4.2" and J.run_named_by("runs/run4.2/") == "run4.2"
    assert J.run_named_by("runs/run4") is None and J.run_named_by("runs/") is None
    assert J.parent_of("run4.2") == "run4" and J.parent_of("run4") == "run4"


# -- against Azurite -----------------------------------------------------------------------------------------
def _launcher_store(azurite, container=None):
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    return AzureBlobStore(f"{azurite.account_url}/{container or 's' + uuid.uuid4().hex[:12]}",
                          AzureNamedKeyCredential(azurite.account_name, azurite.account_key))


def _task_access(store, job: str):
    """What the backend hands a task of `job`: the job container SAS (agent and output files) and read URLs."""
    from launcher.azure.sas import SasSigner, expiry_after
    from launcher.backends.azure_batch import task_read_urls

    signer = SasSigner(store)
    expiry = expiry_after(timedelta(minutes=30))
    results = store.ensure_job_container(job)
    return (signer.container_url(expiry=expiry, permission="racw", container=results),
            signer.container_url(expiry=expiry, permission="cw", container=results),
            task_read_urls(signer, job, expiry))


def _put(url: str, data: bytes = b"poison") -> int:
    req = urllib.request.Request(url, data=data, method="PUT", headers={"x-ms-blob-type": "BlockBlob"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _status(url: str, method: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _at(sas_url: str, container: str, key: str) -> str:
    """The blob `key` in `container`, addressed with the query of another container's SAS."""
    base, query = sas_url.split("?", 1)
    return f"{base.rsplit('/', 1)[0]}/{container}/{key}?{query}"


@pytest.fixture
def two_jobs(azurite):
    """A store with job1 and job2 as a launch leaves them: records in the store, results in their containers."""
    from launcher.jobs import summary as S

    store = _launcher_store(azurite)
    store.next_number("jobs")
    store.write_bytes("code/launcher-" + "a" * 64 + ".pyz", b"genuine bundle")
    for n, job in enumerate(("job1", "job2"), start=1):
        parent = f"run{n}"
        record = {"job": job, "runs": [f"{parent}.1"], "parents": [parent]}
        store.write_json(f"jobs/{job}/job.json", record)
        store.write_json(f"jobs/{job}/plan.json", {"job": job, "children": []})
        store.write_text(f"jobs/{job}/launched_job_spec.yaml", "component: x\n")
        S.start(store, job, record)
        store.bind_runs(job, [parent])
        store.write_json(f"runs/{parent}.1/run.json", {"run": f"{parent}.1", "job": job, "parent": parent,
                                                        "status": "queued"})
    return store


@pytest.mark.slow
def test_a_tasks_sas_writes_its_own_job_only(two_jobs):
    store = two_jobs
    agent_url, output_url, read_urls = _task_access(store, "job1")
    mine, theirs = store.job_container_name("job1"), store.job_container_name("job2")
    assert mine == f"{store.container_name}-job1" and "sr=c" in agent_url and "sp=racw" in agent_url
    shared = store.container_name
    for sas in (agent_url, output_url):
        # The job's own records and results: accepted.
        assert _put(_at(sas, mine, "runs/run1.1/console.txt"), b"hello") == 201
        # The shared bundle, another job's plan, run records and summary, the store's counters: refused.
        for container, key in ((shared, "code/launcher-" + "a" * 64 + ".pyz"), (shared, "jobs/job2/plan.json"),
                               (shared, "jobs/job1/plan.json"), (shared, "counters/jobs"),
                               (shared, "index/runs/run1"), (theirs, "runs/run2.1/run.json"),
                               (theirs, "jobs/job2/summary.json")):
            assert _put(_at(sas, container, key)) == 403, (container, key)
    # The read URLs read one blob each, and write nothing.
    plan_url = read_urls["jobs/job1/plan.json"]
    assert "sr=b" in plan_url and "sp=r&" in plan_url and _status(plan_url, "GET") == 200
    assert _put(plan_url) == 403
    # No delete and no list, not even in its own container.
    assert _status(_at(agent_url, mine, "runs/run1.1/console.txt"), "DELETE") == 403
    base, query = agent_url.split("?", 1)
    assert _status(f"{base}?restype=container&comp=list&{query}", "GET") == 403
    # Nothing was changed by the refused writes.
    assert store.read_bytes("code/launcher-" + "a" * 64 + ".pyz") == b"genuine bundle"
    assert store.read_json("jobs/job2/plan.json") == {"job": "job2", "children": []}
    assert store.read_json("runs/run2.1/run.json")["status"] == "queued"
    assert store.read_text("counters/jobs").strip() == "1"


@pytest.mark.slow
def test_the_task_store_writes_its_records_and_summary_into_its_job_container(two_jobs):
    from launcher.azure.node_agent import open_task_store
    from launcher.jobs import summary as S

    store = two_jobs
    agent_url, _output, read_urls = _task_access(store, "job1")
    task = open_task_store("job1", agent_url, read_urls)
    assert task.read_json("jobs/job1/plan.json") == {"job": "job1", "children": []}
    assert task.read_json("jobs/job1/job.json")["runs"] == ["run1.1"]
    rec = dict(task.read_json("runs/run1.1/run.json"), status="running")
    task.write_json("runs/run1.1/run.json", rec)  # folds into jobs/job1/summary.json, in the job's container
    assert S.read(store, "job1")["counts"]["running"] == 1 and not task.exists("jobs/job1/cancel")
    task.append_update("jobs/job1/search.jsonl", lambda old: (b'{"e":"search"}\n', None))
    # The launcher's store finds them there: the run through index/runs/run1, the summary by its job.
    assert store.read_json("runs/run1.1/run.json")["status"] == "running"
    results = store.job_container("job1")
    assert sorted(results.list_blob_names()) == ["jobs/job1/search.jsonl", "jobs/job1/summary.json",
                                                 "runs/run1.1/run.json"]
    assert not any(k.startswith("runs/") or k.endswith("summary.json") for k in store.container.list_blob_names())
    # A store blob it was given a read SAS for is read-only: the service refuses the write.
    with pytest.raises(LauncherError, match="403|not authorized|AuthorizationPermissionMismatch|refused"):
        task.write_json("jobs/job1/plan.json", {"job": "job1", "children": [], "run_command": ["evil"]})
    # Anything else is not even asked for: a task's store names only its own job's keys.
    for key in ("jobs/job2/summary.json", "jobs/job2/plan.json", "counters/jobs", "code/x.zip", "index/runs/run2"):
        with pytest.raises(LauncherError, match="not in the results of job1"):
            task.write_bytes(key, b"x")
    assert store.read_json("jobs/job1/plan.json") == {"job": "job1", "children": []}


@pytest.mark.slow
def test_listing_a_run_or_a_job_reads_its_container(two_jobs):
    store = two_jobs
    store.write_text("runs/run1.1/console.txt", "hi\n")
    assert store.list("runs/run1.1/") == ["runs/run1.1/console.txt", "runs/run1.1/run.json"]
    assert store.list("jobs/job1/") == ["jobs/job1/job.json", "jobs/job1/launched_job_spec.yaml",
                                        "jobs/job1/plan.json", "jobs/job1/summary.json"]
    # A broad prefix lists the store container: job records, never results.
    assert [k for k in store.list("jobs/") if k.endswith("/job.json")] == ["jobs/job1/job.json", "jobs/job2/job.json"]
    # A fresh store object (another `launcher status`) finds the run through the index.
    from launcher.store.azure_blob import AzureBlobStore

    other = AzureBlobStore(store.url, store.credential)
    assert other.read_text("runs/run1.1/console.txt") == "hi\n" and other.job_of_run("run1.7") == "job1"
    assert other.job_of_run("run9.1") is None  # not indexed: the store container
    # Removing a job removes its container, and only its.
    assert store.delete_job_container("job1") and not store.delete_job_container("job1")
    assert store.read_json("runs/run1.1/run.json") is None and store.read_json("runs/run2.1/run.json")


@pytest.mark.slow
def test_a_batch_job_writes_nothing_into_the_store_container(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "p", batch_server, azurite)
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=2, per_node=2))
    project.cli("launch", "runspecs/t.yaml", check=True, timeout=240)
    # The launch returns when the runs' records say they ended; Batch uploads a task's std*.txt after its process
    # exits, and only then is the task (and, with every task, the job) completed.
    batch_server.wait_for_job("ws1-job1", "completed", timeout=60)
    store = project.store()
    # Everything the tasks wrote (run records, consoles, metrics, mirrored results, Batch's std*.txt, the summary)
    # is in the job's container; the store container holds what the launcher wrote.
    results = sorted(store.job_container("job1").list_blob_names())
    for name in ("run.json", "console.txt", "metrics.jsonl", "batch/stdout.txt", "batch/stderr.txt"):
        assert f"runs/run1.1/{name}" in results and f"runs/run1.2/{name}" in results, name
    assert "jobs/job1/summary.json" in results and any("/mirrored/" in k for k in results)
    shared = sorted(store.container.list_blob_names())
    assert not [k for k in shared if k.startswith("runs/") or k.endswith(("summary.json", "search.jsonl"))], shared
    assert {k.split("/")[0] for k in shared} <= {"code", "counters", "index", "jobs"}
    assert {k for k in shared if k.startswith("jobs/")} == {f"jobs/job1/{name}" for name in (
        "job.json", "plan.json", "launched_job_spec.yaml", "batch.json")}  # all the launcher's
    # The tasks were given the job's container and read URLs of three store blobs, nothing more.
    tasks = [t for r in batch_server.requests_matching("POST", "/addtaskcollection$") for t in r.json["value"]]
    for t in tasks:
        env = {e["name"]: e["value"] for e in t["environmentSettings"]}
        assert f"/{store.container_name}-job1?" in env["LAUNCHER_STORE_URL"] and "sp=racw" in env["LAUNCHER_STORE_URL"]
        assert sorted(json.loads(env["LAUNCHER_STORE_READ"])) == ["jobs/job1/job.json",
                                                                  "jobs/job1/launched_job_spec.yaml",
                                                                  "jobs/job1/plan.json"]
        out = t["outputFiles"][0]["destination"]["container"]["containerUrl"]
        assert f"/{store.container_name}-job1?" in out and "sp=cw" in out
    # status and runs read the results from there.
    assert project.json("status", "job1")["status"] == "completed"
    runs = project.json("runs", "job1")["runs"]
    assert [r["status"] for r in runs] == ["completed", "completed"] and all("hpmax" in r for r in runs)


@pytest.mark.slow
def test_parallel_first_writes_create_the_job_container_once_and_all_land(azurite):
    """Many threads writing a job's first records at once: each that found no container retries after the
    create, also when another thread created it in between."""
    store = _launcher_store(azurite)
    store.write_json("jobs/job4/job.json", {"job": "job4"})
    parents = [f"run{n}" for n in range(1, 41)]
    store.bind_runs("job4", parents)
    store.write_many([(f"runs/{p}/run.json", b"{}") for p in parents])
    assert sorted(store.job_container("job4").list_blob_names()) == sorted(f"runs/{p}/run.json" for p in parents)


@pytest.mark.parametrize("text", ["not json", "[]", '{"jobs/job1/plan.json": 1}', '"a string"', "null"])
def test_the_agent_refuses_read_urls_that_are_not_a_mapping_of_keys_to_urls(text):
    from launcher.azure.node_agent import _read_urls

    with pytest.raises(SystemExit, match="LAUNCHER_STORE_READ must be a JSON object"):
        _read_urls(text)
    assert _read_urls("") == {} and _read_urls('{"k": "https://x/y?sig=z"}') == {"k": "https://x/y?sig=z"}
