"""A finished (or running) job's results, as the pull request and the step summary show them: the final status,
the top runs by hpmax and the learning curve of the objective, condensed so that it fits a comment.

This is one plain dict (JSON-ready), made from the store alone, so the followed launch, `launcher comment --job`
and the scheduled ledger refresh all produce the same thing for the same job.
"""

from __future__ import annotations

from launcher.jobs import records as R
from launcher.results import curves as C

TOP_RUNS = 5
CHART_POINTS = 20  # x values at most on the chart (evenly picked, the last always kept)
MAX_FAILURES = 3


def job_results(store, job: str, *, top: int = TOP_RUNS, chart_points: int = CHART_POINTS) -> dict:
    from launcher.jobs.status import job_summary, read_runs
    from launcher.report.jobs import run_reason

    summary = job_summary(store, job)
    runs = read_runs(store, job)
    ranked = sorted((r for r in runs if r.get("status") == R.COMPLETED and _number(r.get("hpmax"))),
                    key=lambda r: r["hpmax"], reverse=True)
    hp_names = list(dict.fromkeys(k for r in runs for k in (r.get("hparams") or {})))
    out = {
        "job": job, "status": summary.get("status"), "summary": summary, "hparams": hp_names,
        "top": [{"run": r["run"], "hpmax": r["hpmax"], "hparams": r.get("hparams") or {}} for r in ranked[:top]],
        "failures": [{"run": r["run"], "status": r.get("status"), "reason": run_reason(r)}
                     for r in runs if r.get("status") in (R.FAILED, R.LOST)][:MAX_FAILURES],
        "chart": None,
    }
    curves = C.load_curves(store, runs)
    if any(c.series for c in curves):
        out["chart"] = objective_chart(curves, chart_points)
    return out


def objective_chart(curves: list, points: int = CHART_POINTS) -> dict | None:
    """The last stage's objective over the runs: mean, min and max at each reported x (or the one run's line)."""
    metric = C.default_metric(curves)
    with_data = [c for c in curves if c.series.get(metric)]
    if not with_data:
        return None
    mean = C.aggregate_line("mean", with_data, metric, "mean", "minmax")
    keep = _pick(len(mean.xs), points)
    series = [{"label": "mean" if len(with_data) > 1 else with_data[0].run, "y": [mean.ys[i] for i in keep]}]
    if len(with_data) > 1:
        series += [{"label": "max", "y": [mean.high[i] for i in keep]},
                   {"label": "min", "y": [mean.low[i] for i in keep]}]
    return {"metric": metric, "x_axis": C.x_label(metric, with_data), "x": [mean.xs[i] for i in keep],
            "series": series, "runs": len(with_data)}


def _pick(n: int, points: int) -> list[int]:
    if n <= points:
        return list(range(n))
    step = (n - 1) / (points - 1)
    return sorted({round(i * step) for i in range(points)})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
