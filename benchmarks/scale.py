"""A job of many tiny runs on the local backend, to the end: what watching and listing it costs.

Prints, each figure next to a baseline measured in the same run (CPU seconds: wall times on a shared machine
swing with its load):
1. runs/s of the whole job against the rate bare interpreters start at the same parallelism (`python -c pass`);
2. follower CPU per completed run (the `launch` follow loop: jobs.status.wait_for_job every 0.5 s; goal
   <= 0.5 ms) against what the same polls cost reading every run record (the follower before job summaries);
3. supervisor CPU per run (its own, and its runs'), peak RSS of launcher, follower and supervisor, bytes the
   supervisor and its runs wrote per run (write() calls, and what reached the disk);
4. `launcher runs JOB` (full table, to a file) against a plain-Python floor that reads the same records and
   prints the same columns (goal <= 2x); `status JOB` and `jobs` against `launcher --version` and the old
   read-every-run status.

Usage: python benchmarks/scale.py [--runs 10000] [--slots 4]   (try --runs 1000 first: a 10k job takes a while)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from local_backend import RUNSPEC, env, make_project  # noqa: E402  (the benchmark project and environment)

# local_backend's runspec with the fewest iterations that still report once: the run is all overhead.
TINY = RUNSPEC.replace("max_iterations: 200\n      iters_per_report: 20", "max_iterations: 10\n      iters_per_report: 10")
assert TINY != RUNSPEC

FOLLOWER = """
import json, sys, time
from launcher.jobs.status import wait_for_job
from launcher.store.local import LocalStore
store, job = LocalStore(sys.argv[1]), sys.argv[2]
polls = [0]
def seen(summary):
    polls[0] += 1
t0 = time.process_time()
summary = wait_for_job(store, job, poll=0.5, on_update=seen)
print(json.dumps({"polls": polls[0], "status": summary["status"], "done": summary["runs_done"],
                  "loop_cpu": time.process_time() - t0}))
"""

# The floor of `runs JOB`: read every run record of the job and print the same columns, plainly.
FLOOR = """
import json, sys
from pathlib import Path
root, job = Path(sys.argv[1]), sys.argv[2]
names = json.loads((root / "jobs" / job / "job.json").read_text())["runs"]
recs = [json.loads((root / "runs" / n / "run.json").read_text()) for n in names]
cols = ["run", "status", "node", "iters", "hpmax", "exit"]
metrics = sorted({m for r in recs for m in r.get("metrics") or {}})
out = [" ".join(cols + metrics)]
for r in recs:
    out.append(" ".join([str(r.get(c)) for c in ("run", "status", "node", "iters", "hpmax", "exit_code")]
                        + [str((r.get("metrics") or {}).get(m)) for m in metrics]))
sys.stdout.write("\\n".join(out) + "\\n")
"""


def measured(cmd: list[str], *, cwd: Path, stdout=subprocess.DEVNULL, input_text: str | None = None) -> dict:
    """Run cmd; its CPU seconds, peak RSS (MB), wall seconds and output, from wait4 (exactly this process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=stdout, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL, text=True)
    if input_text is not None:
        proc.stdin.write(input_text)
        proc.stdin.close()
    out = proc.stdout.read() if stdout == subprocess.PIPE else ""
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err[-2000:]}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "wall": time.perf_counter() - start, "out": out}


