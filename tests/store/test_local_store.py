"""LocalStore: atomic objects, key validation, listing, and counters under concurrent processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.diagnostics import LauncherError
from launcher.jobs.numbering import job_number, next_job_name, next_run_names
from launcher.store import open_store
from launcher.store.base import Store
from launcher.store.local import LocalStore, atomic_write

REPO = Path(__file__).resolve().parents[2]


def test_objects_round_trip_and_leave_no_temp_files(tmp_path):
    store = LocalStore(tmp_path / "s")
    assert store.read_bytes("jobs/job1/job.json") is None
    assert not store.exists("jobs/job1/job.json")
    store.write_json("jobs/job1/job.json", {"job": "job1", "n": 1})
    store.write_bytes("code/abc.zip", b"\x00\x01")
    store.write_text("runs/run1.1/console.txt", "hello\n")
    store.write_text("runs/run1.1/console.txt", "hello again\n")  # replace
    assert store.read_json("jobs/job1/job.json") == {"job": "job1", "n": 1}
    assert store.read_bytes("code/abc.zip") == b"\x00\x01"
    assert store.read_text("runs/run1.1/console.txt") == "hello again\n"
    assert store.exists("code/abc.zip")
    files = sorted(p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert files == ["code/abc.zip", "jobs/job1/job.json", "runs/run1.1/console.txt"]
    mode = (tmp_path / "s" / "code" / "abc.zip").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_list_by_prefix_and_delete(tmp_path):
    store = LocalStore(tmp_path)
    for key in ("runs/run5/run.json", "runs/run5.1/run.json", "runs/run51/run.json", "runs/run6/run.json",
                "jobs/job1/job.json"):
        store.write_text(key, "x")
    store.next_number("jobs")
    assert store.list("runs/run5") == ["runs/run5.1/run.json", "runs/run5/run.json", "runs/run51/run.json"]
    assert store.list("runs/run5/") == ["runs/run5/run.json"]
    assert store.list("jobs/") == ["jobs/job1/job.json"]
    assert store.list("counters/") == ["counters/jobs"]  # lock files are not objects
    assert store.list("nothing/") == []
    assert len(store.list("")) == 6
    store.delete("runs/run6/run.json")
    store.delete("runs/run6/run.json")  # twice: no error
    assert not store.exists("runs/run6/run.json")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "jobs/../../x", "a//b", "./a", "a/./b",
                                 "C:/x", "a\\b", "a/.tmp-x", "nul\x00"])
def test_bad_keys_are_refused(tmp_path, key):
    store = LocalStore(tmp_path / "s")
    with pytest.raises(ValueError):
        store.write_bytes(key, b"x")
    with pytest.raises(ValueError):
        store.read_bytes(key)
    assert not (tmp_path / "outside").exists()


def test_a_failed_write_leaves_the_old_object_and_no_temp_file(tmp_path):
    store = LocalStore(tmp_path)
    store.write_text("jobs/job1/job.json", "old")
    with pytest.raises(TypeError):
        atomic_write(store.path("jobs/job1/job.json"), 12345)  # fails after the temp file was created
    assert store.read_text("jobs/job1/job.json") == "old"
    assert [p.name for p in (tmp_path / "jobs" / "job1").iterdir()] == ["job.json"]


def test_counters_start_at_one_and_blocks_are_contiguous(tmp_path):
    store = LocalStore(tmp_path)
    assert [store.next_number("jobs") for _ in range(3)] == [1, 2, 3]
    assert store.next_numbers("ws1-runs", 4) == range(1, 5)
    assert store.next_numbers("ws1-runs", 0) == range(5, 5)
    assert store.next_numbers("ws1-runs", 2) == range(5, 7)
    assert store.read_text("counters/ws1-runs") == "6\n"
    with pytest.raises(ValueError):
        store.next_number("../jobs")
    with pytest.raises(ValueError):
        store.next_numbers("jobs", -1)


def test_a_counter_moves_above_a_floor_and_never_back(tmp_path):
    # A fresh store (a CI runner, a colleague's laptop) numbers above the ledger's highest job, not from 1.
    store = LocalStore(tmp_path)
    assert store.next_number("jobs", above=7) == 8
    assert store.next_number("jobs") == 9
    assert store.next_number("jobs", above=3) == 10  # a lower floor never moves it back
    assert list(store.next_numbers("ws1-runs", 2, above=40)) == [41, 42]
    assert next_job_name(LocalStore(tmp_path / "fresh"), above=12) == "job13"


def test_a_corrupted_counter_is_an_error_not_a_guess(tmp_path):
    store = LocalStore(tmp_path)
    (tmp_path / "counters").mkdir()
    (tmp_path / "counters" / "jobs").write_text("twelve")
    with pytest.raises(LauncherError, match="not a number") as info:
        store.next_number("jobs")
    assert "highest number" in info.value.hint
    assert (tmp_path / "counters" / "jobs").read_text() == "twelve"


# A child interpreter that imports only the store, waits for the go file, allocates and prints its numbers.
_CHILD = """
import sys, time
from pathlib import Path
from launcher.store.local import LocalStore
root, counter, count, go = sys.argv[1:]
while not Path(go).exists():
    time.sleep(0.001)
