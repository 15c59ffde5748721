"""Overhead of the embedded local backend, and of the code snapshot.

Prints:
1. 200 child runs of a minimal runspec at 8 slots through `launcher launch` (snapshot, supervisor, agent,
   mirroring, run records) against the same 200 `launcher run` commands driven by `xargs -P 8`, in the
   same process tree of this script. Goal: ratio <= 1.3.
2. Snapshot time and bytes for a 1,000-file tree (git-tracked files, deterministic zip).
3. Bytes stored by an unchanged re-launch (--force; the code zip is content-addressed). Goal: 0.
4. Tiny runs (--tiny-runs, a 1-iteration runspec, a project of --tiny-files files) at --tiny-slots slots: runs/s
   from the first run's start to the last one's end, supervisor CPU per run and bytes the supervisor wrote per
   run (/proc: its own threads, where the agent unpacks code and removes folders), for this tree, this tree with
   LAUNCHER_FORK_RUNS=0 (fresh interpreters) and the launcher of --baseline-ref (default main, unpacked into a temp
   folder: a run per fresh interpreter and a full unpack per run), next to the bare interpreter start rate
   (`python -c pass` at the same parallelism). Goal: >= 30 runs/s on 2 cores.

Usage: python benchmarks/local_backend.py [--runs N] [--slots N] [--only-tiny] [--baseline-ref REF]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUNSPEC = """\
description: minimal benchmark runspec
component: root/Root_Component
cuda: false
log_to_tensorboard: false
experiment_path: ../results/bench
job_launcher:
  component: job_launchers/XT
  enabled: 1
  hp_tuning: false
  total_runs: {runs}
  compute_nodes: 2
  runs_per_node: {per_node}
  compute_target: local
processing_stages:
  - processing_stage:
      component: processors/RL_Proc
      environment:
        component: environments/Maze_Env
        agent_placement_seed: randint
      max_iterations: 200
      iters_per_report: 20
