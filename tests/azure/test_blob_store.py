"""AzureBlobStore against Azurite (started on 127.0.0.1 by the session fixture): the same behaviour as the
folder store, atomic counters under racing writers, skipped uploads, and SAS-scoped agents."""

from __future__ import annotations

import threading
import uuid

import pytest

from launcher.diagnostics import LauncherError

pytestmark = pytest.mark.slow


@pytest.fixture
def store(azurite):
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    return AzureBlobStore(f"{azurite.account_url}/b{uuid.uuid4().hex[:12]}",
                          AzureNamedKeyCredential(azurite.account_name, azurite.account_key))


def test_objects_round_trip_and_list_by_prefix(store, tmp_path):
    assert store.read_bytes("jobs/job1/job.json") is None and store.list("jobs/") == []  # no container yet
    store.write_json("jobs/job1/job.json", {"job": "job1"})  # creates the container on first write
    store.write_text("runs/run1.1/console.txt", "hello\n")
    store.write_bytes("runs/run1.10/run.json", b"{}")
    store.write_bytes("runs/run1.1/mirrored/a/b.txt", b"x")
    assert store.read_json("jobs/job1/job.json") == {"job": "job1"}
    assert store.exists("runs/run1.1/console.txt") and not store.exists("runs/run1.1/nope")
    assert store.list("runs/run1.1/") == ["runs/run1.1/console.txt", "runs/run1.1/mirrored/a/b.txt"]
    assert store.list("runs/run1.1") == ["runs/run1.1/console.txt", "runs/run1.1/mirrored/a/b.txt",
                                          "runs/run1.10/run.json"]
    store.write_text("runs/run1.1/console.txt", "hello again\n")  # replace
    assert store.read_text("runs/run1.1/console.txt") == "hello again\n"
    store.delete("runs/run1.1/console.txt")
    store.delete("runs/run1.1/console.txt")  # no error when gone
    assert not store.exists("runs/run1.1/console.txt")
    src = tmp_path / "f.bin"
    src.write_bytes(b"\0\1" * 5000)
    store.put_file("code/f.bin", src)
    assert store.get_file("code/f.bin", tmp_path / "out" / "f.bin") and (tmp_path / "out/f.bin").read_bytes() == \
        src.read_bytes()
    assert store.get_file("code/missing", tmp_path / "missing") is False
    for bad in ("../x", "/abs", "a//b", ""):
        with pytest.raises(ValueError):
            store.write_bytes(bad, b"x")


def test_counters_hand_out_each_number_once_under_racing_writers(store, azurite):
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    assert store.next_number("jobs") == 1
    assert list(store.next_numbers("ws1-runs", 5)) == [1, 2, 3, 4, 5]
    assert list(store.next_numbers("ws1-runs", 0)) == []
    assert store.next_number("fresh", above=7) == 8  # a new counter blob starts above the floor
    assert store.next_number("fresh", above=3) == 9
    assert store.next_number("jobs", above=20) == 21
    assert store.read_text("counters/ws1-runs") == "5\n"  # the folder store's format
    # Two store objects (as two launcher processes), four threads each, racing on one counter.
    other = AzureBlobStore(store.url, AzureNamedKeyCredential(azurite.account_name, azurite.account_key))
    got: list[int] = []
    lock = threading.Lock()

    def draw(s):
        for _ in range(10):
            n = s.next_number("race")
            with lock:
                got.append(n)

    threads = [threading.Thread(target=draw, args=(s,)) for s in (store, other) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 81))
    store.write_text("counters/broken", "abc")
    with pytest.raises(LauncherError, match="not a number"):
        store.next_number("broken")


def test_content_addressed_upload_is_skipped_when_present(store):
    data = b"zip" * 100_000
    assert store.upload("code/abc.zip", data, if_absent=True) == len(data)
    assert store.upload("code/abc.zip", data, if_absent=True) == 0
    from launcher.package import Snapshot, upload_snapshot

    snap = Snapshot(zip_bytes=data, sha256="abc", file_count=1, byte_count=1, commit="", dirty=False, dirty_files=[])
    assert upload_snapshot(store, snap) == ("code/abc.zip", 0)
    assert store.write_many([(f"runs/r{i}/run.json", b"{}") for i in range(60)]) == 120
    assert len(store.list("runs/")) == 60


def test_an_agent_with_a_container_sas_reads_and_writes_but_cannot_delete_or_list(store):
    from datetime import timedelta

    from launcher.azure.sas import SasSigner, expiry_after
    from launcher.store import open_store
    from launcher.store.azure_blob import AzureBlobStore

    store.write_json("jobs/job1/plan.json", {"job": "job1"})
    signer = SasSigner(store)
    url = signer.container_url(expiry=expiry_after(timedelta(minutes=5)), permission="racw")
    agent = open_store(url)
    assert isinstance(agent, AzureBlobStore) and agent.has_sas
    assert "sig=" not in agent.description  # never shown
    assert agent.read_json("jobs/job1/plan.json") == {"job": "job1"}
    agent.write_text("runs/run1.1/console.txt", "from the node\n")
    assert store.read_text("runs/run1.1/console.txt") == "from the node\n"
    with pytest.raises(LauncherError) as err:
        agent.delete("jobs/job1/plan.json")
    assert "refused the credentials" in err.value.message and "sig=" not in err.value.message.replace(
        "sig=REDACTED", "")
    with pytest.raises(LauncherError):
        agent.list("jobs/")
    read_only = open_store(signer.blob_url("jobs/job1/plan.json", expiry=expiry_after(timedelta(minutes=5))))
    assert read_only is not None  # a blob SAS URL parses as a store URL too (used only as an http_url)


def test_wrong_key_is_a_clear_error(azurite):
    from azure.core.credentials import AzureNamedKeyCredential

    from launcher.store.azure_blob import AzureBlobStore

    bad = AzureBlobStore(f"{azurite.account_url}/wrongkey", AzureNamedKeyCredential(azurite.account_name, "AAAA"),
                         retry_total=0)
    with pytest.raises(LauncherError) as err:
        bad.write_text("x", "y")
    assert "refused the credentials" in err.value.message and "Storage Blob Data Contributor" in err.value.hint
