"""`launcher plot`: learning curves of a finished job as a real PNG (opened and looked at), aggregates with
shadows, hpmax per hyperparameter, the terminal rendering, and its bad-input errors."""

from __future__ import annotations

import json

import pytest

from launcher.results.curves import RunCurves, lines, parse_metrics_jsonl
from jobs_project import tiny_runspec

pytest.importorskip("matplotlib", reason="the plot extra is part of the dev environment")
from PIL import Image  # noqa: E402 - matplotlib brings pillow

HPS = "hyperparameters:\n  - name: &lr\n      ordered_tuning_values: [0.05, 0.3, 0.9]\n      tuned_value: 0.3\n"


@pytest.fixture(scope="module")
def finished(module_project):
    # the tests only read the launched job(s): launched once for the module
    project = module_project
    project.write("runspecs/hp.yaml", tiny_runspec(hp_tuning="grid", total_runs=3, per_node=3, iters=2000,
                                                    report=200, hyperparameters=HPS,
                                                    stage_extra="      learning_rate: *lr\n"))
    project.cli("launch", "runspecs/hp.yaml", check=True)
    return project


def _distinct_colours(path, *, min_pixels: int = 40) -> set:
    """Colours that cover at least min_pixels pixels, ignoring near-greys (axes, text, background)."""
    img = Image.open(path).convert("RGB")
    counts = img.getcolors(maxcolors=1 << 20)
    return {c for n, c in counts if n >= min_pixels and max(c) - min(c) > 60}


def test_plot_writes_a_png_of_the_runs_curves(finished, tmp_path):
    out = tmp_path / "curves.png"
    proc = finished.cli("plot", "job1", "--out", out, check=True)
    assert "3 lines of s1-rew" in proc.stderr
    img = Image.open(out)
    assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 350
    colours = _distinct_colours(out)
    assert len(colours) >= 3  # one colour per run
    extrema = img.convert("L").getextrema()
    assert extrema[0] < 100 and extrema[1] > 200  # not blank: dark ink on a light background


def test_plot_aggregates_with_a_shadow_and_groups_by_hp(finished, tmp_path):
    data = finished.json("plot", "job1", "s1-win", "--group", "job", "--shadow", "minmax")
    (line,) = data["lines"]
    assert data["metric"] == "s1-win" and data["x_axis"] == "iters" and line["runs"] == 3
    assert all(lo <= y <= hi for lo, y, hi in zip(line["low"], line["y"], line["high"]))
    assert line["x"] == sorted(line["x"]) and line["x"][-1] == 2000
    by_lr = finished.json("plot", "job1", "--group", "hp:lr")
    assert [ln["label"] for ln in by_lr["lines"]] == ["lr=0.05 (mean of 1)", "lr=0.3 (mean of 1)",
                                                      "lr=0.9 (mean of 1)"]
    svg = tmp_path / "by_lr.svg"
    finished.cli("plot", "job1", "--group", "hp:lr", "--aggregate", "median", "--out", svg, check=True)
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    hp = tmp_path / "hp.png"
    finished.cli("plot", "job1", "--hp", "--out", hp, check=True)
    assert len(_distinct_colours(hp)) >= 1 and Image.open(hp).size[0] >= 300
    hp_data = finished.json("plot", "job1", "--hp")
    assert sorted(v for v, _ in hp_data["hpmax_by"]["lr"]) == [0.05, 0.3, 0.9]


def test_plot_search_draws_the_best_estimate_against_completed_runs(finished, tmp_path):
    data = finished.json("plot", "job1", "--search")
    steps = data["search"]["job1"]
    assert [s["completed"] for s in steps] == [1, 2, 3]
    analysis = finished.json("search", "job1")  # the same numbers `launcher search` prints
    assert [s["est_hpmax"] for s in steps] == [s["est_hpmax"] for s in analysis["steps"]]
    out = tmp_path / "search.png"
    proc = finished.cli("plot", "job1", "--search", "--out", out, check=True)
    assert "over 3 completed runs" in proc.stderr
    img = Image.open(out)
    assert img.format == "PNG" and img.size[0] >= 600 and img.size[1] >= 350
    assert len(_distinct_colours(out)) >= 1  # the estimate's line and its runs' dots
    extrema = img.convert("L").getextrema()
    assert extrema[0] < 100 and extrema[1] > 200
    both = finished.cli("plot", "job1", "--search", "--hp", "--format", "json")
    assert both.returncode == 2 and "choose one" in both.stderr
    metric = finished.cli("plot", "job1", "s1-rew", "--search", "--format", "json")
    assert metric.returncode == 2 and "takes no metric" in metric.stderr
    assert all("Traceback" not in p.stderr for p in (both, metric))


