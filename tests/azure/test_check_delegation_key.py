"""`launcher check`'s user delegation key check against a real Azurite with OAuth (issue 11, item 3).

Azurite runs with HTTPS (a certificate made here) and `--oauth basic`; the identity's tokens come from a
managed-identity endpoint on 127.0.0.1 through the launcher's own `auth = "default"` (DefaultAzureCredential).
Azurite grants a key to every valid token (it checks no permission, see tests/services/entra.py), so the refusal
of an identity without *Storage Blob Delegator* comes from DelegatorCheck in front of it, as Azure answers it."""

from __future__ import annotations

import pytest

from services.azurite import Azurite
from services.entra import DelegatorCheck, TokenEndpoint, self_signed_cert

pytestmark = pytest.mark.slow

CREDENTIAL_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                  "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME", "MSI_ENDPOINT", "MSI_SECRET",
                  "IDENTITY_SERVER_THUMBPRINT", "ACTIONS_ID_TOKEN_REQUEST_URL")


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory):
    """Azurite with HTTPS and OAuth on 127.0.0.1, DelegatorCheck in front, and a store container in it."""
    folder = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = self_signed_cert(folder / "tls")
    azurite = Azurite(folder / "azurite", cert=cert, key=key, oauth=True).start()
    gate = DelegatorCheck(azurite.port, cert, key).start()
    try:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient(azurite.account_url, credential={"account_name": azurite.account_name,
                                                           "account_key": azurite.account_key},
                          connection_verify=str(cert)).create_container("store")
        yield azurite, gate, cert
    finally:
        gate.stop()
        azurite.stop()


def _check(oauth_azurite, monkeypatch, *, delegator: bool, target: str, account_data: bool = True):
    from launcher.azure import check as C
    from launcher.azure.settings import load_settings
    from launcher.config import Target

    azurite, gate, cert = oauth_azurite
    endpoint = TokenEndpoint(delegator=delegator, account_data=account_data).start()
    try:
        for name in CREDENTIAL_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**endpoint.env(), "REQUESTS_CA_BUNDLE": str(cert)}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings(Target(target, "azure-batch", {
            "backend": "azure-batch", "batch_endpoint": "https://acct1.westeurope.batch.azure.com", "auth": "default",
            "storage_account_url": f"https://127.0.0.1:{gate.port}/{azurite.account_name}", "container": "store",
            "vm_size": "Standard_D2s_v3", "node_agent_sku": "batch.node.ubuntu 22.04",
            "image": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"}}),
            env={})
        report = C.CheckReport(target)
        C._check_storage(settings, report, "default")
        return {c.name: c for c in report.checks}, endpoint
    finally:
        endpoint.stop()


def test_an_identity_with_the_delegator_role_gets_a_user_delegation_key(oauth_azurite, monkeypatch):
    checks, endpoint = _check(oauth_azurite, monkeypatch, delegator=True, target="azb-delegator")
    assert checks["store container"].status == "ok", checks["store container"]
    assert checks["user delegation key"].status == "ok", checks["user delegation key"]
    assert checks["user delegation key"].detail == "obtainable for the wall clock + 1 h"
    assert endpoint.resources and all(r.startswith("https://storage.azure.com") for r in endpoint.resources)
    assert oauth_azurite[1].refused == 0


def test_an_identity_without_it_is_told_to_assign_storage_blob_delegator_at_account_scope(oauth_azurite,
                                                                                           monkeypatch):
    refused_before = oauth_azurite[1].refused
    checks, _endpoint = _check(oauth_azurite, monkeypatch, delegator=False, target="azb-no-delegator")
    assert checks["store container"].status == "ok"  # the data role on the container is there: only the key fails
    key = checks["user delegation key"]
    assert key.status == "fail" and "AuthorizationPermissionMismatch" in key.detail
    assert "'Storage Blob Delegator' on the storage account" in key.fix and "ACCOUNT scope" in key.fix
    assert oauth_azurite[1].refused == refused_before + 1


def test_a_data_role_on_the_container_only_cannot_create_the_jobs_results_containers(oauth_azurite, monkeypatch):
    checks, _endpoint = _check(oauth_azurite, monkeypatch, delegator=True, target="azb-account-role")
    assert checks["results containers"].status == "ok", checks["results containers"]
    refused_before = oauth_azurite[1].refused
    # (another target name: each target's credential keeps its tokens)
    checks, _endpoint = _check(oauth_azurite, monkeypatch, delegator=True, target="azb-container-role-only",
                               account_data=False)
    assert checks["store container"].status == "ok"  # the role on the store container is there
    found = checks["results containers"]
    assert found.status == "fail" and "AuthorizationPermissionMismatch" in found.detail
    assert "'Storage Blob Data Contributor' on the storage ACCOUNT" in found.fix
    assert oauth_azurite[1].refused == refused_before + 1
