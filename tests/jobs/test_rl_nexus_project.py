"""An rl_nexus-layout project (tests/rl_nexus_project/template) driven as its users work: from inside rl_nexus/,
`launcher validate`, `smoke`, `run` and a local `launch` with its own run.py, xtlib.run logging and datastore."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from jobs_project import REPO, Project, cli_env, git, stop_everything

TEMPLATE = REPO / "tests" / "rl_nexus_project" / "template"
OFFSET = 0.5  # datastore/offset.txt: every reward gets it


@pytest.fixture
def nexus(tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(TEMPLATE, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    (root / "datastore").mkdir()  # ../datastore from rl_nexus/, as rl_nexus has it (git-ignored)
    (root / "datastore" / "offset.txt").write_text(f"{OFFSET}\n")
    proj = Project(root)
    yield proj
    stop_everything(proj)


def cli(proj: Project, *args, cwd=None, check=False) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "launcher", *map(str, args)], cwd=cwd or proj.root / "rl_nexus",
                          capture_output=True, text=True, timeout=240, env=cli_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"launcher {' '.join(map(str, args))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_validate_and_smoke_from_inside_rl_nexus(nexus):
    assert cli(nexus, "validate", "specs/x.yaml").returncode == 0
    proc = cli(nexus, "smoke", "specs/x.yaml", "--format", "json", check=True)
    report = json.loads(proc.stdout)
    assert report["ok"], report
    assert report["hpmax"] == pytest.approx(2 + OFFSET)  # tuned rate + the datastore's offset, as logged
    assert any("read offset 0.5 from the datastore" in ln for ln in report["console_tail"])
    assert not (nexus.root / "results").exists()  # the smoke ran in a temporary copy of the snapshot


def test_run_then_local_launch_reports_logged_metrics_and_hpmax(nexus):
    # The tutorial's sanity run, in place: it leaves rl_nexus/repro_spec.yaml and console.txt behind, which
    # must not make the tree dirty for the launch that follows.
    ran = cli(nexus, "run", "specs/x.yaml")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (nexus.root / "rl_nexus" / "repro_spec.yaml").is_file()
    assert (nexus.root / "results" / "x" / "console.txt").is_file()  # experiment_path ../results from rl_nexus/

    launched = json.loads(cli(nexus, "launch", "specs/x.yaml", "--target", "local", "--detach", "--format", "json",
                              check=True).stdout)
    job = launched["job"]
    assert nexus.wait(job)["status"] == "completed"
    runs = json.loads(cli(nexus, "runs", job, "--format", "json", check=True).stdout)["runs"]
    assert len(runs) == 3
    for r in runs:
        rate = r["hparams"]["rate"]  # chosen by the search, handed over in downloaded_hp_config.yaml
        assert rate in (1, 2, 3)
        assert r["metrics"]["s1-rew"] == pytest.approx(rate + OFFSET)  # logged through xtlib.run, stage s1
        assert r["hpmax"] == pytest.approx(rate + OFFSET)  # the hpmax the run logged
        assert r["iters"] == 1000
    table = cli(nexus, "runs", job, "--sort", "metrics.hpmax", check=True).stdout
    assert "s1-rew" in table


def test_launch_refuses_when_the_run_command_script_is_not_in_the_snapshot(nexus):
    text = (nexus.root / "pyproject.toml").read_text().replace('working_dir = "rl_nexus"', 'working_dir = "."')
    nexus.write("pyproject.toml", text)
    proc = cli(nexus, "launch", "rl_nexus/specs/x.yaml", "--target", "local", "--detach", cwd=nexus.root)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the code snapshot has no run.py" in proc.stderr and "rl_nexus/run.py" in proc.stderr
    assert not (nexus.store / "jobs").exists()  # refused before a job number was taken


def test_a_failed_smoke_shows_the_console_lines_without_verbose(nexus):
    text = (nexus.root / "pyproject.toml").read_text().replace('working_dir = "rl_nexus"', 'working_dir = "."')
    nexus.write("pyproject.toml", text)
    proc = cli(nexus, "smoke", "specs/x.yaml")
    assert proc.returncode == 1
    assert "can't open file" in proc.stdout and "run.py" in proc.stdout


def test_untracked_code_still_refuses_but_other_untracked_files_only_warn(nexus):
    (nexus.root / "rl_nexus" / "notes.md").write_text("scratch\n")
    (nexus.root / "rl_nexus" / "specs" / "forgotten.yaml").write_text("component: root/Root_Component\n")
    refused = cli(nexus, "launch", "specs/x.yaml", "--target", "local", "--detach")
    assert refused.returncode == 1 and "rl_nexus/specs/forgotten.yaml" in refused.stderr
    (nexus.root / "rl_nexus" / "specs" / "forgotten.yaml").unlink()
    ok = cli(nexus, "launch", "specs/x.yaml", "--target", "local", "--detach", check=True)
    assert "untracked files not packed" in ok.stdout + ok.stderr and "rl_nexus/notes.md" in ok.stdout + ok.stderr


def test_data_upload_and_list_fill_the_local_datastore_that_runs_read(nexus):
    shutil.rmtree(nexus.root / "datastore")
    src = nexus.root.parent / "my-data"
    (src / "sub").mkdir(parents=True)
    (src / "offset.txt").write_text("1.5\n")
    (src / "sub" / "table.csv").write_text("a,b\n")
    (src / ".env").write_text("SECRET=1\n")  # never uploaded
    up = json.loads(cli(nexus, "data", "upload", src, "--to", ".", "--format", "json", check=True).stdout)
    assert up["files"] == 2 and up["skipped"] == [".env"] and up["dest"] == ""
    assert (nexus.root / "datastore" / "offset.txt").read_text() == "1.5\n"  # ../datastore from rl_nexus/
    listed = json.loads(cli(nexus, "data", "list", "--format", "json", check=True).stdout)["files"]
    assert [f["path"] for f in listed] == ["offset.txt", "sub/table.csv"] and listed[0]["bytes"] == 4
    assert "2 files in the datastore of local" in cli(nexus, "data", "list", check=True).stdout
    bad = cli(nexus, "data", "upload", src, "--to", "../outside")
    assert bad.returncode == 1 and "must be a relative folder inside the datastore" in bad.stderr
    missing = cli(nexus, "data", "upload", nexus.root / "nope")
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    report = json.loads(cli(nexus, "smoke", "specs/x.yaml", "--format", "json", check=True).stdout)
    assert report["hpmax"] == pytest.approx(2 + 1.5)  # the smoke run read the uploaded file
