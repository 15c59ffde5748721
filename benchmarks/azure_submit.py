"""Azure backend speed: task submission to the Batch test server and code upload to Azurite.

    python benchmarks/azure_submit.py [--runs 10000] [--latency-ms 50]

Prints:
* a 10,000-run job submitted with create_tasks(max_concurrency=N) (what the backend does) against sequential
  submission (max_concurrency=None), on the same server in the same run; once over loopback and once with a
  simulated round-trip latency (what a real Batch endpoint has), goal: ratio >= 3x and under 15 s;
* the 10,000 queued run records written to the blob store in parallel;
* code upload throughput to Azurite for a 50 MB snapshot (goal >= 100 MB/s) and the bytes sent when it is
  unchanged (goal 0);
* time to "job submitted" of a 10,000-run launch through AzureBatchBackend (records, create_job, create_tasks,
  update_job) with 50 ms per Batch call: before (every child's queued record uploaded first) and after (only the
  parents'; children implied by the plan), goal under 10 s;
* the polling cost per minute of a 10,000-task job (status every 5 s): listing every task with executionInfo
  (before) against task counts + filtered lists (BatchObserver now), in requests and bytes.
The Batch test server runs in its own process (so client and server do not share one GIL); the tasks'
job points at a pool that does not exist, so nothing is scheduled. Needs Azurite (`make test` installs it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

SERVER = """
import json, sys, time
sys.path[:0] = [{tests!r}]
from services.batch_server import BatchTestServer
server = BatchTestServer(root={root!r}).start()
if {latency} > 0:
    server.faults.add("POST", "/addtaskcollection$", delay={latency}, times=None)
