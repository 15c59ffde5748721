"""What a launch leaves for the steps after it (--json-out, --ledger-row-out), whatever the outcome; the hint for
a missing optional SDK wherever it is first imported; the example runspecs' targets."""

from __future__ import annotations

import json
import sys

import pytest
from jobs_project import REPO, tiny_runspec

from launcher import tomlcompat


def test_a_failed_launch_writes_what_failed_and_how_to_fix_it(project, tmp_path):
    project.write("pyproject.toml", (project.root / "pyproject.toml").read_text()
                  + '\n[tool.launcher.targets.azb]\nbackend = "azure-batch"\ncontainer = "c"\n')
    project.write("runspecs/az.yaml", tiny_runspec().replace("compute_target: local", "compute_target: azb"))
    out = tmp_path / "results" / "launch.json"
    p = project.cli("launch", "runspecs/az.yaml", "--json-out", out)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    failed = json.loads(out.read_text())
    assert failed["status"] == "failed" and failed["runspec"] == "runspecs/az.yaml"
    assert "vm_size" in failed["error"] and failed["hint"] and failed["exit_code"] == 1
    assert not list(out.parent.glob(".*tmp*"))  # written atomically: no temp file left beside it


def test_a_followed_launch_writes_the_final_status_into_its_outputs(project, tmp_path):
    project.write("runspecs/tiny.yaml", tiny_runspec())
    out, row = tmp_path / "launch.json", tmp_path / "ledger-row.json"
    p = project.cli("launch", "runspecs/tiny.yaml", "--json-out", out, "--ledger-row-out", row)
    assert p.returncode == 0, p.stderr
    result = json.loads(out.read_text())
    assert result["status"] == "launched" and result["summary"]["status"] == "completed"
    # the row a CI step pushes says how the followed job ended, not `submitted`
    assert json.loads(row.read_text())["status"] == "completed"


@pytest.mark.parametrize("command", [("status", "job1", "--target", "azb"), ("jobs", "--target", "azb")])
def test_a_missing_azure_sdk_gets_the_install_hint_wherever_it_is_first_imported(run_cli, project, monkeypatch,
                                                                                  command):
    project.write("pyproject.toml", (project.root / "pyproject.toml").read_text()
                  + '\n[tool.launcher.targets.azb]\nbackend = "azure-batch"\ncontainer = "results"\n'
                    'vm_size = "Standard_D2s_v3"\nnode_agent_sku = "batch.node.ubuntu 22.04"\n'
                    'image = { publisher = "canonical", offer = "0001-com-ubuntu-server-jammy", sku = "22_04-lts" }\n'
                    'batch_endpoint = "https://a.b.batch.azure.com"\n'
                    'storage_account_url = "https://a.blob.core.windows.net"\n')
    for name in [m for m in sys.modules if m == "azure" or m.startswith("azure.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "azure", None)  # as if the Azure extra were not installed
    code, out, err = run_cli(*command, cwd=project.root)
    assert code == 1 and "internal error" not in err and "Traceback" not in err
    assert "the 'azure' extra of the launcher is not installed here" in err
    assert "pip install 'runspec-launcher[azure]'" in err


def test_every_enabled_example_runspec_targets_a_complete_target():
    # a pull request to this repository that touches an example must be able to pass: local, or an Azure target
    # with every setting a launch needs (its endpoints from the repository's variables)
    import yaml

    from launcher.azure.settings import load_settings
    from launcher.config import load_config

    cfg = load_config(project=str(REPO))
    targets = tomlcompat.loads((REPO / "pyproject.toml").read_text())["tool"]["launcher"]["targets"]
    for path in sorted((REPO / "runspecs").glob("*.yaml")):
        section = yaml.safe_load(path.read_text())["job_launcher"]
        if not section.get("enabled"):
            continue
        assert section["compute_target"] in targets, path.name
        assert targets[section["compute_target"]]["backend"] == "local", f"{path.name}: launches only on Azure"
    env = {"AZURE_BATCH_ENDPOINT": "https://acct.westeurope.batch.azure.com",
           "AZURE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"}
    settings = load_settings(cfg.target("azb-cpu"), env=env)
    assert settings.vm_size and settings.node_agent_sku and settings.batch_endpoint == env["AZURE_BATCH_ENDPOINT"]


@pytest.mark.parametrize("value,seconds", [(None, 0.5), ("0.1", 0.1), ("2", 2.0), ("fast", 0.5), ("0", 0.5),
                                           ("-1", 0.5), ("nan", 0.5), ("3600", 0.5)])
def test_the_follow_interval_comes_from_the_environment_within_bounds(monkeypatch, value, seconds):
    # how often a followed launch looks at its job; a value that is no usable number keeps the default
    from launcher.commands.launch import follow_interval

    if value is None:
        monkeypatch.delenv("LAUNCHER_FOLLOW_INTERVAL", raising=False)
    else:
        monkeypatch.setenv("LAUNCHER_FOLLOW_INTERVAL", value)
    assert follow_interval() == seconds
