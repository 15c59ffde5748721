"""Contract tests over .github/: what the workflows promise about trust, pinning, permissions and gating,
checked on the files themselves; plus zizmor, the GitHub workflow JSON schema, and actionlint when present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"
WORKFLOWS = GITHUB / "workflows"
BIN = Path(sys.executable).parent
REUSABLE = "runspecs-reusable.yml"
RELEASE = "release.yml"
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s*([^@\s]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+)*\s*$")


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(wf: dict) -> dict:
    on = wf.get("on", wf.get(True))  # PyYAML reads the bare key `on` as True
    return on if isinstance(on, dict) else {k: None for k in ([on] if isinstance(on, str) else on)}


def all_workflows() -> dict[str, dict]:
    return {p.name: load(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def steps_of(job: dict) -> list[dict]:
    return job.get("steps") or []


def shell_lines(script: str) -> list[str]:
    """The script's commands, one per line, with backslash continuations joined."""
    return [ln.strip() for ln in script.replace("\\\n", " ").splitlines() if ln.strip()]


def test_the_expected_files_exist():
    names = set(all_workflows())
    assert {"runspecs.yml", REUSABLE, "ci.yml", "ledger.yml", RELEASE} <= names
    assert (GITHUB / "dependabot.yml").is_file()


def test_every_workflow_starts_with_no_permissions():
    for name, wf in all_workflows().items():
        assert wf.get("permissions") == {}, f"{name}: top-level permissions must be {{}}"


def test_every_job_that_runs_steps_has_a_timeout_and_explicit_permissions():
    for name, wf in all_workflows().items():
        for job_name, job in wf["jobs"].items():
            assert "permissions" in job, f"{name}:{job_name} has no permissions block"
            if "uses" in job:  # a reusable-workflow call runs no steps of its own
                assert "steps" not in job
                continue
            assert isinstance(job.get("timeout-minutes"), int) and job["timeout-minutes"] <= 60, \
                f"{name}:{job_name} needs timeout-minutes"


def id_token_jobs() -> set[tuple[str, str]]:
    found = set()
    for name, wf in all_workflows().items():
        for job_name, job in wf["jobs"].items():
            if (job.get("permissions") or {}).get("id-token") == "write":
                found.add((name, job_name))
    return found


def test_id_token_write_only_where_intended():
    # runspecs.yml's job only calls the reusable workflow (a caller must grant what its callee asks for);
    # ledger.yml's refresh runs default-branch code only, on a schedule, with a reader-only credential;
    # release.yml's publish job runs no script, only the pinned attestation and trusted-publishing actions.
    assert id_token_jobs() == {("runspecs.yml", "runspecs"), (REUSABLE, "launch"), ("ledger.yml", "refresh"),
                               (RELEASE, "publish")}
    caller = load("runspecs.yml")["jobs"]["runspecs"]
    assert caller["uses"] == f"./.github/workflows/{REUSABLE}" and "steps" not in caller
    refresh = load("ledger.yml")
    assert set(triggers(refresh)) == {"schedule", "workflow_dispatch"}
    assert refresh["jobs"]["refresh"]["environment"] == "ledger"


