"""Azure backend speed: task submission to the Batch test server and code upload to Azurite.

    python benchmarks/azure_submit.py [--runs 10000] [--latency-ms 50]

Prints:
* a 10,000-run job's tasks added with launcher/azure/task_submit.py (what the backend does), N calls at once
  against one at a time, on the same server in the same run; once over loopback and once with a
  simulated round-trip latency (what a real Batch endpoint has), goal: ratio >= 3x and under 15 s;
* the 10,000 queued run records written to the blob store in parallel;
* code upload throughput to Azurite for a 50 MB snapshot (goal >= 100 MB/s) and the bytes sent when it is
  unchanged (goal 0);
* time to "job submitted" of a 10,000-run launch through AzureBatchBackend (record_queued + submit: records,
  create_job, the tasks, update_job) with 50 ms added to every Batch call, goal under 10 s: before (the code as
  it was, kept here as BaselineBackend: parents' records written first, one SDK model per task, the SDK's
  create_tasks, a listing of every task to check) and after (one task template, launcher/azure/task_submit.py,
  the parents' records written while Batch is being called), with the client's and the server's CPU seconds
  apart; --profile adds the client's cProfile of the after row;
* the polling cost per minute of a 10,000-task job (status every 5 s): listing every task with executionInfo
  (before) against task counts + filtered lists (BatchObserver now), in requests.
The Batch test server runs in a process of its own, as a real Batch endpoint does: its CPU (parsing the task
bodies, its bookkeeping) does not count against the client, and they share no GIL. The jobs' pools get no
nodes, so nothing is scheduled. --only-submit prints only the last two figures. Needs Azurite (`make test`
installs it).
"""

from __future__ import annotations

import argparse
import dataclasses
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
    server.faults.add("*" if {every_call} else "POST", ".*" if {every_call} else "/addtaskcollection$",
                      delay={latency}, times=None)
if {no_nodes}:  # the pools get no nodes, so no task runs on this machine (what is measured is the submission)
    server.faults.resize_error(".*", "AccountCoreQuotaReached", max_dedicated=0, max_low_priority=0)
print(json.dumps({{"endpoint": server.endpoint, "key": server.key, "account": server.account}}), flush=True)
for line in sys.stdin:  # a few questions from the benchmark, one a line
    ask, _, arg = line.strip().partition(" ")
    if ask == "count":
        answer = len(server.requests)
    elif ask == "since":
        answer = [r.method + " " + r.path for r in server.requests[int(arg):]]
    elif ask == "cpu":
        answer = time.process_time()
    elif ask == "nodelay":
        server.faults.clear()
        answer = True
    print(json.dumps(answer), flush=True)
