"""Rehearsal of the runspecs pipeline: the workflow file itself, played step by step on this machine.

The jobs, their `if:` conditions, matrices, environment and `run:` scripts come from
.github/workflows/runspecs-reusable.yml (through runspecs.yml's `with:`), so the rehearsal cannot drift from
the workflow. Around it: a real bare git repository as `origin` (GitHub), GitHub's environment files in temp
folders, a fake GitHub REST API on 127.0.0.1 for the sticky comment, and the local target.

One stand-in: the local target's store lives in the checkout (`.launcher`), and a fresh checkout would lose
it; in production that store is Azure Blob and outlives every runner. The player links each payload
checkout's `.launcher` to one folder that outlives the runs, so idempotency across runs is real here too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gh_helpers import Repo, git, pull_request_event
from launcher.report.comment import marker
from tests import projects
from tests.projects import GITIGNORE, launcher_table, local_target
from workflow_runner import Evaluator, Player, interpolate, launcher_env

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
REPOSITORY = "octo/exp"

PYPROJECT = launcher_table(ledger=True) + local_target()


def tiny_runspec(total_runs: int = 2, size: int = 6, enabled: int = 1) -> str:
    return projects.tiny_runspec(description=None, total_runs=total_runs, enabled=enabled, low_priority="true",
                                 iters=200, report=20, environment=f"      size: {size}\n")


BROKEN = """\
component: root/Root_Component
experiment_path: ../results/broken
job_launcher:
  component: job_launchers/XT
  enabld: 1
"""


def reusable_inputs(dispatch_inputs: dict) -> dict:
    """runspecs.yml's `with:` evaluated as GitHub does for the event (inputs are empty outside dispatch)."""
    caller = yaml.safe_load((WORKFLOWS / "runspecs.yml").read_text())["jobs"]["runspecs"]
    ev = Evaluator({"inputs": dispatch_inputs}, {})
    return {k: interpolate(v, ev) for k, v in caller["with"].items()}


class Stage:
    """origin (bare), a developer clone, the durable store, the fake GitHub, and the player."""

    def __init__(self, tmp: Path, fake, tools, *, workflow: str = "runspecs-reusable.yml", vars=None,
                 extra_env=None) -> None:
        self.tmp = tmp
        self.fake = fake
        self.tools = tools
        # as docs/github.md's caller does: the launcher as a pinned package (here: this checkout's wheel)
        self.inputs = {"launcher-package": str(tools.launcher_wheel)}
        self.origin = tmp / "origin.git"
        self.origin.mkdir()
        git(self.origin, "init", "-q", "--bare", "-b", "main")
        self.dev = Repo(tmp / "dev")
        self.dev.git("remote", "add", "origin", str(self.origin))
        self.store = tmp / "durable-store"
        self.store.mkdir()
        (tmp / "home").mkdir()
        env = launcher_env(tmp)
        env.update({"GITHUB_API_URL": fake.url, "GITHUB_SERVER_URL": "https://github.invalid"})
        env.update(extra_env or {})
        self.env, self.vars = env, dict(vars or {})  # the runner's environment, the repository's variables
        self.player = self.make_player(workflow)

    def make_player(self, workflow: str | Path) -> Player:
        """A player of one workflow file on this stage (the runspecs pipeline, the ledger workflow, an old copy)."""
        path = workflow if isinstance(workflow, Path) else WORKFLOWS / workflow
        return Player(path, origin=self.origin, root=self.tmp / "runner" / path.stem, repository=REPOSITORY,
                      env=self.env, wheelhouse=self.tools.wheelhouse, venvs=self.tools.venvs,
                      after_checkout=self._link_store, vars=self.vars)

    def _link_store(self, dest: Path, ref: str) -> None:
        if dest.name == "payload":
            (dest / ".launcher").symlink_to(self.store, target_is_directory=True)

    def push(self, branch: str) -> str:
        self.dev.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return self.dev.git("rev-parse", "HEAD")

    def play_pr(self, payload: dict):
        head = payload["pull_request"]["head"]["sha"]
        return self.player.play("pull_request", payload, inputs={**reusable_inputs({}), **self.inputs}, sha=head,
                                ref=f"refs/pull/{payload['number']}/merge", token=self.fake.token)

    def play_dispatch(self, branch: str, sha: str, inputs: dict, actor: str):
        payload = {"ref": f"refs/heads/{branch}", "inputs": inputs, "sender": {"login": actor},
                   "repository": {"full_name": REPOSITORY, "default_branch": "main"}}
        return self.player.play("workflow_dispatch", payload, inputs={**reusable_inputs(inputs), **self.inputs}, sha=sha,
                                ref=f"refs/heads/{branch}", token=self.fake.token)

    def ledger_rows(self) -> list[str]:
        """The ledger's rows on origin's main, by job number (the ledger itself lists the newest first)."""
        text = git(self.origin, "show", "main:jobs.md")
        rows = [ln for ln in text.splitlines() if re.match(r"^\| job\d+ ", ln)]
        return sorted(rows, key=lambda r: int(r.split("|")[1].strip()[3:]))

    def store_jobs(self) -> list[str]:
        return sorted(p.name for p in (self.store / "jobs").iterdir()) if (self.store / "jobs").is_dir() else []


