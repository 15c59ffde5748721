"""The pull request -> Azure Batch path, played from the workflow files themselves, end to end.

The repository is laid out as this one is (the launcher's own source on its default branch, an experiment
beside it), so the pipeline installs the launcher exactly as runspecs.yml makes it: from the default branch's
lock file, into each job's own fresh environment (tests/github/workflow_runner.py). The Azure services are the
project's Batch test server and Azurite on 127.0.0.1, their endpoints given as the repository's variables (as
docs/github.md says), the shared keys in the runner's environment standing in for the OIDC credential.

Played: PR -> plan -> smoke -> launch (Azure) -> record (ledger row, sticky comment) -> gate; the same event
again (nothing launched, the comment updated in place); the scheduled ledger refresh turning the row
`completed`; a launch that fails (the comment says what failed and how to fix it; the check is red); and a
workflow whose install step leaves out the Azure SDK (the defect this test was written for).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml

from gh_helpers import git, launcher_source_files, pull_request_event
from launcher.report.comment import marker
from tests.projects import azure_target, launcher_table, tiny_runspec
from test_rehearsal import REPOSITORY, WORKFLOWS, Stage, failed_steps, our_comments, results

REPO_ROOT = WORKFLOWS.parents[1]

#: no vm_size: a launch on it stops at the configuration check
INCOMPLETE_TARGET = """\
[tool.launcher.targets.azb-incomplete]
backend = "azure-batch"
batch_account = "{account}"
container = "{container}"
auth = "shared-key"
batch_key_env = "TEST_BATCH_KEY"
storage_key_env = "TEST_STORAGE_KEY"
"""


def targets(account: str, container: str, python: str) -> str:
    """The experiment's targets: `azb` on the services the repository's variables name, and an incomplete one."""
    return (launcher_table(ledger=True)
            + azure_target("azb", endpoint="${AZURE_BATCH_ENDPOINT}", account=account,
                           storage_url="${AZURE_STORAGE_ACCOUNT_URL}", container=container, python=python)
            + INCOMPLETE_TARGET.format(account=account, container=container))


def azure_runspec(target: str = "azb", iters: int = 400) -> str:
    return tiny_runspec(description="tiny azure job", target=target, low_priority="false", iters=iters, report=100,
                        environment="      size: 6\n")


def package_metadata() -> str:
    """This repository's pyproject.toml up to its own [tool.launcher] table: what `pip install ./trusted` reads."""
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return text[: text.index("\n[tool.launcher]")].rsplit("\n# ---", 1)[0] + "\n\n"


class AzureStage(Stage):
    def __init__(self, tmp, fake, tools, batch, azurite, *, workflow="runspecs-reusable.yml") -> None:
        import sys

        self.container = "t" + uuid.uuid4().hex[:12]
        variables = {"AZURE_BATCH_ENDPOINT": batch.endpoint, "AZURE_STORAGE_ACCOUNT_URL": azurite.account_url,
                     "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
                     "AZURE_TENANT_ID": "22222222-2222-2222-2222-222222222222",
                     "AZURE_SUBSCRIPTION_ID": "33333333-3333-3333-3333-333333333333"}
        keys = {"TEST_BATCH_KEY": batch.key, "TEST_STORAGE_KEY": azurite.account_key,
                "LAUNCHER_AZURE_RETRY_BACKOFF": "0.05"}
        super().__init__(tmp, fake, tools, workflow=workflow, vars=variables, extra_env=keys)
        self.inputs = {}  # runspecs.yml passes no launcher-package: the default branch's lock is installed
        self.batch, self.azurite = batch, azurite
        for rel, data in launcher_source_files():
            (self.dev.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.dev.path / rel).write_bytes(data)
        self.dev.write("pyproject.toml", package_metadata() + targets(batch.account, self.container, sys.executable))
        self.dev.write(".gitignore", ".launcher\n/results/\n*.egg-info/\nbuild/\n")

    def blob_store(self):
        from azure.core.credentials import AzureNamedKeyCredential

        from launcher.store.azure_blob import AzureBlobStore

        return AzureBlobStore(f"{self.azurite.account_url}/{self.container}",
                              AzureNamedKeyCredential(self.azurite.account_name, self.azurite.account_key))

    def wait_for(self, job: str, timeout: float = 120) -> dict:
        from launcher.jobs.status import job_summary

        deadline = time.monotonic() + timeout
        while True:
            summary = job_summary(self.blob_store(), job)
            if summary.get("status") in ("completed", "failed", "cancelled"):
                return summary
            assert time.monotonic() < deadline, f"{job} did not end in {timeout} s: {summary}"
            time.sleep(0.5)

    def origin_files(self) -> list[str]:
        return git(self.origin, "ls-tree", "--name-only", "main").splitlines()

    def play_schedule(self):
        player = self.make_player("ledger.yml")
        payload = {"schedule": "23 */3 * * *", "repository": {"full_name": REPOSITORY, "default_branch": "main"}}
        sha = self.dev.git("rev-parse", "HEAD")
        return player.play("schedule", payload, inputs={}, sha=sha, ref="refs/heads/main", token=self.fake.token)