"""


def env(code: Path = REPO, **extra: str) -> dict:
    e = dict(os.environ, **extra)
    e["PYTHONPATH"] = str(code) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("GITHUB_ACTIONS", None)
    return e


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=cwd,
                   check=True, capture_output=True)


def make_project(root: Path, *, runs: int, slots: int, extra_files: int = 0) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    (root / "pyproject.toml").write_text(
        f'[tool.launcher]\nworkspace = "ws1"\n\n[tool.launcher.targets.local]\nbackend = "local"\n'
        f"capacity = {slots}\n", encoding="utf-8")
    (root / ".gitignore").write_text(".launcher/\n", encoding="utf-8")
    (root / "runspecs").mkdir()
    (root / "runspecs" / "bench.yaml").write_text(RUNSPEC.format(runs=runs, per_node=slots // 2), encoding="utf-8")
    for i in range(extra_files):
        sub = root / "src" / f"pkg{i // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"module{i}.py").write_text(f'"""module {i}"""\nVALUE = {i}\n' + "# padding\n" * (i % 40),
                                           encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    return root


def launcher(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launcher", *args], cwd=project, env=env(), capture_output=True,
                          text=True, check=True)


def time_launch(project: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = launcher(project, "launch", "runspecs/bench.yaml", "--force", "--format", "json")
    elapsed = time.perf_counter() - start
    result = json.loads(proc.stdout)
    assert result["summary"]["status"] == "completed", result["summary"]
    return elapsed, result


def time_xargs(root: Path, runs: int, slots: int) -> float:
    """The same `launcher run` commands, each in its own folder (../results must not collide), xargs -P."""
    spec = (root.parent / "launch" / "runspecs" / "bench.yaml").read_text(encoding="utf-8")
    for i in range(runs):
        d = root / f"r{i}" / "code"
        d.mkdir(parents=True)
        (d / "bench.yaml").write_text(spec, encoding="utf-8")
    lines = "".join(f"{root}/r{i}/code\n" for i in range(runs))
    cmd = ["xargs", "-P", str(slots), "-I{}", "sh", "-c",
           f'cd "{{}}" && exec "{sys.executable}" -m launcher run bench.yaml --seed 1 > console.txt 2>&1']
    start = time.perf_counter()
    subprocess.run(cmd, input=lines, text=True, check=True, env=env())
    elapsed = time.perf_counter() - start
    failed = [i for i in range(runs) if not (root / f"r{i}" / "results" / "bench" / "summary.json").is_file()]
    assert not failed, f"xargs runs without a summary: {failed[:5]}"
    return elapsed


def store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.rglob("*") if p.is_file())


TINY = RUNSPEC.replace("max_iterations: 200", "max_iterations: 1").replace("iters_per_report: 20",
                                                                           "iters_per_report: 1")


def _proc_numbers(pid: int) -> tuple[float, int] | None:
    """(CPU seconds of the process's own threads, bytes it passed to write()) from /proc; None once gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/io") as fh:
            io = dict(line.split(": ") for line in fh.read().splitlines())
    except (OSError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(io["wchar"])


def tiny_job(root: Path, code: Path, *, runs: int, slots: int, files: int, **extra: str) -> tuple[float, float, float]:
    """(runs/s, supervisor CPU s per run, supervisor bytes written per run) of one job of tiny runs."""
    project = make_project(root, runs=runs, slots=slots, extra_files=files)
    (project / "runspecs" / "bench.yaml").write_text(TINY.format(runs=runs, per_node=max(1, slots // 2)),
                                                     encoding="utf-8")
    git(project, "commit", "-q", "-am", "tiny")
    subprocess.run([sys.executable, "-m", "launcher", "launch", "runspecs/bench.yaml", "--detach"], cwd=project,
                   env=env(code, **extra), capture_output=True, text=True, check=True)
    sup_file = project / ".launcher" / "jobs" / "job1" / "supervisor.json"
    while not sup_file.is_file():
        time.sleep(0.01)
    pid = json.loads(sup_file.read_text())["pid"]
    last = (0.0, 0)
    while (now := _proc_numbers(pid)) is not None:
        last = now
        time.sleep(0.05)
    records = [json.loads(p.read_text()) for p in (project / ".launcher" / "runs").glob("run*.*/run.json")]
    done = [r for r in records if r.get("status") == "completed"]
    assert len(done) == runs, f"{len(done)} of {runs} runs completed: {[r.get('error') for r in records][:3]}"
    from datetime import datetime

    start = min(datetime.fromisoformat(r["started"]) for r in done)
    end = max(datetime.fromisoformat(r["ended"]) for r in done)
    return runs / max((end - start).total_seconds(), 1e-9), last[0] / runs, last[1] / runs


def bare_rate(root: Path, runs: int, slots: int) -> float:
    start = time.perf_counter()
    subprocess.run(["xargs", "-P", str(slots), "-I{}", sys.executable, "-c", "pass"],
                   input="".join(f"{i}\n" for i in range(runs)), text=True, check=True)
    return runs / (time.perf_counter() - start)


def baseline_code(ref: str, dest: Path) -> Path | None:
    """The launcher package of ref, unpacked into dest (no worktree or checkout of this repository is touched)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "launcher"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        return None
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def tiny_runs(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        tmp = Path(tmp)
        old = baseline_code(args.baseline_ref, tmp / "baseline")
        setups = [("this tree (forked runs, shared code)", REPO, {}),
                  ("this tree, LAUNCHER_FORK_RUNS=0", REPO, {"LAUNCHER_FORK_RUNS": "0"})]
        if old is not None:
            setups.append((f"{args.baseline_ref} (before)", old, {}))
        results: dict[str, list] = {name: [] for name, _c, _e in setups}
        bare = []
        for round_ in range(args.rounds):  # alternated: a shared machine's load hits all alike
            bare.append(bare_rate(tmp, args.tiny_runs, args.tiny_slots))
            for i, (name, code, extra) in enumerate(setups):
                results[name].append(tiny_job(tmp / f"r{round_}-{i}", code, runs=args.tiny_runs,
                                              slots=args.tiny_slots, files=args.tiny_files, **extra))
        print(f"tiny runs: {args.tiny_runs} one-iteration runs at {args.tiny_slots} slots, a {args.tiny_files}-file "
              f"project, {os.cpu_count()} CPUs, best of {args.rounds}")
        print(f"  bare interpreter starts (python -c pass, xargs -P {args.tiny_slots}): {max(bare):6.1f} /s")
        for name, rows in results.items():
            rate = max(r[0] for r in rows)
            cpu = min(r[1] for r in rows)
            wrote = min(r[2] for r in rows)
            print(f"  {name:40} {rate:6.1f} runs/s ({rate / max(bare):.2f} of bare starts)  supervisor "
                  f"{cpu * 1000:6.1f} ms CPU/run  {wrote / 1e3:8.1f} KB written/run")
        best = max(r[0] for r in results[setups[0][0]])
        print(f"  goal >= 30 runs/s: {'met' if best >= 30 else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tiny-runs", type=int, default=200)
    parser.add_argument("--tiny-slots", type=int, default=2)
    parser.add_argument("--tiny-files", type=int, default=1000)
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--only-tiny", action="store_true", help="only the tiny-runs figures (4.)")
    args = parser.parse_args()
    tiny_runs(args)
    if args.only_tiny:
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        tmp = Path(tmp)
        project = make_project(tmp / "launch", runs=args.runs, slots=args.slots)
        # Alternate the two, best of --rounds each: a shared machine's load then hits both alike.
        launch_times, xargs_times = [], []
        for i in range(args.rounds):
            xargs_times.append(time_xargs(tmp / f"xargs{i}", args.runs, args.slots))
            elapsed, result = time_launch(project)
            launch_times.append(elapsed)
        launch_s, xargs_s = min(launch_times), min(xargs_times)
        ratio = launch_s / xargs_s
        print(f"local backend: {args.runs} child runs at {args.slots} slots ({os.cpu_count()} CPUs), "
              f"best of {args.rounds}")
        print(f"  launcher launch (follow to the end): {launch_s:7.2f} s  (all rounds: "
              f"{', '.join(f'{t:.1f}' for t in launch_times)}; {result['summary']['runs_completed']} completed)")
        print(f"  xargs -P {args.slots} launcher run:           {xargs_s:7.2f} s  (all rounds: "
              f"{', '.join(f'{t:.1f}' for t in xargs_times)})")
        print(f"  ratio: {ratio:.2f}  (goal <= 1.3: {'met' if ratio <= 1.3 else 'NOT met'})")

        from launcher.package import build_snapshot

        big = make_project(tmp / "big", runs=1, slots=2, extra_files=1000)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            snap = build_snapshot(big)
            times.append(time.perf_counter() - t0)
        print(f"snapshot of a {snap.file_count}-file tree: {min(times) * 1000:.0f} ms (best of 3), "
              f"{snap.byte_count:,} bytes of files -> {snap.zip_size:,} bytes zipped")

        before = store_bytes(big / ".launcher")
        launcher(big, "launch", "runspecs/bench.yaml", "--detach")
        after_first = store_bytes(big / ".launcher")
        code_first = store_bytes(big / ".launcher" / "code")
        relaunch = json.loads(launcher(big, "launch", "runspecs/bench.yaml", "--force", "--detach",
                                       "--format", "json").stdout)
        code_second = store_bytes(big / ".launcher" / "code")
        print(f"first launch stored {after_first - before:,} bytes ({code_first:,} of them code); "
              f"unchanged re-launch uploaded {relaunch['uploaded_bytes']:,} code bytes, code store grew by "
              f"{code_second - code_first:,} bytes (goal 0: {'met' if code_second == code_first else 'NOT met'})")
        for job in ("job1", "job2"):
            subprocess.run([sys.executable, "-m", "launcher", "status", job], cwd=big, env=env(),
                           capture_output=True)
        _wait_all(big)
    return 0


def _wait_all(project: Path, timeout: float = 60) -> None:
    """Let the re-launch jobs end before the temp folder goes away."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sups = [json.loads(p.read_text()) for p in (project / ".launcher" / "jobs").glob("*/supervisor.json")]
        if all(s.get("finished") for s in sups):
            return
        time.sleep(0.2)


if __name__ == "__main__":
    raise SystemExit(main())