def test_plot_search_of_a_job_without_a_completed_run_says_so(project, tmp_path):
    from test_hp_search_local import add_objective_component

    add_objective_component(project)
    # int(inf) raises in the objective: the one run fails, so the job has no hpmax to plot
    project.write("runspecs/fails.yaml", tiny_runspec(total_runs=1, per_node=1).replace(
        "component: processors/RL_Proc\n      environment: *env\n",
        "component: processors/Objective_Proc\n      a: .inf\n").replace(
        "      max_iterations: 1000\n      iters_per_report: 100\n", ""))
    project.cli("launch", "runspecs/fails.yaml")
    assert project.read("runs/run1.1/run.json")["status"] == "failed"
    out = tmp_path / "none.png"
    proc = project.cli("plot", "job1", "--search", "--out", out)
    assert proc.returncode == 1 and "no completed run with an hpmax" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_plot_bad_input(finished, tmp_path):
    proc = finished.cli("plot", "job1", "s1-rwe", "--format", "json")
    assert proc.returncode == 2 and "did you mean 'rew'" in proc.stderr or "did you mean 's1-rew'" in proc.stderr
    proc = finished.cli("plot", "job1", "--group", "hp:lrr", "--format", "json")
    assert proc.returncode == 2 and "did you mean 'lr'" in proc.stderr
    proc = finished.cli("plot", "job1", "--out", tmp_path / "x.gif")
    assert proc.returncode == 2 and ".png or .svg" in proc.stderr and not (tmp_path / "x.gif").exists()
    proc = finished.cli("plot", "job1")  # not a terminal, no --out
    assert proc.returncode == 2 and "--out" in proc.stderr
    proc = finished.cli("plot", "job9", "--format", "json")
    assert proc.returncode == 1 and "no job 'job9'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_search_in_the_terminal():
    from launcher.hpsearch.analysis import analyse
    from launcher.report.plot import search_terminal

    runs = [{"run": f"run1.{i}", "status": "completed", "hpmax": v, "hparams": {"lr": lr},
             "ended": f"2026-01-01T00:00:0{i}Z"} for i, (v, lr) in enumerate([(0.1, 1), (0.5, 2), (0.3, 2)], 1)]
    drawn = search_terminal([analyse("job1", runs, method="dgd")], title="job1: best estimated hpmax", width=80,
                            height=20, colour=False)
    assert "job1: best estimated hpmax" in drawn and "job1 (dgd): best lr=2" in drawn
    assert "completed runs" in drawn and len(drawn.splitlines()) == 20


def test_terminal_rendering_and_median_aggregate():
    from launcher.report.plot import curves_terminal

    text = "".join(json.dumps({"stage": 1, "iteration": i * 10, "x_axis": "iters", "metrics": {"rew": v}}) + "\n"
                   for i, v in enumerate([0.1, 0.2, 0.4], 1))
    series, x_axis, order = parse_metrics_jsonl(text + '{"stage": 1, "iterat')
    assert series == {"s1-rew": [(10.0, 0.1), (20.0, 0.2), (30.0, 0.4)]} and x_axis == {"s1": "iters"}
    runs = [RunCurves("run1.1", "job1", "completed", {}, 0.2, series),
            RunCurves("run1.2", "job1", "completed", {}, 0.1, {"s1-rew": [(10.0, 0.3), (20.0, 0.0)]}),
            RunCurves("run1.3", "job1", "completed", {}, 0.1, {"s1-rew": [(10.0, 0.5)]})]
    (agg,) = lines(runs, "s1-rew", group="job", aggregate="median", shadow="none")
    assert agg.xs == [10.0, 20.0, 30.0] and agg.ys == [0.3, 0.1, 0.4] and agg.low is None
    drawn = curves_terminal(lines(runs, "s1-rew"), metric="s1-rew", x_label="iters", title="job1: s1-rew",
                            width=80, height=20, colour=False)
    assert "job1: s1-rew" in drawn and "run1.2" in drawn and len(drawn.splitlines()) == 20
    assert max(len(line) for line in drawn.splitlines()) <= 80
