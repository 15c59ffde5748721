"""The Azurite fixture: a real blob service on 127.0.0.1 that azure-storage-blob and SAS URLs work with."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

from services import blob_http
from services.azurite import Azurite, AzuriteNotInstalled, find_azurite

pytestmark = pytest.mark.slow


def test_fixture_exposes_a_working_account(azurite):
    assert azurite.account_url == f"http://127.0.0.1:{azurite.port}/{azurite.account_name}"
    assert f"BlobEndpoint={azurite.account_url};" in azurite.connection_string
    container = azurite.create_container("fixture-check")
    container.upload_blob("a/b.txt", b"hello", overwrite=True)
    assert container.download_blob("a/b.txt").readall() == b"hello"
    assert azurite.process.poll() is None


def test_etag_guarded_write_lets_exactly_one_writer_win(azurite):
    blob = azurite.create_container("counter").get_blob_client("next")
    blob.upload_blob(b"1", overwrite=True)
    tag = blob.get_blob_properties().etag
    blob.upload_blob(b"2", overwrite=True, etag=tag, match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceModifiedError):
        blob.upload_blob(b"3", overwrite=True, etag=tag, match_condition=MatchConditions.IfNotModified)
    with pytest.raises(ResourceExistsError):
        blob.upload_blob(b"4")  # create-only
    assert blob.download_blob().readall() == b"2"


def test_sas_urls_work_over_plain_http(azurite, tmp_path):
    container = azurite.create_container("sas-check")
    container.upload_blob("code/x.py", b"print(1)", overwrite=True)
    container.upload_blob("code/deep/y.py", b"print(2)", overwrite=True)
    container.upload_blob("other.txt", b"-", overwrite=True)
    read_list = azurite.container_sas_url("sas-check", "rl")
    assert blob_http.list_blobs(read_list, "code/") == ["code/deep/y.py", "code/x.py"]
    blob_http.download(blob_http.blob_url(read_list, "code/x.py"), tmp_path / "x.py")
    assert (tmp_path / "x.py").read_bytes() == b"print(1)"

    (tmp_path / "up.txt").write_bytes(b"uploaded")
    with pytest.raises(blob_http.TransferError) as caught:
        blob_http.upload(tmp_path / "up.txt", blob_http.blob_url(read_list, "up.txt"))
    assert caught.value.code == "FileUploadError"
    blob_http.upload(tmp_path / "up.txt", blob_http.blob_url(azurite.container_sas_url("sas-check", "cw"), "up.txt"))
    assert container.download_blob("up.txt").readall() == b"uploaded"

    with pytest.raises(urllib.error.HTTPError) as denied:  # no SAS at all
        urllib.request.urlopen(f"{azurite.account_url}/sas-check/other.txt", timeout=5)
    assert denied.value.code in (401, 403, 404)


def test_missing_azurite_fails_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("AZURITE_BIN", str(tmp_path / "not-there"))
    with pytest.raises(AzuriteNotInstalled, match="AZURITE_BIN"):
        find_azurite()
    monkeypatch.delenv("AZURITE_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("services.azurite.LOCAL_BIN", tmp_path / "absent")
    with pytest.raises(AzuriteNotInstalled, match="make test"):
        find_azurite()


def test_stop_kills_only_its_own_process(tmp_path):
    first = Azurite(tmp_path / "one").start()
    pid = first.process.pid
    try:
        assert os.path.isdir(tmp_path / "one" / "data")  # its files stay in its own folder
    finally:
        first.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
