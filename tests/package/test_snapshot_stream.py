"""The streamed snapshot (read, scanned and zipped batch by batch into a file) is the in-memory one of before."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import zipfile

import pytest

from launcher import package
from launcher.diagnostics import LauncherError
from launcher.package import build_snapshot, extract_snapshot, upload_snapshot
from launcher.store.local import LocalStore

FILES = {
    "README.md": "# demo\n",
    "src/a.py": "A = 1\n" * 300,
    "src/b.py": "".join(f"def f{i}(): return {i}\n" for i in range(400)),
    "src/big.py": "0123456789abcdef" * 700,  # larger than LARGE_FILE below: zipped in chunks, full scan
    "run.sh": "#!/bin/sh\necho run\n",
}


def in_memory_zip(repo, files: dict[str, bool]) -> bytes:
    """The snapshot as build_snapshot made it before it streamed: every file read, then one zip in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(files):
            zf.writestr(package._zip_info(path, files[path]), (repo / path).read_bytes(),
                        compress_type=zipfile.ZIP_DEFLATED, compresslevel=package.COMPRESS_LEVEL)
    return buf.getvalue()


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of a few files and a 'large' file of a few KB, so that a small repository takes every path."""
    monkeypatch.setattr(package, "BATCH_BYTES", 3000)
    monkeypatch.setattr(package, "LARGE_FILE", 8000)
    monkeypatch.setattr(package, "CHUNK", 1024)


def test_streamed_snapshot_equals_the_in_memory_zip(make_repo, small_batches):
    repo = make_repo(FILES, executable=("run.sh",))
    snap = build_snapshot(repo)
    expected = in_memory_zip(repo, {p: p == "run.sh" for p in FILES})
    assert snap.zip_bytes == expected
    assert snap.sha256 == hashlib.sha256(expected).hexdigest()
    assert snap.files == sorted(FILES) and snap.file_count == len(FILES)
    assert snap.byte_count == sum(len(t) for t in FILES.values())
    with zipfile.ZipFile(snap.zip_path) as zf:
        assert zf.namelist() == sorted(FILES)
        assert {n: zf.read(n).decode() for n in zf.namelist()} == FILES


def test_a_secret_in_a_large_file_is_found_and_no_zip_is_left(make_repo, small_batches, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    leaked = "AKIA" + "ABCDEFGHIJKLMNOP"  # an AWS access key id, split so that this file holds none
    files = dict(FILES, **{"src/big.py": "x = 1\n" * 1500 + f"aws_key = '{leaked}'\n"})
    repo = make_repo(files)
    with pytest.raises(LauncherError, match=r"src/big\.py \(line 1501: AWS Access Key\)"):
        build_snapshot(repo)
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing half-written stays


def test_the_zip_file_goes_with_the_snapshot(make_repo):
    snap = build_snapshot(make_repo(FILES))
    path = snap.zip_path
    assert path.is_file() and path.stat().st_size == snap.zip_size
    del snap
    gc.collect()
    assert not path.exists()


def test_upload_streams_the_file_and_replaces_a_changed_copy(make_repo, tmp_path):
    snap = build_snapshot(make_repo(FILES))
    store = LocalStore(tmp_path / "store")
    assert upload_snapshot(store, snap) == (snap.key, snap.zip_size)
    assert upload_snapshot(store, snap) == (snap.key, 0)
    store.write_bytes(snap.key, b"poisoned")  # changed after its upload: replaced, never trusted
    assert upload_snapshot(store, snap) == (snap.key, snap.zip_size)
    assert store.read_bytes(snap.key) == snap.zip_bytes


def test_extract_from_the_zip_file(make_repo, tmp_path, small_batches):
    snap = build_snapshot(make_repo(FILES, executable=("run.sh",)))
    dest = tmp_path / "code"
    assert extract_snapshot(snap.zip_path, dest) == sorted(FILES)
    assert (dest / "src" / "big.py").read_text() == FILES["src/big.py"]
    assert os.access(dest / "run.sh", os.X_OK)
