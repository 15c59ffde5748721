"""Issue 11, item 13: in the launch job (which holds the OIDC token) targets come from the trusted config, "$NAME"
expands only non-secret names, and container, auth mode and a max_wall_clock bound come from trusted settings.
Item 7: an Entra-auth target's wall clock fits in a user delegation key's 7 days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from launcher.azure.settings import load_settings
from launcher.config import Target, load_config
from launcher.diagnostics import LauncherError

GOOD = {
    "backend": "azure-batch",
    "batch_endpoint": "https://acct1.westeurope.batch.azure.com",
    "storage_account_url": "https://store1.blob.core.windows.net",
    "vm_size": "Standard_D2s_v3",
    "image": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
    "node_agent_sku": "batch.node.ubuntu 22.04",
}
TOKEN = "ghs_request-token-value"


def load(env=None, name="azb-cpu", **overrides):
    raw = {k: v for k, v in {**GOOD, **overrides}.items() if v is not None}
    return load_settings(Target(name, "azure-batch", raw, 7), env=env or {})


def refused(env=None, **overrides) -> LauncherError:
    with pytest.raises(LauncherError) as err:
        load(env, **overrides)
    return err.value


def test_a_credential_variable_never_expands_even_when_allowed():
    env = {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": TOKEN, "ACTIONS_ID_TOKEN_REQUEST_URL": "https://t.example/x"}
    err = refused(env, vm_size="$ACTIONS_ID_TOKEN_REQUEST_TOKEN", env_allow=["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
    assert "looks like a credential and is never expanded" in err.message
    assert TOKEN not in err.message and all(TOKEN not in d.hint for d in err.diagnostics)
    assert err.diagnostics[0].path == "tool.launcher.targets.azb-cpu.vm_size" and err.diagnostics[0].line == 7
    # Inside a table (image) and under any spelling: ${...}, $..., a GITHUB_ name.
    for value in ("${GITHUB_TOKEN}", "$MY_SAS_URL", "${AZURE_CLIENT_SECRET}"):
        env = {value.strip("${}"): TOKEN}
        err = refused(env, image={**GOOD["image"], "sku": value}, env_allow=[value.strip("${}")])
        assert "never expanded" in err.message and TOKEN not in err.message


def test_only_listed_names_expand():
    env = {"AZURE_BATCH_ENDPOINT": "https://listed.x.batch.azure.com", "MY_VM": "Standard_F4s_v2"}
    assert load(env, batch_endpoint="${AZURE_BATCH_ENDPOINT}").batch_endpoint == "https://listed.x.batch.azure.com"
    err = refused(env, vm_size="$MY_VM")
    assert "$MY_VM is not on the list of variables a target may read" in err.message
    assert 'add "MY_VM" to env_allow' in err.diagnostics[0].hint
    assert load(env, vm_size="$MY_VM", env_allow=["MY_VM"]).vm_size == "Standard_F4s_v2"
    assert "env_allow must be a list" in refused(env_allow="MY_VM").message


def test_container_and_auth_are_pinned_by_the_trusted_environment():
    env = {"LAUNCHER_AZB_CPU_CONTAINER": "trusted-store", "LAUNCHER_AZB_CPU_AUTH": "github-oidc"}
    s = load(env, container="pr-chosen", auth="shared-key", batch_key_env="K", storage_key_env="S")
    assert s.container == "trusted-store" and s.auth == "github-oidc"
    err = refused({"LAUNCHER_AZB_CPU_AUTH": "sharedkey"})
    assert "(from LAUNCHER_AZB_CPU_AUTH)" in err.message


def test_max_wall_clock_is_bounded_by_the_trusted_setting():
    assert load({"LAUNCHER_MAX_WALL_CLOCK": "2d"}, max_wall_clock="36h").max_wall_clock == timedelta(hours=36)
    err = refused({"LAUNCHER_MAX_WALL_CLOCK": "2d"}, max_wall_clock="3d")
    assert "max_wall_clock 3d is above the bound 2d that the trusted configuration sets" in err.message
    assert "is not a duration" in refused({"LAUNCHER_MAX_WALL_CLOCK": "soon"}).message


def test_entra_auth_wall_clock_fits_a_user_delegation_key():
    # Item 7: before, "8d" passed here and every Entra launch failed while signing (the key lives <= 7 days).
    err = refused(max_wall_clock="8d")
    assert "too long for Entra ID auth" in err.message and 'max_wall_clock = "167h"' in err.diagnostics[0].hint
    assert refused(max_wall_clock="7d", auth="github-oidc")
    assert load(max_wall_clock="167h").max_wall_clock == timedelta(hours=167)
    shared = load(max_wall_clock="8d", auth="shared-key", batch_key_env="K", storage_key_env="S")
    assert shared.max_wall_clock == timedelta(days=8)  # an account-key SAS has no such limit


PR_PYPROJECT = """\
[tool.launcher]
workspace = "ws1"