def results(run) -> dict[str, str]:
    return {name: job.result for name, job in run.jobs.items()}


def failed_steps(run) -> str:
    out = []
    for job in run.jobs.values():
        for s in job.steps():
            if s.outcome == "failure":
                out.append(f"[{job.name}] {s.name}\n{s.run}\n--- stdout\n{s.stdout[-3000:]}\n--- stderr\n"
                           f"{s.stderr[-3000:]}")
    return "\n\n".join(out)


def our_comments(fake, pr: int) -> list[dict]:
    return [c for c in fake.comments.get(pr, []) if c["user"]["login"] == "github-actions[bot]"]


@pytest.mark.slow
def test_pull_request_synchronize_rerun_and_dispatch(tmp_path, fake_github, runner_tools):
    st = Stage(tmp_path, fake_github, runner_tools)
    st.dev.write("pyproject.toml", PYPROJECT)
    st.dev.write(".gitignore", GITIGNORE)
    st.dev.write("runspecs/existing.yaml", tiny_runspec(enabled=0))
    st.dev.write("README.md", "experiments\n")
    base = st.dev.commit("main")
    st.push("main")

    # -- 1. a pull request adds a runspec whose launcher is enabled (local target) --------------------------
    st.dev.git("checkout", "-q", "-b", "feature")
    st.dev.write("runspecs/tiny.yaml", tiny_runspec())
    st.dev.write("runspecs/other.yaml", tiny_runspec(enabled=0, size=8))
    head1 = st.dev.commit("add tiny")
    st.push("feature")
    fake_github.pulls.append({"number": 12, "head": {"ref": "feature"}})
    run1 = st.play_pr(pull_request_event(12, base, head1, repo=REPOSITORY))
    assert results(run1) == {"plan": "success", "smoke": "success", "launch": "skipped",
                             "launch-local": "success", "record": "success", "gate": "success"}, failed_steps(run1)

    plan = run1["plan"].outputs
    assert [m["runspec"] for m in json.loads(plan["matrix"])["include"]] == ["runspecs/other.yaml",
                                                                           "runspecs/tiny.yaml"]
    assert json.loads(plan["launch_matrix"]) == {"include": []}  # nothing for the token job: local target
    assert [m["runspec"] for m in json.loads(plan["local_matrix"])["include"]] == ["runspecs/tiny.yaml"]
    assert plan["fork"] == "false" and plan["origin"] == "PR #12"
    assert "| `runspecs/tiny.yaml` | yes | local (local) |" in run1["plan"].summary()
    assert "Runspec validation" in run1["plan"].summary()
    assert len(run1["smoke"].legs) == 2
    smoke_summary = run1["smoke"].summary()
    assert "**Smoke run:** passed" in smoke_summary

    rows = st.ledger_rows()
    assert len(rows) == 1 and "| job1 |" in rows[0] and "runspecs/tiny.yaml" in rows[0] and "PR #12" in rows[0]
    comments = our_comments(fake_github, 12)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith(marker("runspecs/tiny.yaml"))
    assert "launched as **job1**" in body and "| Target | local |" in body
    assert "| Nodes × runs per node | 1 × 2 |" in body and "| Total runs | 2 |" in body
    assert "`ws1/run1`" in body and "`run1.1`" in body
    assert "**Smoke run:** passed" in body
    # launch-local followed the job to its end: the comment shows its results and a chart of the objective
    assert "launched as **job1**, completed" in body and "**Results:** completed, 2/2 runs done" in body
    assert "```mermaid\nxychart-beta\n" in body and "| 1 | `run1." in body
    assert "launcher plot job1" in body and "launcher runs job1" in body
    assert "[ledger row](https://github.invalid/octo/exp/blob/main/jobs.md)" in body

    # -- 2. synchronize: a second commit changes the runspec -> one more job, one more row, same comment ---
    st.dev.write("runspecs/tiny.yaml", tiny_runspec(total_runs=3))
    head2 = st.dev.commit("three runs")
    st.push("feature")
    sync = pull_request_event(12, base, head2, repo=REPOSITORY, action="synchronize")
    run2 = st.play_pr(sync)
    assert results(run2)["record"] == "success" and results(run2)["gate"] == "success", failed_steps(run2)
    rows = st.ledger_rows()
    assert [r.split("|")[1].strip() for r in rows] == ["job1", "job2"]
    comments = our_comments(fake_github, 12)
    assert len(comments) == 1 and "launched as **job2**" in comments[0]["body"]
    assert "| Total runs | 3 |" in comments[0]["body"]
    assert st.store_jobs() == ["job1", "job2"]

    # -- 3. a re-run of the same event launches nothing new ---------------------------------------------------
    run3 = st.play_pr(sync)
    assert results(run3)["gate"] == "success", failed_steps(run3)
    assert st.store_jobs() == ["job1", "job2"]
    assert [r.split("|")[1].strip() for r in st.ledger_rows()] == ["job1", "job2"]
    launch_out = json.loads((run3["launch-local"].legs[0]["workspace"] / "results" / "launch.json").read_text())
    assert launch_out["status"] == "exists" and launch_out["job"] == "job2"
    comments = our_comments(fake_github, 12)
    assert len(comments) == 1 and "already launched as **job2**" in comments[0]["body"]

    # -- 4. workflow_dispatch of another runspec on the branch: comment on the branch's open PR ---------------
    run4 = st.play_dispatch("feature", head2, {"runspec": "runspecs/other.yaml", "target": "local",
                                               "dry_run": False, "force": False}, actor="carol")
    assert [m["runspec"] for m in json.loads(run4["plan"].outputs["matrix"])["include"]] == ["runspecs/other.yaml"]
    # other.yaml has its launcher disabled: validated and smoke-run, not launched
    assert results(run4) == {"plan": "success", "smoke": "success", "launch": "skipped",
                             "launch-local": "skipped", "record": "skipped", "gate": "success"}, failed_steps(run4)

    st.dev.write("runspecs/other.yaml", tiny_runspec(size=8))
    head3 = st.dev.commit("enable other")
    st.push("feature")
    run5 = st.play_dispatch("feature", head3, {"runspec": "runspecs/other.yaml", "target": "",
                                               "dry_run": False, "force": False}, actor="carol")
    assert results(run5)["record"] == "success" and results(run5)["gate"] == "success", failed_steps(run5)
    rows = st.ledger_rows()
    assert [r.split("|")[1].strip() for r in rows] == ["job1", "job2", "job3"]
    assert "dispatch by @carol" in rows[-1]
    others = [c for c in our_comments(fake_github, 12) if c["body"].startswith(marker("runspecs/other.yaml"))]
    assert len(others) == 1 and "launched as **job3**" in others[0]["body"]
    assert len(our_comments(fake_github, 12)) == 2  # one per runspec

    # -- 5. a dry run stops after the smoke run ----------------------------------------------------------------
    run6 = st.play_dispatch("feature", head3, {"runspec": "runspecs/other.yaml", "target": "",
                                               "dry_run": True, "force": True}, actor="carol")
    assert results(run6) == {"plan": "success", "smoke": "success", "launch": "skipped",
                             "launch-local": "skipped", "record": "skipped", "gate": "success"}
    assert st.store_jobs() == ["job1", "job2", "job3"]
    # nothing was ever pushed to the pull request's branch: only the ledger moved, on main
    assert git(st.origin, "rev-parse", "refs/heads/feature") == head3
    assert git(st.origin, "log", "--format=%s", "main").splitlines()[0].startswith("ledger: record job3")

    # -- 6. the merge: a push to main validates and smoke-runs, and launches nothing again -------------------
    st.dev.git("checkout", "-q", "main")
    st.dev.git("pull", "-q", "--ff-only", "origin", "main")
    before = st.dev.git("rev-parse", "HEAD")
    st.dev.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    after = st.push("main")
    payload = {"ref": "refs/heads/main", "before": before, "after": after, "pusher": {"name": "alice"},
               "sender": {"login": "alice"}, "repository": {"full_name": REPOSITORY, "default_branch": "main"}}
    run7 = st.player.play("push", payload, inputs={**reusable_inputs({}), **st.inputs}, sha=after, ref="refs/heads/main",
                          token=fake_github.token)
    assert results(run7) == {"plan": "success", "smoke": "success", "launch": "skipped",
                             "launch-local": "skipped", "record": "skipped", "gate": "success"}, failed_steps(run7)
    assert "Nothing launches on this event" in run7["plan"].summary()
    assert st.store_jobs() == ["job1", "job2", "job3"]


