"""The agent as a process of its own (what a Batch node runs), status summaries, metrics and tables."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from launcher.agent import latest_metrics
from launcher.jobs.status import summarize
from launcher.report.jobs import render_table, runs_rows, sort_runs
from jobs_project import cli_env, tiny_runspec


def test_agent_runs_one_child_with_nothing_but_the_store(project, tmp_path):
    hps = "hyperparameters:\n  - name: &lr\n      ordered_tuning_values: [0.1, 0.3]\n      tuned_value: 0.3\n"
    project.write("runspecs/hp.yaml", tiny_runspec(hp_tuning="random", total_runs=1, per_node=1, hyperparameters=hps,
                                                    stage_extra="      learning_rate: *lr\n"))
    project.cli("launch", "runspecs/hp.yaml", check=True)
    # A copy of the store, with run1.1 queued again, stands in for a blob container seen from a node.
    store = tmp_path / "store"
    shutil.copytree(project.store, store, ignore=shutil.ignore_patterns("work", "slots"))
    shutil.rmtree(store / "runs" / "run1.1")
    work = tmp_path / "node"
    proc = subprocess.run([sys.executable, "-m", "launcher.agent", "--store", str(store), "--work", str(work),
                           "--node", "tvm-1", "--mirror-interval", "0.2", "job1", "run1.1"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "run1.1: completed"
    rec = json.loads((store / "runs/run1.1/run.json").read_text())
    assert rec["status"] == "completed" and rec["node"] == "tvm-1" and rec["exit_code"] == 0
    assert rec["hparams"]["lr"] in (0.1, 0.3) and isinstance(rec["hpmax"], float)
    summary = json.loads((store / "runs/run1.1/summary.json").read_text())
    assert summary["hparams"] == rec["hparams"] and summary["seed"] == rec["seed"]
    assert (store / "runs/run1.1/mirrored/tiny/repro_spec.yaml").is_file()
    assert "hpmax" in (store / "runs/run1.1/console.txt").read_text()
    assert not (work / "run1.1").exists()  # a completed run's folder is cleaned up


def test_agent_records_a_failing_run_as_failed_with_its_console(project, tmp_path):
    project.write("runspecs/t.yaml", tiny_runspec(total_runs=1, per_node=1))
    project.cli("launch", "runspecs/t.yaml", check=True)
    store = tmp_path / "store"
    shutil.copytree(project.store, store, ignore=shutil.ignore_patterns("work", "slots"))
    (store / "jobs/job1/launched_job_spec.yaml").write_text("component: root/Root_Component\nnot_a_key: 1\n")
    again = subprocess.run([sys.executable, "-m", "launcher.agent", "--store", str(store), "job1", "run1.1"],
                           cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert again.stdout.strip() == "run1.1: completed"  # an ended run is not run twice (a retried task)
    shutil.rmtree(store / "runs" / "run1.1")
    proc = subprocess.run([sys.executable, "-m", "launcher.agent", "--store", str(store), "--work",
                           str(tmp_path / "w"), "job1", "run1.1"], env=cli_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    rec = json.loads((store / "runs/run1.1/run.json").read_text())
    assert rec["status"] == "failed" and rec["exit_code"] == 1 and rec["error"] == "exit code 1"
    assert "not_a_key" in rec["console_tail"]
    assert (tmp_path / "w" / "run1.1" / "code" / "launched_job_spec.yaml").is_file()  # kept for a post-mortem


def test_latest_metrics_names_per_stage_values_like_xt(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"stage": 1, "iteration": 500, "hours": 0.01, "metrics": {"rew": 0.1, "win": 0.2}},
             {"stage": 1, "iteration": 1000, "hours": 0.02, "metrics": {"rew": 0.3, "win": None}},
             {"stage": 2, "iteration": 200, "hours": 0.03, "metrics": {"rew": 0.5}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"stage": 2, "iter')  # a half-written line
    metrics, iters = latest_metrics(path)
    assert metrics == {"s1-hrs": 0.02, "s1-rew": 0.3, "s1-win": 0.2, "s2-hrs": 0.03, "s2-rew": 0.5}
    assert iters == 200


def test_summary_status_follows_the_runs():
    job = {"job": "job1", "status": "running"}

    def runs(*states, hpmax=None):
        return [{"run": f"run1.{i}", "status": s, "hpmax": hpmax} for i, s in enumerate(states, 1)]

    assert summarize(job, runs("queued", "queued"))["status"] == "queued"
    assert summarize(job, runs("completed", "queued"))["status"] == "running"
    done = summarize(job, runs("completed", "completed", hpmax=0.5))
    assert done["status"] == "completed" and done["runs_done"] == 2 and done["best_hpmax"] == 0.5
    assert summarize(job, runs("completed", "lost"))["status"] == "failed"
    assert summarize(job, runs("completed", "lost"))["runs_failed"] == 1
    assert summarize(job, runs("completed", "cancelled"))["status"] == "cancelled"
    assert summarize({"job": "job1", "status": "removed"}, runs("cancelled"))["status"] == "removed"


def test_runs_table_has_metric_and_hp_columns_and_sorts_missing_last():
    runs = [{"run": "run1.2", "status": "completed", "metrics": {"s2-rew": 0.1, "s1-rew": 0.4, "s1-hrs": 0.01},
             "hpmax": 0.1, "hparams": {"lr": 0.2}},
            {"run": "run1.1", "status": "failed", "metrics": {}, "hpmax": None, "hparams": {"lr": 0.1}},
            {"run": "run1.3", "status": "completed", "metrics": {"s1-rew": 0.9}, "hpmax": 0.9,
             "hparams": {"lr": 0.1}}]
    columns, rows = runs_rows(runs)
    # without a recorded order: stage by stage, hours last in each stage
    assert columns[:7] == ["run", "status", "node", "iters", "s1-rew", "s1-hrs", "s2-rew"]
    assert columns[7:9] == ["hpmax", "lr"]
    # with the order the stage defined ("win" declared first, so it is the objective): that order
    runs[0]["metric_order"] = ["s1-win", "s1-rew", "s1-hrs", "s2-rew"]
    runs[0]["metrics"]["s1-win"] = 0.5
    assert runs_rows(runs)[0][4:8] == ["s1-win", "s1-rew", "s1-hrs", "s2-rew"]
    ordered = [r["run"] for r in sort_runs(runs, "metrics.hpmax")]
    assert ordered == ["run1.2", "run1.3", "run1.1"]
    assert [r["run"] for r in sort_runs(runs, "hparams.lr", reverse=True)][0] == "run1.2"
    text = render_table(columns, rows)
    assert all(line == line.rstrip() for line in text.splitlines())
    assert text.splitlines()[0].split()[:3] == ["run", "status", "node"]
