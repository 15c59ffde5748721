"""Validation speed against check-jsonschema, measured in the same run on the same files.

    python benchmarks/validate.py [--runs N] [--files N]

Prints (1) the cold start of `launcher validate one.yaml` next to `check-jsonschema --schemafile
schemas/runspec.schema.json one.yaml` (goal: within 1.2x), and (2) validate + lint of many runspec files in
one call next to check-jsonschema on the same files (goal: at least 5x faster per file, while doing more:
component defaults, replacements, hyperparameters and the pre-flight rules).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    exe = BIN / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def median_of(cmd: list[str], cwd: Path, runs: int) -> float:
    timed(cmd, cwd)  # warm the page cache and .pyc files: we compare start-up work, not disk reads
    return statistics.median(timed(cmd, cwd) for _ in range(runs))


def make_files(dest: Path, count: int) -> list[Path]:
    """count runspecs: the examples of runspecs/, each with its numbers varied so no two are the same."""
    sources = sorted((REPO / "runspecs").glob("*.yaml"))
    files = []
    for i in range(count):
        src = sources[i % len(sources)]
        text = src.read_text()
        text = text.replace("description: ", f"description: variant {i} of ", 1)
        p = dest / f"{src.stem}_{i:04d}.yaml"
        p.write_text(text)
        files.append(p)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9, help="repetitions of each cold start (median)")
    ap.add_argument("--files", type=int, default=1000, help="files for the throughput measurement")
    args = ap.parse_args()
    launcher, cjs = tool("launcher"), tool("check-jsonschema")
    schema = str(REPO / "schemas" / "runspec.schema.json")
    one = str(REPO / "runspecs" / "xt_walk_through.yaml")
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"

    print(f"# validate benchmark ({env_note})")
    ours = median_of([launcher, "validate", one], REPO, args.runs)
    theirs = median_of([cjs, "--schemafile", schema, one], REPO, args.runs)
    print(f"cold start, one file (median of {args.runs}):")
    print(f"  launcher validate        {ours * 1000:7.1f} ms")
    print(f"  check-jsonschema         {theirs * 1000:7.1f} ms")
    print(f"  ratio launcher/check-jsonschema = {ours / theirs:.2f}x  (goal <= 1.2x)")

    with tempfile.TemporaryDirectory() as tmp:
        files = [str(p) for p in make_files(Path(tmp), args.files)]
        ours = min(timed([launcher, "lint", *files], REPO) for _ in range(3))
        theirs = min(timed([cjs, "--schemafile", schema, *files], REPO) for _ in range(3))
    n = len(files)
    print(f"{n} files in one call (best of 3):")
    print(f"  launcher lint (validate + rules) {ours:6.2f} s = {ours / n * 1000:6.3f} ms/file")
    print(f"  check-jsonschema (schema only)   {theirs:6.2f} s = {theirs / n * 1000:6.3f} ms/file")
    print(f"  speed-up per file = {theirs / ours:.1f}x  (goal >= 5x)")


if __name__ == "__main__":
    main()