def bare_start_rate(slots: int, count: int) -> float:
    """Interpreters started per second with `slots` at a time: the ceiling for runs that each start one."""
    start = time.perf_counter()
    subprocess.run(["xargs", "-P", str(slots), "-n", "1", sys.executable, "-c", "pass"],
                   input="".join(f"{i}\n" for i in range(count)), text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return count / (time.perf_counter() - start)


class ProcWatch(threading.Thread):
    """Samples a process's /proc counters until it exits: its own CPU, its reaped children's, peak RSS, I/O."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.last = pid, {}

    def run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        # The runs' CPU reaches the supervisor's reaped-children counters only when the job's fork server is
        # reaped, after the last sample may have been taken: so the fork server (and any other child) is
        # sampled too, its own CPU plus what it reaped (the runs), and the larger of the two totals is kept.
        kids: dict[int, float] = {}
        while True:
            try:
                for kid in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split():
                    try:
                        f = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()
                        kids[int(kid)] = sum(int(x) for x in f[11:15]) / tick
                    except (OSError, ValueError):
                        pass
            except OSError:
                pass
            try:
                stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{self.pid}/status").read_text()
                io = dict(line.split(": ") for line in Path(f"/proc/{self.pid}/io").read_text().splitlines())
            except (OSError, ValueError):
                return
            if stat[0] == "Z":
                return
            hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0)
            self.last = {"cpu": (int(stat[11]) + int(stat[12])) / tick,
                         "children_cpu": max((int(stat[13]) + int(stat[14])) / tick, sum(kids.values())),
                         "rss_mb": hwm / 1024,
                         "wchar": int(io["wchar"]), "write_bytes": int(io["write_bytes"])}
            time.sleep(0.2)


def old_status_cpu(store_dir: Path, job: str) -> float:
    """CPU of one status the way it was before summaries: every run record read and counted."""
    from launcher.jobs.status import read_job, read_runs, summarize
    from launcher.store.local import LocalStore

    store = LocalStore(store_dir)
    t0 = time.process_time()
    summarize(read_job(store, job), read_runs(store, job, reconcile_lost=False))
    return time.process_time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        project = make_project(Path(tmp) / "p", runs=args.runs, slots=args.slots)
        (project / "runspecs" / "bench.yaml").write_text(TINY.format(runs=args.runs, per_node=args.slots // 2))
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qam", "tiny"],
                       cwd=project, check=True)
        store_dir = project / ".launcher"
        bare = bare_start_rate(args.slots, 200)

        t0 = time.perf_counter()
        launch = measured([sys.executable, "-m", "launcher", "launch", "runspecs/bench.yaml", "--detach"],
                          cwd=project)
        job = "job1"
        sup_pid = None
        for _ in range(200):
            sup = json.loads((store_dir / "jobs" / job / "supervisor.json").read_text()) \
                if (store_dir / "jobs" / job / "supervisor.json").is_file() else {}
            if sup.get("pid"):
                sup_pid = sup["pid"]
                break
            time.sleep(0.05)
        watch = ProcWatch(sup_pid) if sup_pid else None
        if watch:
            watch.start()
        follow = measured([sys.executable, "-c", FOLLOWER, str(store_dir), job], cwd=project,
                          stdout=subprocess.PIPE)
        wall = time.perf_counter() - t0
        seen = json.loads(follow["out"])
        if watch:
            watch.join(timeout=120)
        sup = watch.last if watch else {}
        done = seen["done"]
        old_poll = min(old_status_cpu(store_dir, job) for _ in range(3))

        print(f"scale: {args.runs} tiny runs on the local backend at {args.slots} slots ({os.cpu_count()} CPUs); "
              f"job {seen['status']}, {done} runs done")
        print(f"  runs/s: {args.runs / wall:6.1f}   bare `python -c pass` starts at {args.slots} at a time: "
              f"{bare:6.1f}/s  (ratio {args.runs / wall / bare:.2f}; wall {wall:.0f} s)")
        per_run_ms = seen["loop_cpu"] / max(done, 1) * 1000
        print(f"  follower CPU: {seen['loop_cpu']:.2f} s in its loop ({follow['cpu']:.2f} s with start-up) over "
              f"{seen['polls']} polls = {per_run_ms:.3f} ms per completed run (goal <= 0.5: "
              f"{'met' if per_run_ms <= 0.5 else 'NOT met'});  the same polls reading every "
              f"run record: {old_poll * seen['polls']:.1f} s = {old_poll * seen['polls'] / max(done, 1) * 1000:.2f} "
              f"ms per run ({old_poll * 1000:.0f} ms per poll at {args.runs} runs)")
        if sup:
            print(f"  supervisor CPU: {sup['cpu'] / args.runs * 1000:.1f} ms per run of its own, "
                  f"{sup['children_cpu'] / args.runs * 1000:.0f} ms per run in the runs' processes")
            print(f"  written per run (supervisor + runs): {sup['wchar'] / args.runs / 1024:.0f} KiB in write() "
                  f"calls, {sup['write_bytes'] / args.runs / 1024:.0f} KiB reached the disk")
        print(f"  peak RSS: launch {launch['rss_mb']:.0f} MB, follower {follow['rss_mb']:.0f} MB, supervisor "
              f"{sup.get('rss_mb', 0):.0f} MB;  launch (--detach) CPU {launch['cpu']:.2f} s")
        store_kib = sum(p.stat().st_size for p in (store_dir / "runs").rglob("*") if p.is_file()) / 1024
        print(f"  store: {store_kib / args.runs:.1f} KiB of run files per run")

        floor = min(measured([sys.executable, "-c", FLOOR, str(store_dir), job], cwd=project)["cpu"]
                    for _ in range(2))
        runs = min(measured([sys.executable, "-m", "launcher", "runs", job], cwd=project)["cpu"] for _ in range(2))
        version = min(measured([sys.executable, "-m", "launcher", "--version"], cwd=project)["cpu"]
                      for _ in range(3))
        bare_cpu = min(measured([sys.executable, "-c", "pass"], cwd=project)["cpu"] for _ in range(3))
        net = (runs - version) / max(floor - bare_cpu, 1e-3)
        print(f"  `runs {job}` full table: {runs:.2f} CPU-s;  plain-Python floor (read, print): {floor:.2f} CPU-s  "
              f"(ratio {runs / floor:.2f}, goal <= 2: {'met' if runs / floor <= 2 else 'NOT met'}; without the "
              f"start-ups, {version:.2f} and {bare_cpu:.2f} CPU-s: {net:.2f})")
        status = min(measured([sys.executable, "-m", "launcher", "status", job], cwd=project)["cpu"]
                     for _ in range(3))
        jobs = min(measured([sys.executable, "-m", "launcher", "jobs"], cwd=project)["cpu"] for _ in range(3))
        print(f"  `status {job}`: {status:.3f} CPU-s, `jobs`: {jobs:.3f} CPU-s;  `launcher --version` start-up: "
              f"{version:.3f} CPU-s; old status reading every run (in-process, no start-up): {old_poll:.3f} CPU-s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
