"""Credentials for Batch and Blob, from azure-identity, imported only when a credential is made.

    auth = "auto"         GitHub Actions OIDC when the runner offers it (ACTIONS_ID_TOKEN_REQUEST_URL), else
                          DefaultAzureCredential (az login, managed identity, environment, ...)
    auth = "github-oidc"  ClientAssertionCredential whose callback fetches a fresh GitHub OIDC token for every
                          Entra token request: long jobs never present an expired assertion (azure/login's
                          captured token dies after about an hour)
    auth = "default"      DefaultAzureCredential
    auth = "shared-key"   account keys from the environment variables the target names (tests, emulators)

A credential lives in memory only: never in a file, the code snapshot, a task's command line or a log.
"""

from __future__ import annotations

import json
import os
import urllib.request

from launcher.diagnostics import LauncherError

GITHUB_AUDIENCE = "api://AzureADTokenExchange"
OIDC_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
BATCH_SCOPE = "https://batch.core.windows.net//.default"  # the double slash is the service's own spelling


def effective_auth(settings, env=None) -> str:
    env = os.environ if env is None else env
    if settings.auth != "auto":
        return settings.auth
    return "github-oidc" if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") else "default"


def github_oidc_token(env=None, *, timeout: float = 20.0) -> str:
    """A fresh GitHub Actions OIDC token for Entra (the job needs `permissions: id-token: write`)."""
    env = os.environ if env is None else env
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise LauncherError("no GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN are not set",
                            hint="give the workflow job `permissions: id-token: write`, or use another auth mode")
    sep = "&" if "?" in url else "?"
    request = urllib.request.Request(f"{url}{sep}audience={GITHUB_AUDIENCE}",
                                     headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            value = json.loads(response.read().decode("utf-8")).get("value")
    except (OSError, ValueError) as exc:
        # The message never carries the request token: only the URL's host and the error.
        raise LauncherError(f"could not fetch a GitHub OIDC token: {type(exc).__name__}: {exc}",
                            hint="the runner's token endpoint did not answer; re-run the workflow") from None
    if not isinstance(value, str) or not value:
        raise LauncherError("the GitHub OIDC token endpoint returned no token",
                            hint="check `permissions: id-token: write` on the workflow job")
    return value


class _Credentials:
    """One token credential shared by Batch and Blob (one token cache), or the two shared-key credentials."""

    def __init__(self, settings, env=None) -> None:
        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.mode = effective_auth(settings, self.env)
        self._token = None

    def token_credential(self):
        if self._token is not None:
            return self._token
        if self.mode == "github-oidc":
            missing = [name for name in OIDC_ENV if not self.env.get(name)]
            if missing:
                raise LauncherError(f"GitHub OIDC login to Azure needs {', '.join(missing)}",
                                    hint="set AZURE_CLIENT_ID and AZURE_TENANT_ID (the app registration or managed "
                                         "identity with a federated credential for this repository) and give the "
                                         "job `permissions: id-token: write`")
            from azure.identity import ClientAssertionCredential

            env = self.env
            self._token = ClientAssertionCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                                    lambda: github_oidc_token(env))
        else:
            from azure.identity import DefaultAzureCredential

            self._token = DefaultAzureCredential()
        return self._token

    def shared_key(self, env_name: str, account: str, what: str):
        key = self.env.get(env_name)
        if not key:
            raise LauncherError(f"the {what} key is missing: environment variable {env_name} is not set",
                                hint=f"export {env_name}=<the {what} account key> (shared-key auth is meant for "
                                     "tests and emulators; use auth = \"auto\" with Entra ID otherwise)")
        from azure.core.credentials import AzureNamedKeyCredential

        return AzureNamedKeyCredential(account, key)

    def batch(self):
        if self.mode == "shared-key":
            return self.shared_key(self.settings.batch_key_env, self.settings.batch_account, "Batch")
        return self.token_credential()

    def storage(self):
        if self.mode == "shared-key":
            return self.shared_key(self.settings.storage_key_env, self.settings.storage_account, "Storage")
        return self.token_credential()


_CACHE: dict[tuple, _Credentials] = {}


def credentials_for(settings, env=None) -> _Credentials:
    """The credentials of a target (cached per process, so a token is fetched once per scope)."""
    key = (settings.target, settings.auth, settings.batch_key_env, settings.storage_key_env, env is None)
    if env is not None or key not in _CACHE:
        creds = _Credentials(settings, env)
        if env is not None:
            return creds
        _CACHE[key] = creds
    return _CACHE[key]


def storage_credential_from_env(account_url: str):
    """For a bare container URL (no SAS): $AZURE_STORAGE_KEY as a shared key, else DefaultAzureCredential."""
    key = os.environ.get("AZURE_STORAGE_KEY")
    if key:
        from azure.core.credentials import AzureNamedKeyCredential

        from launcher.azure.settings import account_from_url

        return AzureNamedKeyCredential(account_from_url(account_url), key)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
