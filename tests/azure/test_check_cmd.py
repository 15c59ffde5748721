"""`launcher check TARGET` against the harness: a ready target, and each thing that can be wrong with it."""

from __future__ import annotations

import json

import pytest

from tests.azure.azure_backend_support import make_project, tiny_runspec

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, batch_server, azurite):
    return make_project(tmp_path / "experiments", batch_server, azurite)


def _checks(proc) -> dict:
    data = json.loads(proc.stdout)
    return {c["name"]: c for c in data["targets"][0]["checks"]}


def _set(project, old, new):
    text = (project.root / "pyproject.toml").read_text()
    assert old in text
    project.write("pyproject.toml", text.replace(old, new))


def test_a_ready_target_passes_every_check(project, batch_server):
    project.store().ensure_container()
    proc = project.cli("check", "azb-cpu", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = _checks(proc)
    assert checks["credentials"]["status"] == "ok" and "$TEST_BATCH_KEY" in checks["credentials"]["detail"]
    for name in ("batch account", "auto-pool jobs: job write", "auto-pool jobs: pool write", "store container",
                 "results containers", "image", "task slots", "setup"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["user delegation key"]["status"] == "skip"
    # The results-container probe deleted nothing, even a container of that name that exists.
    from launcher.azure.check import probe_container_name

    probe = project.azurite.create_container(probe_container_name(project.container))
    assert _checks(project.cli("check", "azb-cpu", "--format", "json"))["results containers"]["status"] == "ok"
    assert probe.exists()
    text = project.cli("check", "azb-cpu").stdout
    assert text.startswith("target azb-cpu: ready") and "ok    image: canonical/" in text
    assert not batch_server.requests_matching("POST", "^/jobs$")  # nothing created


def test_each_problem_is_named_with_its_fix(project, batch_server, tmp_path):
    project.store().ensure_container()
    _set(project, 'node_agent_sku = "batch.node.ubuntu 22.04"', 'node_agent_sku = "batch.node.ubuntu 20.04"')
    _set(project, 'setup = ["echo node setup"]', 'setup = ["if then fi ("]')
    project.write("runspecs/wide.yaml", tiny_runspec(total_runs=9, per_node=9))
    proc = project.cli("check", "azb-cpu", "--runspec", "runspecs/wide.yaml", "--format", "json")
    assert proc.returncode == 1
    checks = _checks(proc)
    assert checks["image"]["status"] == "fail" and 'node_agent_sku = "batch.node.ubuntu 22.04"' in checks["image"]["fix"]
    assert checks["task slots"]["status"] == "fail" and "at most 8" in checks["task slots"]["detail"]
    assert checks["setup"]["status"] == "fail" and "does not parse" in checks["setup"]["detail"]
    # An endpoint that answers nothing; then a missing container.
    dead = project.cli("check", "azb-cpu", "--format", "json", TEST_BATCH_ENDPOINT="http://127.0.0.1:9")
    assert _checks(dead)["batch account"]["status"] == "fail"
    _set(project, f'container = "{project.container}"', 'container = "nosuchcontainer"')
    missing = _checks(project.cli("check", "azb-cpu", "--format", "json"))
    assert missing["store container"]["status"] == "fail" and "create the container" in missing["store container"]["fix"]
    # Missing credentials: the variable named by batch_key_env is not set.
    nokey = project.cli("check", "azb-cpu", "--format", "json", TEST_BATCH_KEY="")
    assert _checks(nokey)["credentials"]["status"] == "fail" and "TEST_BATCH_KEY" in nokey.stdout


def test_a_role_without_pool_write_is_named(tmp_path):
    # Item 2: Azure Batch Job Submitter cannot create auto-pool jobs; Contributor has no data actions at all.
    from azure.core.credentials import AccessToken
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy

    from launcher.azure import check as C
    from launcher.azure.settings import load_settings
    from launcher.config import Target
    from services.batch_server import BatchTestServer

    class Static:
        def __init__(self, token):
            self.token = token

        def get_token(self, *scopes, **kw):
            return AccessToken(self.token, 2**31)

    class InsecureBearer(BearerTokenCredentialPolicy):
        def on_request(self, request):
            request.context["enforce_https"] = False
            return super().on_request(request)

    roles = {"submitter": "Azure Batch Job Submitter", "contributor": "Contributor",
             "data": "Azure Batch Data Contributor"}
    with BatchTestServer(root=tmp_path / "b", bearer_roles=roles) as server:
        from azure.batch import BatchClient

        settings = load_settings(Target("azb", "azure-batch", {
            "backend": "azure-batch", "batch_endpoint": server.endpoint, "storage_account_url": "http://x/acct",
            "vm_size": "Standard_D2s_v3", "node_agent_sku": "batch.node.ubuntu 22.04",
            "image": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"}}), env={})
        results = {}
        for token in roles:
            cred = Static(token)
            C_batch_client = lambda s, cred=cred: BatchClient(  # noqa: E731
                server.endpoint, cred, authentication_policy=InsecureBearer(cred, "x"), retry_total=0)
            import launcher.backends.azure_batch as AB

            original = AB.batch_client
            AB.batch_client = C_batch_client
            try:
                report = C.CheckReport("azb")
                C._check_batch(settings, report)
            finally:
                AB.batch_client = original
            results[token] = {c.name: c for c in report.checks}
        assert results["data"]["auto-pool jobs: pool write"].status == "ok"
        pool = results["submitter"]["auto-pool jobs: pool write"]
        assert pool.status == "fail" and "Azure Batch Data Contributor" in pool.fix
        assert results["submitter"]["auto-pool jobs: job write"].status == "ok"
        account = results["contributor"]["batch account"]
        assert account.status == "fail" and "403" in account.detail and "no data actions" in account.fix