def test_in_the_pipeline_only_launch_holds_the_oidc_token_and_it_needs_the_environment():
    jobs = load(REUSABLE)["jobs"]
    assert [j for j, job in jobs.items() if (job.get("permissions") or {}).get("id-token")] == ["launch"]
    assert jobs["launch"]["environment"] == "launch"
    assert jobs["launch"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["smoke"]["permissions"] == {"contents": "read"}
    assert jobs["launch-local"]["permissions"] == {"contents": "read"}
    assert jobs["record"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert jobs["gate"]["permissions"] == {}


def test_jobs_that_run_pull_request_code_hold_no_credentials():
    text = (WORKFLOWS / REUSABLE).read_text()
    jobs = load(REUSABLE)["jobs"]
    for name in ("plan", "smoke", "launch-local"):
        job = jobs[name]
        assert "environment" not in job, f"{name} must not unlock environment secrets or variables"
        dumped = json.dumps(job)
        assert "secrets." not in dumped and "vars." not in dumped, f"{name} must not see secrets or variables"
        assert "github.token" not in dumped, f"{name} must not hand the token to a step"
    assert "secrets: inherit" not in text


def test_launch_runs_no_pull_request_code():
    job = load(REUSABLE)["jobs"]["launch"]
    checkouts = [s for s in steps_of(job) if str(s.get("uses", "")).startswith("actions/checkout@")]
    paths = {s["with"]["path"]: s["with"]["ref"] for s in checkouts}
    # the tool comes from the default branch; the pull request's tree goes to payload/ and is data
    assert paths == {"trusted": "${{ github.event.repository.default_branch }}",
                     "payload": "${{ github.event.pull_request.head.sha || github.sha }}"}
    runs = [s for s in steps_of(job) if "run" in s]
    install = [s for s in runs if "pip install" in s["run"]]
    assert len(install) == 1 and "./trusted" in install[0]["run"] and "payload" not in install[0]["run"]
    assert "working-directory" not in install[0]
    # Every other line of the token job is on this list: the launch itself (zip + upload of the payload) and
    # two lines of shell around it. No script, installer or interpreter ever touches payload/.
    allowed = ('mkdir -p "$RESULTS"', 'if [ "$FORCE" = "true" ]; then set -- --force; fi',
               "# The default branch's ledger, read in place: launched content (a re-run launches nothing), "
               "taken numbers.",
               # the endpoint pins from repository variables (see test_launch_pins_endpoints_from_repo_variables)
               'case "$TARGET" in ""|*[!A-Za-z0-9_-]*) echo "invalid target name: $TARGET" >&2; exit 1;; esac',
               'prefix="LAUNCHER_$(printf \'%s\' "$TARGET" | tr \'a-z-\' \'A-Z_\')"',
               'export "${prefix}_BATCH_ENDPOINT=$PINNED_BATCH_ENDPOINT" '
               '"${prefix}_STORAGE_ACCOUNT_URL=$PINNED_STORAGE_ACCOUNT_URL"')
    launch_lines = []
    for step in runs:
        if step is install[0]:
            continue
        for line in shell_lines(step["run"]):
            if line.startswith("launcher launch "):
                launch_lines.append(line)
            else:
                assert line in allowed, f"unexpected command in the token job: {line}"
    assert len(launch_lines) == 1 and "--detach" in launch_lines[0]
    uses = [str(s.get("uses", "")) for s in steps_of(job) if "uses" in s]
    assert all(u.split("@")[0] in ("actions/checkout", "actions/setup-python", "actions/upload-artifact")
               for u in uses), uses


def test_launch_pins_endpoints_from_repo_variables():
    """A pull request must not point a launch at other endpoints by editing pyproject.toml."""
    step = next(s for s in steps_of(load(REUSABLE)["jobs"]["launch"]) if s.get("name") == "launch")
    assert step["env"]["PINNED_BATCH_ENDPOINT"] == "${{ vars.AZURE_BATCH_ENDPOINT }}"
    assert step["env"]["PINNED_STORAGE_ACCOUNT_URL"] == "${{ vars.AZURE_STORAGE_ACCOUNT_URL }}"
    lines = shell_lines(step["run"])
    export = next(i for i, ln in enumerate(lines) if ln.startswith("export "))
    assert export < next(i for i, ln in enumerate(lines) if ln.startswith("launcher launch "))


def test_local_target_launches_run_in_a_job_without_token_or_environment():
    job = load(REUSABLE)["jobs"]["launch-local"]
    assert "id-token" not in job["permissions"] and "environment" not in job
    assert "local_matrix" in job["strategy"]["matrix"]
    remote = load(REUSABLE)["jobs"]["launch"]
    assert "launch_matrix" in remote["strategy"]["matrix"]


@pytest.mark.parametrize("job_name", ["launch", "launch-local", "record"])
def test_fork_pull_requests_and_dry_runs_never_reach_launch_or_record(job_name):
    cond = " ".join(load(REUSABLE)["jobs"][job_name]["if"].split())
    assert "needs.plan.outputs.fork == 'false'" in cond
    assert ("github.event_name != 'pull_request' || "
            "github.event.pull_request.head.repo.full_name == github.repository") in cond
    assert "!inputs.dry_run" in cond
    assert "||" not in cond.replace("github.event_name != 'pull_request' || github.event.pull_request", "")


def test_every_action_is_pinned_by_full_sha_with_a_version_comment():
    seen = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*(-\s+)?uses:", line):
                if "uses: ./" in line:  # our own reusable workflow, same commit
                    continue
                assert SHA_PIN.match(line), f"{path.name}:{n}: not pinned by SHA with a # vX comment: {line}"
                seen += 1
    assert seen >= 10


def test_no_expressions_inside_run_scripts():
    for name, wf in all_workflows().items():
        for job_name, job in wf["jobs"].items():
            for step in steps_of(job):
                if "run" in step:
                    assert "${{" not in step["run"], f"{name}:{job_name}: pass values through env:, not ${{{{ }}}}"


def test_every_checkout_drops_its_credentials():
    for name, wf in all_workflows().items():
        for job in wf["jobs"].values():
            for step in steps_of(job):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert (step.get("with") or {}).get("persist-credentials") is False, name


def test_triggers_of_the_pipeline():
    on = triggers(load("runspecs.yml"))
    assert set(on) == {"pull_request", "push", "workflow_dispatch"}
    assert on["pull_request"] is None or "paths" not in on["pull_request"]  # no paths filter: the gate reports
    inputs = on["workflow_dispatch"]["inputs"]
    assert {k: v["type"] for k, v in inputs.items()} == {
        "runspec": "string", "target": "string", "dry_run": "boolean", "force": "boolean"}
    assert inputs["runspec"]["required"] is True
    for name, wf in all_workflows().items():
        assert "pull_request_target" not in triggers(wf), name
        assert "workflow_run" not in triggers(wf), name
    call = triggers(load(REUSABLE))["workflow_call"]
    assert {"runspec", "target", "dry_run", "force", "launcher-package"} <= set(call["inputs"])
    assert "secrets" not in call  # OIDC: no long-lived secret is passed in
    assert set(load("runspecs.yml")["jobs"]["runspecs"]["with"]) == {"runspec", "target", "dry_run", "force"}


def test_concurrency_groups():
    jobs = load(REUSABLE)["jobs"]
    assert jobs["plan"]["concurrency"]["cancel-in-progress"] is True
    assert jobs["smoke"]["concurrency"]["cancel-in-progress"] is True
    assert "matrix.id" in jobs["smoke"]["concurrency"]["group"]
    for name in ("launch", "launch-local"):
        assert jobs[name]["concurrency"]["cancel-in-progress"] is False
        assert "matrix.id" in jobs[name]["concurrency"]["group"]
    ledger_group = {"group": "ledger-${{ github.repository }}", "cancel-in-progress": False, "queue": "max"}
    assert jobs["record"]["concurrency"] == ledger_group
    assert load("ledger.yml")["jobs"]["refresh"]["concurrency"] == ledger_group
    assert load("ci.yml")["concurrency"]["cancel-in-progress"] is True


def test_gate_always_reports_on_every_job():
    jobs = load(REUSABLE)["jobs"]
    gate = jobs["gate"]
    assert gate["if"] == "always()"
    assert set(gate["needs"]) == set(jobs) - {"gate"}
    assert "failure" in json.dumps(gate) and "cancelled" in json.dumps(gate)


def test_each_pipeline_step_that_runs_something_is_one_launcher_command():
    for job_name, job in load(REUSABLE)["jobs"].items():
        for step in steps_of(job):
            if "run" not in step or job_name == "gate" or step.get("name") == INSTALL_STEP:
                continue
            commands = shell_lines(step["run"])
            calls = [c for c in commands if c.startswith("launcher ")]
            assert len(calls) == 1, (job_name, step["run"])


INSTALL_STEP = "install the launcher"


def install_steps() -> list[tuple[str, str, dict]]:
    """(workflow, job, step) of every step of every workflow that installs the launcher."""
    found = []
    for name, wf in all_workflows().items():
        if name == RELEASE:  # it installs the release tools, never the launcher (see test_release_*)
            continue
        for job_name, job in (wf.get("jobs") or {}).items():
            for step in steps_of(job):
                if "pip install" in step.get("run", ""):
                    found.append((name, job_name, step))
    return found


def test_every_job_installs_the_launcher_with_its_azure_sdk_by_one_identical_step():
    # one definition, so the trusted install and the package pin cannot drift apart (a launch job once installed
    # the launcher without its Azure SDK and every Azure launch died on `import azure`)
    steps = install_steps()
    jobs_with_launcher = {(wf, j) for wf, w in all_workflows().items() if wf != RELEASE
                          for j, job in (w.get("jobs") or {}).items()
                          if any(ln.startswith("launcher ") for s in steps_of(job) for ln in shell_lines(s.get("run", "")))}
    assert {(wf, j) for wf, j, _ in steps} == jobs_with_launcher
    assert all(step["name"] == INSTALL_STEP for _, _, step in steps)
    assert len({step["run"] for _, _, step in steps}) == 1
    script = steps[0][2]["run"]
    # a package pin gets the Azure extra; the default branch installs its lock (which pins the Azure SDK), hashed
    assert '"$LAUNCHER_PACKAGE" "runspec-launcher[azure]"' in script
    assert "--require-hashes -r trusted/requirements/launcher.txt" in script and "--no-deps ./trusted" in script
    lock = (REPO / "requirements" / "launcher.txt").read_text()
    assert all(re.search(rf"^{pkg}==", lock, re.M) for pkg in ("azure-batch", "azure-storage-blob", "azure-identity"))
    assert {s["env"]["LAUNCHER_PACKAGE"] for _, _, s in steps} == {"${{ inputs.launcher-package }}",
                                                                  "${{ vars.LAUNCHER_PACKAGE }}"}


def test_the_launch_result_is_written_by_the_launcher_not_by_a_shell_redirect():
    for job_name in ("launch", "launch-local"):
        (step,) = [s for s in steps_of(load(REUSABLE)["jobs"][job_name]) if "launcher launch" in s.get("run", "")]
        line = next(ln for ln in shell_lines(step["run"]) if ln.startswith("launcher launch "))
        assert '--json-out "$RESULTS/launch.json"' in line and ">" not in line


def test_the_ledger_refresh_gets_the_settings_the_launch_had():
    launch_env = next(s for s in steps_of(load(REUSABLE)["jobs"]["launch"]) if s.get("name") == "launch")["env"]
    refresh = next(s for s in steps_of(load("ledger.yml")["jobs"]["refresh"]) if "ledger refresh" in s.get("run", ""))
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"):
        assert refresh["env"][name] == launch_env[name] == f"${{{{ vars.{name} }}}}"
    # the endpoints the launch pinned, under the names the documented target reads
    assert refresh["env"]["AZURE_BATCH_ENDPOINT"] == launch_env["PINNED_BATCH_ENDPOINT"]
    assert refresh["env"]["AZURE_STORAGE_ACCOUNT_URL"] == launch_env["PINNED_STORAGE_ACCOUNT_URL"]


def test_ci_runs_make_test_and_dependabot_watches_actions():
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    # the README's test command, on the matrix's interpreter (setup-python's output, passed through env)
    assert steps[-1]["run"] == 'make test PYTHON="$PYTHON"'
    assert steps[-1]["env"]["PYTHON"] == "${{ steps.python.outputs.python-path }}"
    dep = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    eco = {u["package-ecosystem"]: u for u in dep["updates"]}
    assert "github-actions" in eco and eco["github-actions"]["cooldown"]["default-days"] >= 7


# ---------------------------------------------------------------------------------------------------------
# the release workflow

def test_release_runs_on_version_tags_only():
    on = triggers(load(RELEASE))
    assert on == {"push": {"tags": ["v*.*.*"]}}


def test_release_builds_without_a_token_with_hash_locked_tools():
    build = load(RELEASE)["jobs"]["build"]
    assert build["permissions"] == {"contents": "read"} and "environment" not in build
    checkout = next(s for s in steps_of(build) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the tag, for the version
    runs = {s["name"]: s["run"] for s in steps_of(build) if "run" in s}
    assert "--require-hashes" in runs["install the release tools"]
    assert "-r requirements/release.txt" in runs["install the release tools"]
    # the backend that builds is the locked one: no isolated build fetching setuptools from the index
    assert runs["build"].split() == ["python", "-m", "build", "--no-isolation", "--sdist", "--wheel",
                                     "--outdir", "dist/"]
    assert "twine check --strict dist/*" in runs["check"]
    assert "GITHUB_REF_NAME" in runs["check"]  # the version must be the tag's


def test_release_publishes_through_trusted_publishing_from_a_gated_environment():
    publish = load(RELEASE)["jobs"]["publish"]
    assert publish["needs"] == "build" and publish["environment"] == "release"
    assert publish["permissions"] == {"id-token": "write", "attestations": "write", "contents": "read"}
    steps = steps_of(publish)
    assert not [s for s in steps if "run" in s], "the token job runs no script of its own"
    assert [s["uses"].split("@")[0] for s in steps] == [
        "actions/download-artifact", "actions/attest-build-provenance", "pypa/gh-action-pypi-publish"]
    assert steps[1]["with"]["subject-path"] == "dist/*"
    # no stored upload token: trusted publishing mints one from the OIDC token
    assert "with" not in steps[2] or not {"password", "user"} & set(steps[2]["with"])
    assert "secrets." not in (WORKFLOWS / RELEASE).read_text()


# ---------------------------------------------------------------------------------------------------------
# external checkers

def tool(name: str) -> str | None:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def test_zizmor_finds_nothing_at_medium_or_above():
    exe = tool("zizmor")
    assert exe, "zizmor is part of the dev extras: pip install -e '.[dev]'"
    proc = subprocess.run([exe, "--offline", "--format", "json", str(GITHUB)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    findings = json.loads(proc.stdout or "[]")
    bad = [(f["ident"], f["determinations"]["severity"],
            f["locations"][0]["symbolic"]["key"].get("Local", {}).get("verbatim_path"))
           for f in findings if f["determinations"]["severity"] in ("Medium", "High")]
    assert not bad, bad


def test_workflows_and_dependabot_match_githubs_schemas():
    exe = tool("check-jsonschema")
    assert exe, "check-jsonschema is part of the dev extras"
    files = [str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", *files],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([exe, "--builtin-schema", "vendor.dependabot", str(GITHUB / "dependabot.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_when_installed():
    exe = tool("actionlint")
    if not exe:
        pytest.skip("actionlint is not installed (its PyPI wrapper downloads the binary at build time); "
                    "the zizmor and schema checks above still run")
    proc = subprocess.run([exe, "-no-color", *[str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_launch_job_takes_its_targets_from_the_default_branch():
    # issue 11, item 13: the job holding the Azure credential never takes target definitions from the PR
    env = next(s for s in steps_of(load(REUSABLE)["jobs"]["launch"]) if s.get("name") == "launch")["env"]
    assert env["LAUNCHER_TRUSTED_CONFIG"] == "${{ github.workspace }}/trusted/pyproject.toml"
    assert env["LAUNCHER_MAX_WALL_CLOCK"] == "${{ vars.LAUNCHER_MAX_WALL_CLOCK }}"
