"""Start-up cost of the CLI, next to a bare interpreter start measured in the same run (CPU seconds of the child).

    python benchmarks/startup.py [--runs N]

Prints, per command: the median user+system CPU seconds of N cold starts, and its ratio to `python -c pass`.
Goal (issue 15): `launcher --help` within 2x of the bare start. CPU time rather than wall time: on a shared
2-core machine wall times swing by 2-3x, the CPU a process spends does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child_cpu(cmd: list[str], cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one = work / "one.yaml"
        one.write_text((REPO / "runspecs" / "xt_walk_through.yaml").read_text())
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "launcher --help": [py, "-m", "launcher", "--help"],
            "launcher validate one.yaml": [py, "-m", "launcher", "validate", str(one)],
            "launcher jobs": [py, "-m", "launcher", "jobs"],
        }
        env_note = os.environ.get("OPENBLAS_CORETYPE")
        for cmd in cases.values():  # warm the file cache, not the interpreter
            child_cpu(cmd, work)
        results = {name: statistics.median(child_cpu(cmd, work) for _ in range(args.runs))
                   for name, cmd in cases.items()}
    base = results["python -c pass"]
    print(f"CPU seconds per cold start, median of {args.runs} (baseline: python -c pass){' ' + env_note if env_note else ''}")
    for name, cpu in results.items():
        print(f"  {name:28s} {cpu * 1000:7.1f} ms  {cpu / base:5.2f}x")
    ratio = results["launcher --help"] / base
    print(f"goal --help <= 2x the bare start: {'met' if ratio <= 2 else 'not met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