def batch_jobs(batch_server) -> list[str]:
    return sorted(j["id"] for j in batch_server.service.list_jobs())


def launch_json(run, job: str = "launch") -> dict:
    return json.loads((run[job].legs[0]["workspace"] / "results" / "launch.json").read_text())


def start_pr(st: AzureStage, number: int, files: dict[str, str]) -> tuple[str, str]:
    base = st.dev.commit("main")
    st.push("main")
    st.dev.git("checkout", "-q", "-b", f"pr{number}")
    for rel, text in files.items():
        st.dev.write(rel, text)
    head = st.dev.commit(f"pr {number}")
    st.push(f"pr{number}")
    st.fake.pulls.append({"number": number, "head": {"ref": f"pr{number}"}})
    return base, head


@pytest.mark.slow
def test_a_pull_request_launches_on_azure_is_recorded_and_refreshed(tmp_path, fake_github, runner_tools,
                                                                   batch_server, azurite):
    st = AzureStage(tmp_path, fake_github, runner_tools, batch_server, azurite)
    base, head = start_pr(st, 21, {"runspecs/az.yaml": azure_runspec()})
    event = pull_request_event(21, base, head, repo=REPOSITORY, branch="pr21")

    # -- 1. PR -> plan -> smoke -> launch (Azure) -> record -> gate ------------------------------------------
    run1 = st.play_pr(event)
    assert results(run1) == {"plan": "success", "smoke": "success", "launch": "success",
                             "launch-local": "skipped", "record": "success", "gate": "success"}, failed_steps(run1)
    launched = launch_json(run1)
    assert launched["status"] == "launched" and launched["job"] == "job1" and launched["target"] == "azb"
    assert launched["backend"] == "azure-batch"
    assert batch_jobs(batch_server) == ["ws1-job1"]
    rows = st.ledger_rows()
    assert len(rows) == 1 and "| job1 |" in rows[0] and "| azb |" in rows[0] and "PR #21" in rows[0]
    (comment,) = our_comments(fake_github, 21)
    assert comment["body"].startswith(marker("runspecs/az.yaml"))
    assert "launched as **job1**" in comment["body"] and "| Target | azb |" in comment["body"]
    # every job installed the launcher itself, into its own environment
    installs = [s for j in run1.jobs.values() for s in j.steps() if s.name == "install the launcher"]
    assert len(installs) == 4 and all(s.outcome == "success" for s in installs)

    # -- 2. the scheduled refresh turns the row `completed` once the job has ended ----------------------------
    assert st.wait_for("job1")["status"] == "completed"
    refresh = st.play_schedule()
    assert results(refresh) == {"refresh": "success"}, failed_steps(refresh)
    assert "job1: submitted -> completed" in refresh["refresh"].stdout()
    (row,) = st.ledger_rows()
    assert "| completed |" in row

    # -- 3. the same event again: nothing launched, the comment updated in place, the status current ----------
    run2 = st.play_pr(event)
    assert results(run2)["gate"] == "success", failed_steps(run2)
    again = launch_json(run2)
    assert again["status"] == "exists" and again["job"] == "job1"
    assert again["ledger_row"]["status"] == "completed"  # not the stale `submitted` of the launch
    assert batch_jobs(batch_server) == ["ws1-job1"]
    (row,) = st.ledger_rows()
    assert "| completed |" in row
    (comment2,) = our_comments(fake_github, 21)
    assert comment2["id"] == comment["id"] and "already launched as **job1**" in comment2["body"]
    assert "Code files uploaded" not in comment2["body"]  # nothing was uploaded by the re-run


