"""`launcher data upload` / `data list` for an azure-batch target: the Blob container its `datastore` setting
names (Azurite), the same container the nodes mount as $datastore."""

from __future__ import annotations

import json

import pytest
from azure_backend_support import make_project

pytestmark = pytest.mark.slow


def test_data_upload_and_list_use_the_targets_datastore_container(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "experiments", batch_server, azurite)
    text = (project.root / "pyproject.toml").read_text()
    (project.root / "pyproject.toml").write_text(
        text.replace('auth = "shared-key"', 'auth = "shared-key"\ndatastore = "datasets-job3/team"', 1))
    # a name that ends like a job's results container: the datastore is a plain container, never routed as the
    # launcher's store is (store/job_containers.py), so any valid name is fine
    azurite.blob_service().create_container("datasets-job3")
    data = tmp_path / "policies"
    (data / "cartpole").mkdir(parents=True)
    (data / "cartpole" / "policy.pt").write_bytes(b"\x00weights")
    (data / "README.txt").write_text("policies\n")

    up = project.cli("data", "upload", data, "--to", "ope/policy", "--target", "azb-cpu", check=True)
    assert "2" in up.stdout
    names = sorted(b.name for b in azurite.blob_service().get_container_client("datasets-job3").list_blobs())
    assert names == ["team/ope/policy/README.txt", "team/ope/policy/cartpole/policy.pt"]
    listed = json.loads(project.cli("data", "list", "--target", "azb-cpu", "--format", "json", check=True).stdout)
    assert "ope/policy/cartpole/policy.pt" in json.dumps(listed) and "team/" not in json.dumps(listed)


def test_an_azure_target_without_a_datastore_says_how_to_name_one(tmp_path, batch_server, azurite):
    project = make_project(tmp_path / "experiments", batch_server, azurite)
    p = project.cli("data", "list", "--target", "azb-cpu")
    assert p.returncode == 1 and "has no datastore" in p.stderr and 'datastore = "container"' in p.stderr
    assert "Traceback" not in p.stderr