print(json.dumps({{"endpoint": server.endpoint, "key": server.key, "account": server.account}}), flush=True)
sys.stdin.read()
server.stop()
"""


def start_server(root: Path, latency: float):
    code = SERVER.format(tests=str(REPO / "tests"), root=str(root), latency=latency)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    return proc, info


def make_tasks(runs: int, container_url: str):
    """The tasks the backend would submit for a `runs`-run job (real shapes: resource files, SAS, outputs)."""
    from launcher.backends.azure_batch import AzureBatchBackend
    from launcher.config import Target
    from launcher.jobs.plan import build_plan

    target = Target("bench", "azure-batch", {
        "backend": "azure-batch", "batch_endpoint": "http://127.0.0.1:1", "storage_account_url": "http://x/acct",
        "vm_size": "Standard_D2s_v3", "node_agent_sku": "batch.node.ubuntu 22.04",
        "image": {"publisher": "canonical", "offer": "o", "sku": "s"}})
    backend = AzureBatchBackend.__new__(AzureBatchBackend)
    from launcher.azure.settings import load_settings

    backend.settings = load_settings(target, env={})
    backend._hashes = {"plan.json": "0" * 64, "launched_job_spec.yaml": "0" * 64, "bundle": "0" * 64}
    settings = {"total_runs": runs, "compute_nodes": 50, "runs_per_node": 4, "hp_tuning": False}
    plan = build_plan(job="job1", workspace="ws1", target="bench", backend="azure-batch", settings=settings,
                      parents=[f"run{i}" for i in range(1, 51)], code_key="code/" + "a" * 64 + ".zip")
    sas = "?sv=2024-05-04&se=2030-01-01T00%3A00%3A00Z&sr=c&sp=racw&sig=" + "x" * 44
    resources = [("code", f"{container_url}/code/{'a' * 64}.zip{sas}", "code.zip"),
                 ("bundle", f"{container_url}/code/launcher-0123456789abcdef.pyz{sas}", "launcher-0123456789abcdef.pyz")]
    return plan, [backend._task(plan, c.name, resources, container_url + sas, container_url + sas)
                  for c in plan.children]


def submit_times(info: dict, tasks, concurrency: int) -> tuple[float, float]:
    from azure.batch import BatchClient
    from azure.batch import models as bm
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(info["endpoint"], AzureNamedKeyCredential(info["account"], info["key"]))
    out = []
    for name, conc in (("seq", None), ("conc", concurrency)):
        job_id = f"bench-{name}"
        client.create_job(bm.BatchJobCreateOptions(id=job_id, pool_info=bm.BatchPoolInfo(pool_id="no-such-pool")))
        t0 = time.perf_counter()
        client.create_tasks(job_id, tasks, max_concurrency=conc)
        out.append(time.perf_counter() - t0)
        counts = client.get_job_task_counts(job_id).task_counts
        assert counts.active == len(tasks), counts
    client.close()
    return out[0], out[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--upload-mb", type=int, default=50)
    args = parser.parse_args()
    from services.azurite import Azurite

    with tempfile.TemporaryDirectory(prefix="azure-bench-") as tmp:
        tmp = Path(tmp)
        azurite = Azurite(tmp / "azurite").start()
        try:
            plan, tasks = make_tasks(args.runs, f"{azurite.account_url}/bench")
            size = sum(len(json.dumps(t.as_dict())) for t in tasks[:100]) / 100
            print(f"task submission: {args.runs} tasks (~{size:.0f} bytes each), "
                  f"create_tasks(max_concurrency={args.concurrency}) vs sequential")
            for latency in (0.0, args.latency_ms / 1000):
                proc, info = start_server(tmp / f"batch-{latency}", latency)
                try:
                    seq, conc = submit_times(info, tasks, args.concurrency)
                finally:
                    proc.stdin.close()
                    proc.wait(timeout=30)
                label = "loopback" if not latency else f"+{latency * 1000:.0f} ms per call"
                verdict = "ok" if seq / conc >= 3 and conc < 15 else "below goal"
                print(f"  {label:>18}: sequential {seq:6.2f} s, concurrent {conc:6.2f} s, ratio {seq / conc:4.1f}x "
                      f"(goal >= 3x and < 15 s: {verdict})")

            from azure.core.credentials import AzureNamedKeyCredential

            from launcher.backends.azure_batch import AzureBatchBackend
            from launcher.store.azure_blob import AzureBlobStore

            store = AzureBlobStore(f"{azurite.account_url}/bench",
                                   AzureNamedKeyCredential(azurite.account_name, azurite.account_key))
            store.ensure_container()
            backend = AzureBatchBackend.__new__(AzureBatchBackend)
            backend.store = store
            from launcher.backends.base import queued_records

            encoded = [(k, (json.dumps(v) + "\n").encode()) for k, v in queued_records(plan)]
            t0 = time.perf_counter()
            store.write_many(encoded, label="recording runs")
            dt = time.perf_counter() - t0
            n = len(encoded)
            print(f"run records: {n} queued records written in parallel in {dt:.2f} s ({n / dt:.0f}/s) "
                  "(what a launch wrote before; now only the parents' are written)")

            data = os.urandom(args.upload_mb * 1024 * 1024)
            best = None
            for i in range(3):
                key = f"code/bench-{i}.zip"
                t0 = time.perf_counter()
                sent = store.upload(key, data, if_absent=True)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            mbps = args.upload_mb / best
            t0 = time.perf_counter()
            again = store.upload("code/bench-0.zip", data, if_absent=True)
            skip = time.perf_counter() - t0
            print(f"code upload: {args.upload_mb} MB in {best:.2f} s = {mbps:.0f} MB/s (best of 3; goal >= 100 MB/s: "
                  f"{'ok' if mbps >= 100 else 'below goal'}); unchanged: {again} bytes sent in {skip * 1000:.0f} ms")
            assert sent == len(data) and again == 0
            submit_and_poll(tmp, azurite, args)
        finally:
            azurite.stop()
    return 0


def _backend(azurite, container: str, endpoint: str, key: str, account: str):
    from launcher.azure.settings import load_settings
    from launcher.backends.azure_batch import AzureBatchBackend
    from launcher.config import Target

    env = {"BENCH_BATCH_KEY": key, "BENCH_STORAGE_KEY": azurite.account_key}
    os.environ.update(env)
    target = Target("bench", "azure-batch", {
        "backend": "azure-batch", "batch_endpoint": endpoint, "batch_account": account,
        "storage_account_url": azurite.account_url, "container": container, "auth": "shared-key",
        "batch_key_env": "BENCH_BATCH_KEY", "storage_key_env": "BENCH_STORAGE_KEY", "vm_size": "Standard_D2s_v3",
        "node_agent_sku": "batch.node.ubuntu 22.04", "python": sys.executable,
        "image": {"publisher": "canonical", "offer": "o", "sku": "s"}})
    backend = AzureBatchBackend.__new__(AzureBatchBackend)
    backend.target, backend.config = target, None
    backend.settings = load_settings(target, env=env)
    backend.store = AzureBatchBackend.open_store(target, None)
    backend.store.ensure_container()
    return backend


def submit_and_poll(tmp: Path, azurite, args) -> None:
    """A 10,000-run launch's time to "job submitted", and what following it costs per minute."""
    from launcher.backends.base import queued_records
    from launcher.jobs import records as R
    from services.batch_server import BatchTestServer

    latency = args.latency_ms / 1000
    server = BatchTestServer(root=tmp / "batch-submit").start()
    try:
        server.faults.add("*", ".*", delay=latency, times=None)  # every Batch call takes 50 ms more
        # The pools get no nodes, so no task runs on this machine (what is measured is the submission).
        server.faults.resize_error(".*", "AccountCoreQuotaReached", max_dedicated=0, max_low_priority=0)
        print(f"time to job submitted: {args.runs} runs, +{args.latency_ms:.0f} ms per Batch call")
        for label, container, all_records in (("before: every run record first", "bench-before", True),
                                              ("after: parent records only", "bench-after", False)):
            backend = _backend(azurite, container, server.endpoint, server.key, server.account)
            plan, _tasks = make_tasks(args.runs, backend.store.url)
            plan.job = f"job{1 + all_records}"
            backend.store.write_json(R.job_key(plan.job, "plan.json"), plan.to_dict())
            backend.store.write_text(R.job_key(plan.job, "launched_job_spec.yaml"), "job_launcher: {}\n")
            backend.store.put_if_absent(plan.code_key, b"PK")
            t0 = time.perf_counter()
            if all_records:  # what record_queued did before: 10,050 uploads
                encoded = [(k, (json.dumps(v) + "\n").encode()) for k, v in queued_records(plan)]
                backend.store.write_many(encoded, label="recording runs")
            else:
                backend.record_queued(plan)
            recorded = time.perf_counter() - t0
            backend.submit(plan)
            total = time.perf_counter() - t0
            verdict = "ok" if total < 10 else "above goal"
            print(f"  {label:>32}: records {recorded:6.2f} s, job submitted after {total:6.2f} s "
                  f"(goal < 10 s: {verdict})")
        # Polling cost: the after-job has 10,000 active tasks on a pool that does not run them.
        server.faults.clear()
        job_id = "ws1-job1"
        backend._hashes = {}
        before = len(server.requests)
        client = backend.client
        list(client.list_tasks(job_id, select=["id", "state", "executionInfo"]))  # what each poll did before
        old = server.requests[before:]
        mark = len(server.requests)
        from launcher.backends.azure_batch import BatchObserver

        observer = BatchObserver(backend.settings, backend.store)
        observer.client = client
        observer._observe("job1", backend.store.read_json("jobs/job1/batch.json"))
        new = server.requests[mark:]
        polls = 60 / 5
        print(f"polling a {args.runs}-task job every 5 s, per minute and follower:")
        print(f"  before (list every task): {len(old) * polls:5.0f} requests")
        print(f"  after (BatchObserver):    {len(new) * polls:5.0f} requests "
              f"({', '.join(sorted({r.method + ' ' + r.path.split('/')[-1] for r in new}))})")
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
