"""How long `launcher changed` takes on a pull request that touches many runspecs, and how long the comment
body takes to render for a large job. Prints figures; not a test.

    .venv/bin/python benchmarks/changed.py [N_RUNSPECS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNSPEC = """\
component: root/Root_Component
experiment_path: ../results/r{i}
job_launcher:
  component: job_launchers/XT
  enabled: {enabled}
  compute_target: {target}
  total_runs: 4
processing_stages:
  - processing_stage:
      component: processors/RL_Proc
      environment:
        component: environments/Maze_Env
        size: 6
      max_iterations: 200
"""

PYPROJECT = '[tool.launcher.targets.local]\nbackend = "local"\n[tool.launcher.targets.azb-cpu]\nbackend = "azure-batch"\n'


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b.invalid", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    launcher = str(Path(sys.executable).parent / "launcher")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        git(repo, "init", "-q", "-b", "main")
        (repo / "pyproject.toml").write_text(PYPROJECT)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        base = git(repo, "rev-parse", "HEAD")
        (repo / "runspecs").mkdir()
        for i in range(n):
            (repo / "runspecs" / f"r{i}.yaml").write_text(
                RUNSPEC.format(i=i, enabled=i % 2, target="local" if i % 3 else "azb-cpu"))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "many")
        head = git(repo, "rev-parse", "HEAD")
        event = repo / "event.json"
        event.write_text(json.dumps({"number": 1, "pull_request": {
            "number": 1, "base": {"sha": base, "repo": {"full_name": "o/r"}},
            "head": {"sha": head, "repo": {"full_name": "o/r"}}}, "repository": {"full_name": "o/r"}}))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = subprocess.run([launcher, "changed", "--event-path", str(event), "--format", "json"], cwd=repo,
                                 check=True, capture_output=True, text=True).stdout
            times.append(time.perf_counter() - t0)
        data = json.loads(out)
        print(f"launcher changed: {len(data['runspecs'])} runspecs ({len(data['launch'])} launching) "
              f"in {min(times):.2f} s (best of 3; {min(times) / n * 1000:.1f} ms per runspec)")

        t0 = time.perf_counter()
        subprocess.run([launcher, "changed", "--help"], check=True, capture_output=True)
        print(f"launcher changed --help: {time.perf_counter() - t0:.2f} s")

    from launcher.report.comment import CommentInput, render_comment

    launch = {"job": "job9", "target": "azb-cpu", "compute_nodes": 100, "runs_per_node": 8, "total_runs": 10_000,
              "runs": [f"run9.{i}" for i in range(10_000)], "parent_runs": [f"ws1/run{i}" for i in range(100)]}
    t0 = time.perf_counter()
    body = render_comment(CommentInput(runspec="runspecs/big.yaml", launch=launch))
    print(f"comment body for 10,000 runs: {len(body):,} chars in {(time.perf_counter() - t0) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