print(" ".join(map(str, LocalStore(Path(root)).next_numbers(counter, int(count)))))
"""


def _run_concurrently(root: Path, counter: str, count: int, procs: int) -> list[list[int]]:
    """`procs` separate interpreters (like separate `launcher launch` calls) released at the same moment."""
    go = root / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, str(root / "store"), counter, str(count), str(go)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for _ in range(procs)]
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        results.append([int(n) for n in out.split()])
    return results


def test_32_concurrent_processes_get_32_distinct_numbers(tmp_path):
    results = _run_concurrently(tmp_path, "jobs", 1, 32)
    numbers = sorted(n for r in results for n in r)
    assert numbers == list(range(1, 33))
    assert LocalStore(tmp_path / "store").next_number("jobs") == 33


def test_concurrent_blocks_never_overlap(tmp_path):
    results = _run_concurrently(tmp_path, "ws1-runs", 5, 8)
    assert all(r == list(range(r[0], r[0] + 5)) for r in results)
    assert sorted(n for r in results for n in r) == list(range(1, 41))


def test_base_default_next_numbers_gives_unique_numbers(tmp_path):
    class PlainStore(LocalStore):
        next_numbers = Store.next_numbers  # the default built on next_number, as a new store would inherit it

        def next_number(self, counter, *, above=0):
            return LocalStore.next_numbers(self, counter, 1, above=above)[0]

    store = PlainStore(tmp_path)
    assert list(store.next_numbers("ws1-runs", 3)) == [1, 2, 3]
    assert next_run_names(store, "ws1", 2) == ["run4", "run5"]


def test_job_and_run_names(tmp_path):
    store = LocalStore(tmp_path)
    assert [next_job_name(store) for _ in range(3)] == ["job1", "job2", "job3"]
    assert next_run_names(store, "ws1", 3) == ["run1", "run2", "run3"]
    assert next_run_names(store, "ws1", 2) == ["run4", "run5"]
    assert next_run_names(store, "ws2", 1) == ["run1"]  # per workspace
    assert next_run_names(store, "ws1", 0) == []
    assert store.read_text("counters/jobs") == "3\n"
    assert job_number("job12") == 12
    for bad in ("job", "job0", "Job1", "run1"):
        with pytest.raises(ValueError):
            job_number(bad)
    with pytest.raises(ValueError):
        next_run_names(store, "../ws", 1)


def test_open_store_resolves_folders_urls_and_config(tmp_path, monkeypatch):
    monkeypatch.delenv("LAUNCHER_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert open_store().root == tmp_path / ".launcher"
    assert open_store({"store": "state"}, project_dir=tmp_path / "p").root == tmp_path / "p" / "state"
    assert open_store("rel", project_dir=tmp_path).root == tmp_path / "rel"
    assert open_store(f"file://{tmp_path}/abs").root == tmp_path / "abs"
    assert open_store(tmp_path / "abs").root == tmp_path / "abs"
    store = LocalStore(tmp_path)
    assert open_store(store) is store
    monkeypatch.setenv("LAUNCHER_STORE", str(tmp_path / "from-env"))
    assert open_store({"store": "state"}).root == tmp_path / "from-env"
    with pytest.raises(LauncherError, match="unknown scheme 'ftp:'"):
        open_store("ftp://host/x")


def test_download_copies_a_job_with_its_runs_or_one_run_and_names_an_unwritable_destination(tmp_path):
    from launcher.jobs.download import download

    store = LocalStore(tmp_path / "s")
    store.write_json("jobs/job1/job.json", {"job": "job1", "runs": ["run1.1"]})
    store.write_json("runs/run1.1/run.json", {"run": "run1.1"})
    store.write_text("runs/run1.1/mirrored/out.txt", "result\n")
    store.write_text("runs/run1.2/console.txt", "not of job1\n")
    got = download(store, "job1", tmp_path / "dest")
    assert (got.files, got.runs, got.dest) == (3, ["run1.1"], tmp_path / "dest" / "job1")
    assert (tmp_path / "dest/job1/run1.1/mirrored/out.txt").read_text() == "result\n"
    assert got.byte_count == sum(p.stat().st_size for p in got.dest.rglob("*") if p.is_file())
    assert download(store, "run1.1", tmp_path / "one").to_dict()["files"] == 2
    (tmp_path / "a-file").write_text("")
    with pytest.raises(LauncherError, match="cannot write") as caught:
        download(store, "job1", tmp_path / "a-file")
    assert "DEST" in caught.value.hint