@pytest.mark.slow
def test_a_failed_azure_launch_says_why_on_the_pull_request_and_fails_the_check(tmp_path, fake_github,
                                                                                runner_tools, batch_server, azurite):
    st = AzureStage(tmp_path, fake_github, runner_tools, batch_server, azurite)
    base, head = start_pr(st, 22, {"runspecs/bad.yaml": azure_runspec(target="azb-incomplete")})
    run = st.play_pr(pull_request_event(22, base, head, repo=REPOSITORY, branch="pr22"))
    assert results(run) == {"plan": "success", "smoke": "success", "launch": "failure",
                            "launch-local": "skipped", "record": "success", "gate": "failure"}, failed_steps(run)
    failed = launch_json(run)
    assert failed["status"] == "failed" and "vm_size" in failed["error"] and failed["hint"]
    (comment,) = our_comments(fake_github, 22)
    assert "launch failed" in comment["body"] and "vm_size" in comment["body"]
    assert "**How to fix:**" in comment["body"]
    assert "jobs.md" not in st.origin_files() and batch_jobs(batch_server) == []


@pytest.mark.slow
def test_a_launch_job_without_the_azure_sdk_fails_with_the_install_hint_and_a_comment(
        tmp_path, fake_github, runner_tools, batch_server, azurite):
    # The workflows before this test: the install step took `${LAUNCHER_PACKAGE:-./trusted}` as it was, without
    # the Azure extra. The launch must fail (it cannot reach Azure), but say why, and the PR must hear it.
    workflow = yaml.safe_load((WORKFLOWS / "runspecs-reusable.yml").read_text())
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if step.get("name") == "install the launcher":
                step["run"] = 'python -m pip install --disable-pip-version-check "${LAUNCHER_PACKAGE:-./trusted}"'
    old = tmp_path / "runspecs-without-azure.yml"
    old.write_text(yaml.safe_dump(workflow, sort_keys=False))
    st = AzureStage(tmp_path, fake_github, runner_tools, batch_server, azurite, workflow=old)
    st.inputs = {"launcher-package": str(runner_tools.launcher_wheel)}  # docs/github.md's caller: a package pin
    base, head = start_pr(st, 23, {"runspecs/az.yaml": azure_runspec()})
    run = st.play_pr(pull_request_event(23, base, head, repo=REPOSITORY, branch="pr23"))
    assert results(run)["launch"] == "failure" and results(run)["gate"] == "failure"
    launch_step = next(s for s in run["launch"].steps() if s.name == "launch")
    assert "internal error" not in launch_step.stderr
    assert "pip install 'runspec-launcher[azure]'" in launch_step.stderr
    failed = launch_json(run)
    assert failed["status"] == "failed" and "'azure' extra" in failed["error"]
    (comment,) = our_comments(fake_github, 23)
    # artifact text is rendered inert: its brackets arrive escaped
    assert "launch failed" in comment["body"] and "runspec-launcher[azure]" in comment["body"].replace("\\", "")
    assert batch_jobs(batch_server) == []
