"""`launcher smoke`: the truncated pre-flight run, passing on the example runspecs and failing clearly."""

from __future__ import annotations

import json
import tempfile
import time

import pytest

from tests.conftest import needs_shared
from rt_helpers import COMPAT, REPO, SPECS, TEST_COMPONENTS

RUNSPECS = sorted((REPO / "runspecs").glob("*.yaml"))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile at a folder of our own, to see that smoke leaves nothing behind."""
    t = tmp_path / "tmp"
    t.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    return t


def test_there_are_example_runspecs():
    assert {p.name for p in RUNSPECS} >= {"xt_walk_through.yaml", "random_search.yaml", "grid_search.yaml"}


@pytest.mark.parametrize("spec", RUNSPECS, ids=lambda p: p.name)
def test_smoke_passes_on_every_example_runspec(run_cli, spec, workdir, private_tmp):
    t0 = time.monotonic()
    code, out, err = run_cli("smoke", spec, "--format", "json", cwd=workdir)
    elapsed = time.monotonic() - t0
    report = json.loads(out)
    assert code == 0, out + err
    assert report["ok"] and elapsed < 10
    assert all(c["ok"] for c in report["checks"])
    assert {c["name"] for c in report["checks"]} == {"exit code 0", "every enabled stage started and completed",
                                                     "repro_spec.yaml matches the runspec", "hpmax reported"}
    assert report["hpmax"] is not None
    assert all(s["status"] == "completed" and s["reports"] >= 5 for s in report["stages"])
    changed = {c["path"].rsplit(".", 1)[-1] for c in report["truncated"]}
    assert changed == {"enabled", "max_iterations", "iters_per_report"}  # launcher off, stages cut
    assert "- job_launcher: not in repro_spec.yaml (a local run does not launch)" in report["repro_diff"]
    assert list(private_tmp.iterdir()) == []  # the temporary copy and its outputs are gone
    assert not (workdir.parent / "results").exists()  # nothing written beside the caller


def test_smoke_truncates_and_keeps_outputs(run_cli, workdir, tmp_path):
    out_dir = tmp_path / "kept"
    code, out, err = run_cli("smoke", REPO / "runspecs" / "xt_walk_through.yaml", "--iterations", "400",
                             "--out", out_dir, "--seed", "9", cwd=workdir)
    assert code == 0, out + err
    assert "passed" in out.splitlines()[0] and "max_iterations cut to 400" in out
    assert "~ $.processing_stages[0].processing_stage.max_iterations: 100000 -> 400" in out
    assert "~ $.processing_stages[0].processing_stage.iters_per_report: 5000 -> 20" in out  # ratio kept
    repro = list(out_dir.rglob("repro_spec.yaml"))
    assert len(repro) == 1 and "job_launcher" not in repro[0].read_text()
    assert (repro[0].parent / "console.txt").read_text().count("Completed") == 4


def test_smoke_markdown_is_compact(run_cli, workdir):
    code, out, _ = run_cli("smoke", REPO / "runspecs" / "grid_search.yaml", "--format", "markdown", cwd=workdir)
    assert code == 0
    assert out.startswith("#### ✅ Smoke run `")
    assert "| # | stage | status | reports | summary | last metrics |" in out
    assert "<details><summary>runspec → repro_spec.yaml" in out
    assert len(out.splitlines()) < 30


def test_smoke_reports_a_stage_that_raises(run_cli, workdir):
    code, out, _ = run_cli("smoke", SPECS / "boom.yaml", "--component-root", TEST_COMPONENTS, "--format", "json",
                           cwd=workdir)
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert report["failing_stage"] == "2 of 3 (processors/Boom_Proc)"
    assert "ValueError: boom at iteration" in report["error"]
    assert "Boom_Proc:  Failed (ValueError: boom at iteration" in report["console_tail"][-1]
    assert len(report["console_tail"]) <= 30
    assert report["traceback"] is None  # only with --verbose
    assert [s["status"] for s in report["stages"]] == ["completed", "failed", "not run"]

    code, out, _ = run_cli("smoke", SPECS / "boom.yaml", "--component-root", TEST_COMPONENTS, "--verbose",
                           cwd=workdir)
    assert code == 1 and "Traceback (most recent call last)" in out
    assert "failing stage: 2 of 3 (processors/Boom_Proc)" in out


def test_smoke_kills_a_stage_that_hangs(run_cli, workdir):
    t0 = time.monotonic()
    code, out, _ = run_cli("smoke", SPECS / "hang.yaml", "--component-root", TEST_COMPONENTS, "--timeout", "3",
                           "--format", "json", cwd=workdir)
    elapsed = time.monotonic() - t0
    report = json.loads(out)
    assert code == 1 and report["timed_out"] and elapsed < 10
    assert report["failing_stage"] == "2 of 2 (processors/Hang_Proc)"
    assert report["error"] == "timed out after 3 s in stage 2 of 2 (processors/Hang_Proc)"
    assert [s["status"] for s in report["stages"]] == ["completed", "killed"]
    assert report["console_tail"][-1] == "Hang_Proc: waiting forever"


def test_smoke_names_a_component_that_does_not_exist(run_cli, workdir):
    code, out, _ = run_cli("smoke", SPECS / "missing.yaml", "--component-root", TEST_COMPONENTS, cwd=workdir)
    assert code == 1
    assert "component processors/Nonexistent_Proc not found" in out
    assert "looked for" in out and "Nonexistent_Proc.yaml" in out
    assert "Traceback" not in out


@needs_shared
def test_smoke_of_an_rl_nexus_runspec_without_its_code_fails_clearly(run_cli, workdir):
    code, out, _ = run_cli("smoke", COMPAT / "specs" / "xt_walk_through.yaml",
                           "--component-root", COMPAT / "components", cwd=workdir)
    assert code == 1
    assert "component env_wrappers/Env_Formatter not found" in out and "looked for" in out
    assert "Traceback" not in out


@needs_shared
def test_smoke_of_an_rl_nexus_runspec_whose_settings_exist_but_code_does_not(run_cli, workdir):
    code, out, _ = run_cli("smoke", COMPAT / "specs" / "cartpole_ppo.yaml",
                           "--component-root", COMPAT / "components", "--format", "json", cwd=workdir)
    report = json.loads(out)
    assert code == 1
    assert report["failing_stage"] == "1 of 1 (processors/Train_Policy)"
    assert "processors/Train_Policy has no code" in report["error"] and "Train_Policy.py" in report["error"]


def test_smoke_rejects_bad_options(run_cli, workdir):
    code, _, err = run_cli("smoke", REPO / "runspecs" / "grid_search.yaml", "--iterations", "0", cwd=workdir)
    assert code == 2 and "--iterations must be at least 1" in err


def test_json_out_writes_the_json_report_beside_the_markdown(tmp_path, run_cli):
    import json
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "smoke.json"
    code, stdout, _ = run_cli("smoke", repo / "runspecs" / "grid_search.yaml", "--format", "markdown",
                              "--json-out", out, cwd=tmp_path)
    assert code == 0
    assert stdout.lstrip().startswith("#") or "|" in stdout  # Markdown on stdout
    report = json.loads(out.read_text())
    assert report["ok"] is True and report["hpmax"] is not None
