"""Runs that start fast: forked from the job's fork server, in an overlay of the job's one shared code tree."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import zipfile

import pytest

from launcher.shared_code import CodeError, job_tree, run_tree
from launcher.store.local import LocalStore
from jobs_project import tiny_runspec


def _long(project, total_runs=2, per_node=2):
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=total_runs, per_node=per_node, iters=3_000_000,
                                                     report=300_000))
    return json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json",
                                  check=True).stdout)["job"]


def _parent_cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{ppid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode()


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_forked_run_is_cancelled_with_its_process_group(project):
    job = _long(project)
    running = project.wait_run("run1.1", lambda r: r.get("status") == "running" and r.get("pid"))
    assert "launcher.forkserver" in _parent_cmdline(running["pid"])  # forked, not a fresh interpreter
    assert os.getpgid(running["pid"]) == running["pid"]  # its own group: cancel reaches what it starts
    assert project.json("cancel", job)["status"] == "cancelled"
    assert _gone(running["pid"])
    summary = project.wait(job, timeout=120)
    assert summary["status"] == "cancelled"
    assert {r["status"] for r in project.json("runs", job)["runs"]} == {"cancelled"}


def test_stopping_the_supervisor_stops_its_forked_runs(project):
    """SIGTERM to the supervisor (what a time limit sends): its runs end cancelled, their processes gone."""
    job = _long(project)
    running = project.wait_run("run1.2", lambda r: r.get("status") == "running" and r.get("pid"))
    os.kill(project.read(f"jobs/{job}/supervisor.json")["pid"], signal.SIGTERM)
    assert _gone(running["pid"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (project.read(f"jobs/{job}/supervisor.json") or {}).get("finished"):
        time.sleep(0.2)
    assert project.read("runs/run1.2/run.json")["status"] == "cancelled"


def test_fresh_interpreters_on_request(project):
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=1, per_node=1, iters=3_000_000, report=300_000))
    job = json.loads(project.cli("launch", "runspecs/long.yaml", "--detach", "--format", "json", check=True,
                                 env={"LAUNCHER_FORK_RUNS": "0"}).stdout)["job"]
    rec = project.wait_run("run1.1", lambda r: r.get("status") == "running" and r.get("pid"))
    assert "launcher.forkserver" not in _parent_cmdline(rec["pid"])
    project.cli("cancel", job, check=True)
    assert _gone(rec["pid"])


def test_completed_runs_leave_no_folder_and_the_job_no_code_tree(project):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=4, per_node=2))
    summary = json.loads(project.cli("launch", "runspecs/t.yaml", "--format", "json", check=True).stdout)["summary"]
    assert summary["status"] == "completed" and summary["runs_completed"] == 4
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (project.read("jobs/job1/supervisor.json") or {}).get("finished"):
        time.sleep(0.1)
    work = project.store / "work"
    assert sorted(p.name for p in work.iterdir() if p.name != ".code") == []
    assert not (work / ".code" / "job1").exists()


# ------------------------------------------------------------------------------------- the shared code tree


def _zip(tmp_path, files: dict[str, str]) -> tuple[bytes, str]:
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    data = path.read_bytes()
    return data, f"code/{hashlib.sha256(data).hexdigest()}.zip"


class CountingStore(LocalStore):
    fetched = 0

    def get_file(self, key, dest):
        CountingStore.fetched += 1
        return super().get_file(key, dest)


CODE = {"rl_nexus/run.py": "print('run')\n", "rl_nexus/components/a.py": "A = 1\n", "lib/util.py": "U = 1\n",
        "README.md": "# demo\n"}


def test_the_tree_is_unpacked_once_verified_and_read_only(tmp_path):
    data, key = _zip(tmp_path, CODE)
    store = CountingStore(tmp_path / "store")
    store.write_bytes(key, data)
    CountingStore.fetched = 0
    tree = job_tree(tmp_path / "code", "job1", key, store)
    assert job_tree(tmp_path / "code", "job1", key, store) == tree and CountingStore.fetched == 1
    assert (tree / "lib" / "util.py").read_text() == "U = 1\n"
    assert oct((tree / "lib" / "util.py").stat().st_mode & 0o777) == "0o444"
    assert oct((tree / "lib").stat().st_mode & 0o777) == "0o555"
    assert sorted(p.name for p in (tmp_path / "code" / "job1").iterdir()) == [tree.name, f"{tree.name}.lock"]


def test_a_changed_snapshot_is_never_unpacked(tmp_path):
    data, key = _zip(tmp_path, CODE)
    store = LocalStore(tmp_path / "store")
    store.write_bytes(key, data.replace(b"print('run')", b"print('pwnd')"))
    with pytest.raises(CodeError, match="changed after upload"):
        job_tree(tmp_path / "code", "job1", key, store)
    assert sorted(p.name for p in (tmp_path / "code" / "job1").iterdir()) == [f"{key[5:-4]}.lock"]
    with pytest.raises(CodeError, match="not in the store"):
        job_tree(tmp_path / "code", "job2", "code/" + "0" * 64 + ".zip", store)


def test_a_runs_writes_stay_in_its_own_folder(tmp_path):
    data, key = _zip(tmp_path, CODE)
    store = LocalStore(tmp_path / "store")
    store.write_bytes(key, data)
    tree = job_tree(tmp_path / "code", "job1", key, store)
    runs = [tmp_path / "work" / f"run1.{i}" / "code" for i in (1, 2)]
    for run in runs:
        run_tree(tree, run, ["rl_nexus", "results"])
    one, two = runs
    (one / "rl_nexus" / "console.txt").write_text("mine\n")
    (one / "results" / "bench").mkdir(parents=True)
    (one / "results" / "bench" / "metrics.jsonl").write_text("{}\n")
    assert not (two / "rl_nexus" / "console.txt").exists() and not (two / "results" / "bench").exists()
    assert not (tree / "rl_nexus" / "console.txt").exists() and not (tree / "results").exists()
    # the code itself is the shared tree's, through links
    assert (one / "rl_nexus" / "run.py").read_text() == "print('run')\n" and (one / "lib").is_symlink()
    assert not (one / "rl_nexus").is_symlink()
    if os.geteuid() != 0:  # permission bits do not stop root
        with pytest.raises(PermissionError):
            (one / "rl_nexus" / "run.py").write_text("changed\n")
        with pytest.raises(PermissionError):
            (one / "lib" / "new.py").write_text("new\n")
    assert (tree / "rl_nexus" / "run.py").read_text() == "print('run')\n"