[tool.launcher.targets.azb-cpu]
backend = "azure-batch"
vm_size = "$ACTIONS_ID_TOKEN_REQUEST_TOKEN"
container = "someone-elses"

[tool.launcher.targets.pr-only]
backend = "azure-batch"
"""

TRUSTED = """\
[tool.launcher.targets.azb-cpu]
backend = "azure-batch"
batch_endpoint = "https://acct1.westeurope.batch.azure.com"
storage_account_url = "https://store1.blob.core.windows.net"
container = "launcher"
vm_size = "Standard_D2s_v3"
image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }
node_agent_sku = "batch.node.ubuntu 22.04"
"""


@pytest.fixture
def pr_project(tmp_path):
    project = tmp_path / "checkout"
    project.mkdir()
    (project / "pyproject.toml").write_text(PR_PYPROJECT, encoding="utf-8")
    return project


def test_targets_come_from_the_trusted_config_alone(pr_project, tmp_path, monkeypatch):
    trusted = tmp_path / "trusted.toml"
    trusted.write_text(TRUSTED, encoding="utf-8")
    monkeypatch.setenv("LAUNCHER_TRUSTED_CONFIG", str(trusted))
    cfg = load_config(project=pr_project)
    assert cfg.workspace == "ws1" and sorted(cfg.targets) == ["azb-cpu", "local"]
    target = cfg.target("azb-cpu")
    assert target.file == str(trusted) and target.line == 1
    s = load_settings(target, cfg, env={"ACTIONS_ID_TOKEN_REQUEST_TOKEN": TOKEN})
    assert s.vm_size == "Standard_D2s_v3" and s.container == "launcher"
    with pytest.raises(LauncherError) as err:
        cfg.target("pr-only")
    assert "launches after it is merged" in err.value.hint and str(trusted) in err.value.hint


def test_without_the_trusted_config_the_project_targets_apply(pr_project, monkeypatch):
    monkeypatch.delenv("LAUNCHER_TRUSTED_CONFIG", raising=False)
    cfg = load_config(project=pr_project)
    assert sorted(cfg.targets) == ["azb-cpu", "local", "pr-only"]
    with pytest.raises(LauncherError) as err:  # and the token still never reaches vm_size
        load_settings(cfg.target("azb-cpu"), cfg, env={"ACTIONS_ID_TOKEN_REQUEST_TOKEN": TOKEN})
    assert "never expanded" in err.value.message and err.value.diagnostics[0].file.endswith("pyproject.toml")


def test_a_broken_trusted_config_is_a_clear_error(pr_project, tmp_path, monkeypatch):
    monkeypatch.setenv("LAUNCHER_TRUSTED_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(LauncherError) as err:
        load_config(project=pr_project)
    assert "the trusted config" in err.value.message and "cannot be read" in err.value.message
    assert "git show origin/main:pyproject.toml" in err.value.hint
    bad = tmp_path / "bad.toml"
    bad.write_text("[tool.launcher.targets.azb-cpu]\nbackend = \n", encoding="utf-8")
    monkeypatch.setenv("LAUNCHER_TRUSTED_CONFIG", str(bad))
    with pytest.raises(LauncherError) as err:
        load_config(project=pr_project)
    diag = err.value.diagnostics[0]
    assert diag.code == "CF001" and diag.file == str(bad) and diag.line == 2
    bad.write_text("[tool.launcher.targets.azb-cpu]\nbackend = \"azure\"\n", encoding="utf-8")
    with pytest.raises(LauncherError) as err:
        load_config(project=pr_project)
    assert err.value.diagnostics[0].file == str(bad) and "backend must be one of" in err.value.diagnostics[0].message