server.stop()
"""


class ServerProcess:
    """The Batch test server in a process of its own, as a real Batch endpoint is: its CPU (parsing 10,000 task
    bodies, its own bookkeeping) does not count against the client's, and client and server do not share a GIL."""

    def __init__(self, root: Path, latency: float, *, every_call: bool = False, no_nodes: bool = False) -> None:
        code = SERVER.format(tests=str(REPO / "tests"), root=str(root), latency=latency, every_call=every_call,
                             no_nodes=no_nodes)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.info = json.loads(self.proc.stdout.readline())
        self.endpoint, self.key, self.account = self.info["endpoint"], self.info["key"], self.info["account"]

    def ask(self, question: str):
        self.proc.stdin.write(question + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


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
    from launcher.azure.task_submit import add_tasks

    bodies = [t.as_dict(exclude_readonly=True) for t in tasks]
    for name, conc in (("seq", 1), ("conc", concurrency)):
        job_id = f"bench-{name}"
        client.create_job(bm.BatchJobCreateOptions(id=job_id, pool_info=bm.BatchPoolInfo(pool_id="no-such-pool")))
        t0 = time.perf_counter()
        outcome = add_tasks(client, job_id, bodies, concurrency=conc)  # what the backend does
        out.append(time.perf_counter() - t0)
        assert not (outcome.refused or outcome.not_added), outcome
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
    parser.add_argument("--profile", action="store_true", help="cProfile the client's side of the launch (after)")
    parser.add_argument("--only-submit", action="store_true", help="only the time to job submitted and polling")
    args = parser.parse_args()
    from services.azurite import Azurite

    with tempfile.TemporaryDirectory(prefix="azure-bench-") as tmp:
        tmp = Path(tmp)
        if not args.only_submit:
            azurite = Azurite(tmp / "azurite").start()
            try:
                other_figures(tmp, azurite, args)
            finally:
                azurite.stop()
        # A fresh Azurite for the launch: the one above holds 10,050 records and 200 MB in its in-memory index,
        # which slows every call of Azurite (not of Azure Storage, whose latency does not grow with blob count).
        azurite = Azurite(tmp / "azurite-launch").start()
        try:
            submit_and_poll(tmp, azurite, args)
        finally:
            azurite.stop()
    return 0


def other_figures(tmp: Path, azurite, args) -> None:
    """Task submission concurrent vs one call at a time, the run records, the code upload."""
    plan, tasks = make_tasks(args.runs, f"{azurite.account_url}/bench")
    size = sum(len(json.dumps(t.as_dict())) for t in tasks[:100]) / 100
    print(f"task submission: {args.runs} tasks (~{size:.0f} bytes each), "
          f"task_submit.add_tasks(concurrency={args.concurrency}) vs one call at a time")
    for latency in (0.0, args.latency_ms / 1000):
        server = ServerProcess(tmp / f"batch-{latency}", latency)
        try:
            seq, conc = submit_times(server.info, tasks, args.concurrency)
        finally:
            server.stop()
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


def _backend(azurite, container: str, endpoint: str, key: str, account: str, cls=None):
    from launcher.azure.settings import load_settings
    from launcher.backends.azure_batch import AzureBatchBackend
    from launcher.config import Target

    cls = cls or AzureBatchBackend
    env = {"BENCH_BATCH_KEY": key, "BENCH_STORAGE_KEY": azurite.account_key}
    os.environ.update(env)
    target = Target("bench", "azure-batch", {
        "backend": "azure-batch", "batch_endpoint": endpoint, "batch_account": account,
        "storage_account_url": azurite.account_url, "container": container, "auth": "shared-key",
        "batch_key_env": "BENCH_BATCH_KEY", "storage_key_env": "BENCH_STORAGE_KEY", "vm_size": "Standard_D2s_v3",
        "node_agent_sku": "batch.node.ubuntu 22.04", "python": sys.executable,
        "image": {"publisher": "canonical", "offer": "o", "sku": "s"}})
    backend = cls.__new__(cls)
    backend.target, backend.config = target, None
    backend.settings = load_settings(target, env=env)
    backend.store = AzureBatchBackend.open_store(target, None)
    backend.store.ensure_container()
    return backend


def baseline_backend_class():
    """What submit did before the template and task_submit (kept here, not in the launcher, to measure against):
    the parents' run records written before anything else, one SDK model per task, the SDK's
    create_tasks(max_concurrency=N), which serialises every model again, then a listing of every task to check
    that each was acknowledged."""
    from launcher.backends.azure_batch import AzureBatchBackend

    class BaselineBackend(AzureBatchBackend):
        def _task_bodies(self, plan, resources, agent_url, output_url):
            return [self._task(plan, c.name, resources, agent_url, output_url) for c in plan.children]

        def record_queued(self, plan):  # the parents' records, written before anything is submitted
            from launcher.backends.base import queued_records

            self.store.write_many([(k, (json.dumps(v, indent=2, sort_keys=True) + "\n").encode())
                                   for k, v in queued_records(plan) if v.get("parent") is None])

        def _add_tasks(self, job_id, tasks):
            self.client.create_tasks(job_id, tasks, max_concurrency=self.settings.submit_concurrency)
            present = {t.id.lower() for t in self.client.list_tasks(job_id, select=["id"])}
            assert all(t.id.lower() in present for t in tasks)

    return BaselineBackend


def submit_and_poll(tmp: Path, azurite, args) -> None:
    """A 10,000-run launch's time to "job submitted" (record_queued + submit, what `launcher launch` does after the
    upload), before and after, and what following the job costs per minute. The server runs in its own process;
    client CPU and server CPU are shown apart (process time of each)."""
    from launcher.jobs import records as R

    latency = args.latency_ms / 1000
    server = ServerProcess(tmp / "batch-submit", latency, every_call=True, no_nodes=True)
    try:
        print(f"time to job submitted: {args.runs} runs, +{args.latency_ms:.0f} ms per Batch call "
              f"(every call), submit_concurrency {args.concurrency}, load average {os.getloadavg()[0]:.1f}")
        rows = (("before: a model per task, SDK create_tasks, list check", "bench-before", baseline_backend_class()),
                ("after: one template, task_submit", "bench-after", None))
        for n, (label, container, cls) in enumerate(rows, 1):
            backend = _backend(azurite, container, server.endpoint, server.key, server.account, cls)
            backend.settings = dataclasses.replace(backend.settings, submit_concurrency=args.concurrency)
            plan, _tasks = make_tasks(args.runs, backend.store.url)
            plan.job = f"job{n}"
            backend.store.write_json(R.job_key(plan.job, "plan.json"), plan.to_dict())
            backend.store.write_text(R.job_key(plan.job, "launched_job_spec.yaml"), "job_launcher: {}\n")
            backend.store.put_if_absent(plan.code_key, b"PK")
            server_cpu = server.ask("cpu")
            cpu, t0 = time.process_time(), time.perf_counter()
            if args.profile and cls is None:
                import cProfile
                import pstats

                profile = cProfile.Profile()
                profile.enable()
            backend.record_queued(plan)
            recorded = time.perf_counter() - t0
            backend.submit(plan)
            total = time.perf_counter() - t0
            cpu, server_cpu = time.process_time() - cpu, server.ask("cpu") - server_cpu
            verdict = "ok" if total < 10 else "above goal"
            print(f"  {label:>56}: record_queued {recorded:5.2f} s, job submitted after {total:6.2f} s "
                  f"(goal < 10 s: {verdict}); CPU: client {cpu:5.2f} s, server {server_cpu:5.2f} s")
            if args.profile and cls is None:
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats("launcher|task_submit", 25)
        # Polling cost: the after-job has 10,000 active tasks on a pool that does not run them.
        server.ask("nodelay")
        job_id = "ws1-job2"
        backend._hashes = {}
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        received = []  # body bytes of each answer the client read
        client = BatchClient(server.endpoint, AzureNamedKeyCredential(server.account, server.key),
                             raw_response_hook=lambda r: received.append(len(r.http_response.body() or b"")))
        mark = server.ask("count")
        list(client.list_tasks(job_id, select=["id", "state", "executionInfo"]))  # what each poll did before
        old, old_bytes = server.ask(f"since {mark}"), sum(received)
        mark = server.ask("count")
        received.clear()
        from launcher.backends.azure_batch import BatchObserver

        observer = BatchObserver(backend.settings, backend.store)
        observer.client = client
        observer._observe("job2", backend.store.read_json("jobs/job2/batch.json"))
        new, new_bytes = server.ask(f"since {mark}"), sum(received)
        polls = 60 / 5
        print(f"polling a {args.runs}-task job every 5 s, per minute and follower:")
        print(f"  before (list every task): {len(old) * polls:5.0f} requests, {old_bytes * polls / 1e6:6.2f} MB")
        print(f"  after (BatchObserver):    {len(new) * polls:5.0f} requests, {new_bytes * polls / 1e6:6.2f} MB "
              f"({', '.join(sorted({r.split()[0] + ' ' + r.split('/')[-1] for r in new}))})")
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
