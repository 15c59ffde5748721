"""Live progress: the follow bar advances with the iterations running runs report, not only when a run ends;
narrow terminals get a runs table that fits."""

from __future__ import annotations

from launcher.jobs.status import run_fraction
from launcher.report.jobs import JobProgress, fit_columns, progress_value
from jobs_project import tiny_runspec


def test_a_running_run_moves_the_progress_before_it_ends(project):
    project.write("runspecs/long.yaml", tiny_runspec(total_runs=1, per_node=1, iters=20_000_000, report=100_000))
    project.cli("launch", "runspecs/long.yaml", "--detach", check=True)
    seen = project.wait("job1", until=lambda s: s["runs_done"] == 0 and 0 < s["progress"] < 1, timeout=60)
    assert seen["status"] == "running" and seen["runs_running"] == 1
    later = project.wait("job1", until=lambda s: s["progress"] > seen["progress"] or s["runs_done"], timeout=60)
    assert later["progress"] > seen["progress"]
    project.cli("cancel", "job1", check=True)


def test_run_fraction_counts_earlier_stages_and_the_current_iteration():
    assert run_fraction({"iters": 500, "stage": 1}, [1000, 1000]) == 0.25
    assert run_fraction({"iters": 500, "stage": 2}, [1000, 1000]) == 0.75
    assert run_fraction({"iters": 500, "stage": 3}, [1000, 0, 1000]) == 0.75  # a disabled stage counts nothing
    assert run_fraction({"iters": 5000, "stage": 1}, [1000]) == 0.999  # never "done" before it ended
    assert run_fraction({"iters": None, "stage": None}, [1000]) == 0.0
    assert run_fraction({"iters": 10, "stage": 1}, None) == 0.0


def test_the_bar_is_set_from_the_partial_progress():
    bar = JobProgress("job1", 4, enabled=True)
    with bar:
        bar.update({"runs_done": 1, "progress": 1.5, "runs_running": 1, "runs_failed": 0})
        task = bar.progress.tasks[0]
        assert task.completed == 1.5 and task.total == 4
    assert progress_value({"runs_done": 2, "progress": None}) == 2


def test_a_narrow_terminal_drops_columns_from_the_right_but_keeps_run_status_and_hpmax():
    columns = ["run", "status", "node", "iters", "s1-rew", "s1-win", "s1-hrs", "hpmax", "lr", "eps", "exit",
               "elapsed"]
    rows = [["run12.10", "completed", "node0", 20000, 0.12345, 1.0, 0.00007, 0.1278, 0.05, 0.1, 0, 1.3]]
    kept, hidden = fit_columns(columns, rows, width=60)
    assert kept[:2] == ["run", "status"] and "hpmax" in kept and "s1-rew" in kept
    assert hidden and not set(hidden) & {"run", "status", "hpmax"}
    assert [c for c in columns if c in kept] == kept  # order kept
    assert fit_columns(columns, rows, width=1000) == (columns, [])
