"""The search analysis: BEST FOR / EST HPMAX / RUNS after each completed run, and `launcher search`."""

from __future__ import annotations

import json

from launcher.hpsearch.analysis import analyse
from launcher.hpsearch.estimate import ConfigStats, estimates
from launcher.report.search import render_text


def rec(run: str, ended: str, hp: dict, hpmax, status: str = "completed") -> dict:
    return {"run": run, "status": status, "ended": f"2026-01-01T00:00:{ended}Z", "hparams": hp, "hpmax": hpmax}


RUNS = [
    rec("run1.1", "01", {"lr": 1}, 5.0),
    rec("run1.2", "03", {"lr": 2}, 9.0),  # a lucky single run of lr=2 ...
    rec("run1.3", "02", {"lr": 3}, 7.0),
    rec("run1.4", "04", {"lr": 3}, 7.2),
    rec("run1.5", "05", {"lr": 3}, 6.8),
    rec("run1.6", "06", {"lr": 2}, 5.0),  # ... that a second run of it does not confirm
    rec("run1.7", "07", {"lr": 9}, None, status="failed"),
]


def test_each_completed_run_gives_a_row_in_the_order_runs_ended():
    result = analyse("job1", RUNS, method="dgd", total_runs=7)
    assert [s.run for s in result.steps] == ["run1.1", "run1.3", "run1.2", "run1.4", "run1.5", "run1.6"]
    assert result.completed == 6 and result.failed == 1
    best = [(s.best, s.best_for, s.runs) for s in result.steps]
    assert best[0] == ({"lr": 1}, 1, 1) and best[1] == ({"lr": 3}, 1, 1) and best[2] == ({"lr": 2}, 1, 1)
    # lr=3's close replicates say the noise is small, so the single 9.0 stays best; its second run (5.0) shows
    # the noise is large, and the consistent lr=3 (same mean, more runs, less shrunk) takes over
    assert [b[0] for b in best[3:]] == [{"lr": 2}, {"lr": 2}, {"lr": 3}] and [b[1] for b in best] == [1, 1, 1, 2, 3, 1]
    assert result.final.runs == 3 and 6.67 < result.final.est_hpmax < 7.0


def test_estimates_shrink_single_runs_more_than_replicated_ones():
    groups = [ConfigStats("a", {}, [10.0]), ConfigStats("b", {}, [8.0, 8.2, 7.8]), ConfigStats("c", {}, [2.0])]
    est = estimates(groups)
    mean = (10 + 8 + 8.2 + 7.8 + 2) / 5
    assert mean < est["a"] < 10.0 and abs(est["b"] - 8.0) < abs(est["a"] - 10.0)
    assert estimates([ConfigStats("x", {}, [3.0, 3.0])]) == {"x": 3.0}  # no spread: the mean itself


def test_text_table_names_the_columns_and_the_best():
    text = render_text(analyse("job1", RUNS, method="dgd", total_runs=7))
    assert "BEST FOR" in text and "EST HPMAX" in text and "RUNS" in text
    assert "best: lr=3" in text and "6 completed, 1 failed or cancelled, of 7 runs" in text
    changes = render_text(analyse("job1", RUNS, method="dgd", total_runs=7), every=False)
    assert changes.count("run1.") < text.count("run1.")
    assert "no completed run" in render_text(analyse("job1", RUNS[-1:], method="dgd"))


def test_search_command_reports_an_unknown_job_clearly(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.launcher]\nworkspace = "ws1"\n')
    code, out, err = run_cli("search", "job404", cwd=tmp_path)
    assert code == 1 and "job404" in err and "Traceback" not in err
    code, out, err = run_cli("search", "--help", cwd=tmp_path)
    assert code == 0 and "BEST FOR" in out


def test_search_json_has_every_step_and_the_best(tmp_path):
    result = analyse("job1", RUNS, method="random", total_runs=7).to_dict()
    data = json.loads(json.dumps(result))
    assert len(data["steps"]) == 6 and data["best"]["best"] == {"lr": 3} and data["replay"] is None