@pytest.mark.slow
def test_fork_with_a_broken_runspec_gets_annotations_and_never_reaches_launch(tmp_path, fake_github, runner_tools):
    st = Stage(tmp_path, fake_github, runner_tools)
    st.dev.write("pyproject.toml", PYPROJECT)
    st.dev.write(".gitignore", GITIGNORE)
    base = st.dev.commit("main")
    st.push("main")
    st.dev.git("checkout", "-q", "-b", "fork-feature")
    st.dev.write("runspecs/broken.yaml", BROKEN)
    st.dev.write("runspecs/tiny.yaml", tiny_runspec())
    head = st.dev.commit("from a fork")
    st.push("fork-feature")  # GitHub serves fork heads through the base repository's refs/pull/N/head

    run = st.play_pr(pull_request_event(40, base, head, repo=REPOSITORY, fork=True))
    assert results(run) == {"plan": "failure", "smoke": "skipped", "launch": "skipped",
                            "launch-local": "skipped", "record": "skipped", "gate": "failure"}
    plan = run["plan"].legs[0]["outputs"]
    assert plan["fork"] == "true" and json.loads(plan["local_matrix"]) == {"include": []}
    annotations = [ln for ln in run["plan"].stdout().splitlines() if ln.startswith("::error ")]
    assert any(a.startswith("::error file=runspecs/broken.yaml,line=5,col=3,") and "enabld" in a
               for a in annotations), annotations
    summary = run["plan"].summary()
    assert "comes from a fork" in summary and "`runspecs/broken.yaml:5:3`" in summary
    assert fake_github.calls == []  # a fork run never talks to the API
    assert st.store_jobs() == []
    assert git(st.origin, "log", "--format=%s", "main").splitlines() == ["main"]


@pytest.mark.slow
def test_a_fork_with_valid_runspecs_is_smoke_run_but_not_launched(tmp_path, fake_github, runner_tools):
    st = Stage(tmp_path, fake_github, runner_tools)
    st.dev.write("pyproject.toml", PYPROJECT)
    st.dev.write(".gitignore", GITIGNORE)
    base = st.dev.commit("main")
    st.push("main")
    st.dev.git("checkout", "-q", "-b", "fork-feature")
    st.dev.write("runspecs/tiny.yaml", tiny_runspec())
    head = st.dev.commit("from a fork")
    st.push("fork-feature")
    run = st.play_pr(pull_request_event(41, base, head, repo=REPOSITORY, fork=True))
    assert results(run) == {"plan": "success", "smoke": "success", "launch": "skipped",
                            "launch-local": "skipped", "record": "skipped", "gate": "success"}, failed_steps(run)
    assert st.store_jobs() == [] and fake_github.calls == []
