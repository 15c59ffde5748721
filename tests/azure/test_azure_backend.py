"""The Azure backend's pure parts: target settings, ids, SAS redaction, credentials, the launcher bundle, and
that the CLI works without the Azure SDK. Fast: no Azure services (a local HTTP server stands in for GitHub's
OIDC token endpoint)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest

from launcher.azure import credentials as C
from launcher.azure.errors import redact
from launcher.azure.settings import estimate_cost, load_settings, parse_duration
from launcher.backends.azure_batch import batch_job_id, run_of_task, task_id
from launcher.config import Target
from launcher.diagnostics import LauncherError

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "backend": "azure-batch", "batch_endpoint": "https://acct1.westeurope.batch.azure.com",
    "storage_account_url": "https://store1.blob.core.windows.net", "vm_size": "Standard_D2s_v3",
    "image": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "node_agent_sku": "batch.node.ubuntu 22.04",
}


def settings(env=None, **overrides):
    raw = {**GOOD, **overrides}
    raw = {k: v for k, v in raw.items() if v is not None}
    return load_settings(Target("azb", "azure-batch", raw, 12), env=env or {})


def test_complete_settings_have_defaults_and_derived_accounts():
    s = settings()
    assert s.batch_account == "acct1" and s.storage_account == "store1"
    assert s.container == "launcher" and s.container_url == "https://store1.blob.core.windows.net/launcher"
    assert s.image["version"] == "latest" and s.auth == "auto" and s.launcher_source == "bundle"
    assert s.max_wall_clock == timedelta(hours=24) and s.max_retries == 2 and s.python == "python3"


def test_endpoints_come_from_the_environment_and_missing_ones_are_named():
    s = settings(env={"MY_BATCH": "https://a.b.batch.azure.com", "AZURE_STORAGE_ACCOUNT_URL": "https://s.blob.x"},
                 batch_endpoint="${MY_BATCH}", storage_account_url=None, env_allow=["MY_BATCH"])
    assert s.batch_endpoint == "https://a.b.batch.azure.com" and s.storage_account_url == "https://s.blob.x"
    with pytest.raises(LauncherError) as err:
        settings(batch_endpoint="$MY_BATCH", storage_account_url=None, env_allow=["MY_BATCH"])
    msg = err.value.message
    assert "environment variable MY_BATCH, which is not set" in msg
    assert "AZURE_STORAGE_ACCOUNT_URL" in msg  # the default variable of a setting left out
    assert all(d.line == 12 and d.code == "AZ001" for d in err.value.diagnostics)
    assert "export MY_BATCH=" in err.value.diagnostics[0].hint


def test_every_problem_is_reported_at_once_with_a_fix():
    with pytest.raises(LauncherError) as err:
        settings(vm_size=None, image={"publisher": "canonical"}, max_wall_clock="soon", max_retries=-5,
                 auth="sharedkey", container="Bad_Name", vm_sise="x")
    text = err.value.message + " " + " ".join(d.hint for d in err.value.diagnostics)
    for expected in ("vm_size is not set", "missing: offer, sku", "'soon' is not a duration",
                     "max_retries must be", "auth must be one of", "did you mean 'shared-key'",
                     "not a valid blob container name", "unknown azure-batch setting 'vm_sise'",
                     "did you mean 'vm_size'"):
        assert expected in text, expected
    assert len(err.value.diagnostics) == 7


def test_shared_key_needs_variable_names_never_keys():
    with pytest.raises(LauncherError) as err:
        settings(auth="shared-key", batch_key_env="abc=def")
    assert "batch_key_env" in err.value.message and "storage_key_env" in err.value.message
    assert "never the key itself" in err.value.diagnostics[0].hint


def test_image_id_and_durations_and_prices():
    s = settings(image=None, image_id="/subscriptions/x/galleries/g/images/i/versions/1", max_wall_clock="90m",
                 price_per_node_hour={"dedicated": 0.5, "spot": 0.1})
    assert s.image == {"virtual_machine_image_id": "/subscriptions/x/galleries/g/images/i/versions/1"}
    assert s.max_wall_clock == timedelta(minutes=90)
    assert parse_duration(30) == timedelta(minutes=30) and parse_duration("2d") == timedelta(days=2)
    assert estimate_cost(s, compute_nodes=5, low_priority=True) == {
        "nodes": 5, "kind": "spot", "price_per_node_hour": 0.1, "hours": 1.5, "node_hours": 7.5, "max_cost": 0.75,
        "total": 0.75, "currency": "USD", "per_hour": 0.5,
        "basis": "upper bound: 7.5 node-hours (5 spot nodes × the 1.5 h wall-clock limit) at $0.1 per node-hour"}
    assert estimate_cost(settings(), compute_nodes=5, low_priority=False) is None


def test_environment_pins_the_endpoints_over_the_file():
    pinned = {"LAUNCHER_AZB_CPU_BATCH_ENDPOINT": "https://trusted.westeurope.batch.azure.com",
              "LAUNCHER_AZB_CPU_STORAGE_ACCOUNT_URL": "https://trustedstore.blob.core.windows.net",
              "AZURE_BATCH_ENDPOINT": "https://default.x.batch.azure.com"}
    raw = {**GOOD, "batch_endpoint": "https://attacker.example", "storage_account_url": "${PR_STORAGE}"}
    s = load_settings(Target("azb-cpu", "azure-batch", raw, 3), env=pinned)
    assert s.batch_endpoint == "https://trusted.westeurope.batch.azure.com" and s.batch_account == "trusted"
    assert s.storage_account_url == "https://trustedstore.blob.core.windows.net"
    assert s.storage_account == "trustedstore"
    # Another target's variables do not apply; an empty variable counts as unset.
    other = load_settings(Target("azb-gpu", "azure-batch", dict(GOOD), 3), env={**pinned,
                          "LAUNCHER_AZB_GPU_BATCH_ENDPOINT": ""})
    assert other.batch_endpoint == GOOD["batch_endpoint"]
    with pytest.raises(LauncherError) as err:
        load_settings(Target("azb-cpu", "azure-batch", dict(GOOD), 3),
                      env={"LAUNCHER_AZB_CPU_STORAGE_ACCOUNT_URL": "ftp://nope"})
    assert "storage_account_url 'ftp://nope' (from LAUNCHER_AZB_CPU_STORAGE_ACCOUNT_URL) is not an http(s) URL" \
        in err.value.message


def test_batch_ids_are_valid_and_runs_round_trip():
    assert batch_job_id("ws1", "job12") == "ws1-job12"
    assert batch_job_id("My.WS", "job3") == "my-ws-job3"
    assert task_id("run527.1") == "run527-1" and run_of_task("run527-1") == "run527.1"
    assert len(batch_job_id("w" * 40, "job" + "9" * 40)) == 64


def test_redact_scrubs_sas_keys_and_tokens():
    text = ("GET https://a.blob.core.windows.net/c/x?sv=2024&sp=racw&sig=abc%2Fdef&se=2030 failed; "
            "Authorization: SharedKey acct:c2VjcmV0 ; Bearer eyJhbGciOi; AccountKey=Zm9vYmFy;")
    out = redact(text)
    for secret in ("abc%2Fdef", "c2VjcmV0", "eyJhbGciOi", "Zm9vYmFy", "racw"):
        assert secret not in out
    assert "https://a.blob.core.windows.net/c/x" in out


def test_auto_auth_picks_github_oidc_only_in_actions():
    s = settings()
    assert C.effective_auth(s, {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://x"}) == "github-oidc"
    assert C.effective_auth(s, {}) == "default"
    with pytest.raises(LauncherError) as err:
        C.credentials_for(settings(auth="github-oidc"), env={"AZURE_CLIENT_ID": "id"}).batch()
    assert "AZURE_TENANT_ID, ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN" in err.value.message
    assert "id-token: write" in err.value.hint


def test_shared_key_comes_from_the_named_variable():
    s = settings(auth="shared-key", batch_key_env="BK", storage_key_env="SK")
    with pytest.raises(LauncherError) as err:
        C.credentials_for(s, env={"SK": "a2V5"}).batch()
    assert "environment variable BK is not set" in err.value.message
    cred = C.credentials_for(s, env={"BK": "YmF0Y2g=", "SK": "a2V5"})
    assert cred.batch().named_key.name == "acct1" and cred.storage().named_key.name == "store1"


class _TokenHandler(BaseHTTPRequestHandler):
    calls: list = []

    def do_GET(self):  # noqa: N802
        type(self).calls.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"value": f"oidc-token-{len(type(self).calls)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_github_oidc_callback_fetches_a_fresh_token_each_time():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{server.server_port}/token?api-version=2.0",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-secret", "AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"}
        assert C.github_oidc_token(env) == "oidc-token-1"
        assert C.github_oidc_token(env) == "oidc-token-2"
        path, auth = _TokenHandler.calls[0]
        assert path == "/token?api-version=2.0&audience=api://AzureADTokenExchange"
        assert auth == "bearer runner-secret"
        cred = C.credentials_for(settings(auth="github-oidc"), env=env).batch()
        assert type(cred).__name__ == "ClientAssertionCredential"
    finally:
        server.shutdown()
        server.server_close()


def test_bundle_is_deterministic_and_holds_the_package(tmp_path):
    from launcher.azure.bundle import build_bundle, bundle_key

    data, sha = build_bundle()
    build_bundle.cache_clear()
    again, sha2 = build_bundle()
    assert data == again and sha == sha2 and bundle_key(sha) == f"code/launcher-{sha}.pyz"
    names = zipfile.ZipFile(BytesIO(data)).namelist()
    assert "__main__.py" in names and "launcher/agent.py" in names and "launcher/azure/node_agent.py" in names
    assert "launcher/components/processors/RL_Proc/RL_Proc.yaml" in names
    assert not any("__pycache__" in n for n in names)
    # The bootstrap unpacks it and runs the node agent, which asks for its store first.
    pyz = tmp_path / "launcher-x.pyz"
    pyz.write_bytes(data)
    env = {"PATH": "/usr/bin:/bin", "AZ_BATCH_NODE_SHARED_DIR": str(tmp_path / "shared")}
    proc = subprocess.run([sys.executable, str(pyz), "job1", "run1.1"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 2 and "LAUNCHER_STORE_URL is not set" in proc.stderr
    assert (tmp_path / "shared" / "launcher-x" / "launcher" / "agent.py").is_file()


def test_validate_and_help_work_without_the_azure_sdk():
    # A meta-path finder that refuses every azure.* import, as on a machine without the extras.
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'azure' or name.startswith('azure.'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from launcher.cli import main\n"
            "rc = main(['validate', 'runspecs/xt_walk_through.yaml'])\n"
            "assert not [m for m in sys.modules if m.startswith('azure')]\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    helped = subprocess.run([sys.executable, "-m", "launcher", "pool", "--help"], cwd=REPO, capture_output=True,
                            text=True)
    assert helped.returncode == 0 and "hold: true" in helped.stdout


@pytest.mark.parametrize("extra", [{}, {"datastore": "data/sets", "python": "/opt/py/bin/python3"},
                                   {"launcher_source": "installed"}])
def test_task_bodies_from_one_template_equal_each_runs_own_task_model(extra):
    """A 10,000-run job's tasks are built from one template (issue 11, the submit benchmark): every body is what
    the SDK model of that run alone serialises to, and runs with quotes or spaces stay one argument."""
    from launcher.backends.azure_batch import AzureBatchBackend
    from launcher.jobs.plan import build_plan

    backend = AzureBatchBackend.__new__(AzureBatchBackend)
    backend.settings = settings(**extra)
    backend._hashes = {"plan.json": "1" * 64, "launched_job_spec.yaml": "2" * 64, "bundle": "3" * 64}
    if "python" not in extra and backend.settings.node_venv:
        from launcher.azure.node_setup import node_setup

        backend._node = (node_setup([], b""), [])
    plan = build_plan(job="job7", workspace="ws1", target="azb", backend="azure-batch",
                      settings={"total_runs": 6, "compute_nodes": 2, "runs_per_node": 3, "hp_tuning": False},
                      parents=["run1", "run2"], code_key="code/" + "a" * 64 + ".zip")
    plan.children[4].name = "run2.2 'x y'"  # not a real name: shows the quoting is per argument
    resources = [("code", "https://s/c/code.zip?sig=a", "code.zip"), ("bundle", "https://s/c/l.pyz?sig=b", "l.pyz")]
    bodies = backend._task_bodies(plan, resources, "https://s/c?sp=racw&sig=c", "https://s/c?sp=cw&sig=d")
    models = [backend._task(plan, c.name, resources, "https://s/c?sp=racw&sig=c", "https://s/c?sp=cw&sig=d")
              for c in plan.children]
    assert json.dumps(bodies) == json.dumps([m.as_dict(exclude_readonly=True) for m in models])
    assert len({b["id"] for b in bodies}) == 6 and bodies[4]["commandLine"].endswith(" 'run2.2 '\"'\"'x y'\"'\"''")
    assert bodies[5]["outputFiles"][0]["destination"]["container"]["path"] == "runs/run2.3/batch"
    assert bodies[0]["outputFiles"][0]["destination"]["container"]["path"] == "runs/run1.1/batch"
