"""The test projects' templates, held once: the pyproject.toml tables and the tiny runspec that the job tests,
the Azure harness tests, the workflow rehearsals and the lint tests of searches write into their projects,
and the real git repository they live in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: the package table of an experiments project (the rehearsals use the launcher's own, or none)
PACKAGE = '[project]\nname = "demo-experiments"\nversion = "0"\n\n'

#: no trailing slash on .launcher: in the rehearsals it is a link to the durable store, which `.launcher/` misses
GITIGNORE = ".launcher\n/results/\n"


def launcher_table(*, ledger: bool = False) -> str:
    return '[tool.launcher]\nworkspace = "ws1"\n' + ('ledger = "jobs.md"\n' if ledger else "") + "\n"


def local_target(name: str = "local", *, capacity: int | None = None) -> str:
    return (f'[tool.launcher.targets.{name}]\nbackend = "local"\n'
            + (f"capacity = {capacity}\n" if capacity is not None else "") + "\n")


AZURE_TARGET = """\
[tool.launcher.targets.{name}]
backend = "azure-batch"
batch_endpoint = "{endpoint}"
batch_account = "{account}"
storage_account_url = "{storage_url}"
container = "{container}"
auth = "shared-key"
batch_key_env = "TEST_BATCH_KEY"
storage_key_env = "TEST_STORAGE_KEY"
vm_size = "Standard_D2s_v3"
image = {{ publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }}
node_agent_sku = "batch.node.ubuntu 22.04"
python = "{python}"
max_wall_clock = "30m"
mirror_interval = 0.3
{extra}
"""


def azure_target(name: str, *, endpoint: str, account: str, storage_url: str, container: str, python: str,
                 extra: str = "") -> str:
    """An azure-batch target with shared-key auth (keys in TEST_BATCH_KEY / TEST_STORAGE_KEY); extra: more keys."""
    return AZURE_TARGET.format(name=name, endpoint=endpoint, account=account, storage_url=storage_url,
                               container=container, python=python, extra=extra)


TINY = """\
{description}component: root/Root_Component
cuda: false
log_to_tensorboard: false
experiment_path: <experiment_path>
job_launcher:
  component: job_launchers/XT
  enabled: {enabled}
  hp_tuning: {hp_tuning}
  total_runs: {total_runs}
  compute_nodes: {nodes}
  runs_per_node: {per_node}
  compute_target: {target}
{launcher_extra}{hyperparameters}
string_replacements:
  <experiment_path>: ../results/{experiment}

forward_definitions:
  - environment: &env
      component: environments/Maze_Env
      agent_placement_seed: randint
{environment}
processing_stages:
  - processing_stage:
      component: processors/RL_Proc
      environment: *env
{stage_extra}      max_iterations: {iters}
      iters_per_report: {report}
"""


def tiny_runspec(*, description: str | None = "tiny job", target: str = "local", enabled=1, hp_tuning="false",
                 total_runs=2, nodes=1, per_node=2, low_priority=None, hold=None, hyperparameters: str = "",
                 experiment: str = "tiny", environment: str = "", stage_extra: str = "", iters=1000,
                 report=100) -> str:
    """A small runspec on the built-in components. hyperparameters, environment (the environment's own
    settings) and stage_extra are indented YAML lines; low_priority and hold are left out when None."""
    launcher_extra = "".join(f"  {key}: {value}\n" for key, value in (("low_priority", low_priority),
                                                                        ("hold", hold)) if value is not None)
    return TINY.format(description=f"description: {description}\n" if description is not None else "",
                       enabled=enabled, hp_tuning=hp_tuning, total_runs=total_runs, nodes=nodes, per_node=per_node,
                       target=target, launcher_extra=launcher_extra, hyperparameters=hyperparameters,
                       experiment=experiment, environment=environment, stage_extra=stage_extra, iters=iters,
                       report=report)


def git(project: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True, text=True).stdout


def init_project(root: Path, pyproject: str, runspecs: dict[str, str]) -> None:
    """A git repository at root (branch main, one commit): pyproject.toml, .gitignore and runspecs/NAME files."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (root / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    (root / "runspecs").mkdir()
    for name, text in runspecs.items():
        (root / "runspecs" / name).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")


def example_runspecs(*names: str, target: str = "local") -> dict[str, str]:
    """The repository's example runspecs by name, retargeted (they target `local`: a pull request to this
    repository launches without an account)."""
    return {name: (REPO / "runspecs" / name).read_text(encoding="utf-8").replace(
        "compute_target: local", f"compute_target: {target}") for name in names}


def status_here(job: str, project: Path, env: dict, *, target: str | None = None) -> dict:
    """`launcher status JOB --format json` run in this process, for the tests' polling loops: the same command and
    output as the CLI's, without a fresh interpreter and its imports on every poll (0.1 CPU-s locally, 0.4 with
    the Azure SDK), which added up to minutes of the suite's CPU. AssertionError when it does not exit 0."""
    import contextlib
    import io
    import json

    from launcher.azure import credentials
    from launcher.cli import main

    credentials._CACHE.clear()  # as in a new CLI process: each test's Batch server has keys of its own
    argv = ["status", job, "--format", "json", "--project", str(project)] + (["--target", target] if target else [])
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if code != 0:
        raise AssertionError(f"launcher {' '.join(argv)} -> {code}\n{out.getvalue()}\n{err.getvalue()}")
    return json.loads(out.getvalue())
