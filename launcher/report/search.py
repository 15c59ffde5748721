"""The search analysis (`launcher search JOB`) as text: the eval_hp_search table, one row per completed run."""

from __future__ import annotations

from launcher.hpsearch.analysis import SearchAnalysis


def _config(hp: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in hp.items()) or "(no hyperparameters)"


def render_text(result: SearchAnalysis, *, every: bool = True) -> str:
    if not result.steps:
        return (f"{result.job}: no completed run with an hpmax yet "
                f"({result.failed} failed or cancelled of {result.total_runs})\n")
    from launcher.report.jobs import render_table

    steps = result.steps if every else [s for i, s in enumerate(result.steps)
                                         if i + 1 == len(result.steps) or s.best != result.steps[i + 1].best]
    columns = ["RUNS DONE", "RUN", "HPMAX", "BEST FOR", "EST HPMAX", "RUNS", "BEST CONFIGURATION"]
    rows = [[str(s.completed), s.run, f"{s.hpmax:.5g}", str(s.best_for), f"{s.est_hpmax:.5g}", str(s.runs),
             _config(s.best)] for s in steps]
    final = result.final
    lines = [render_table(columns, rows).rstrip("\n"),
             f"{result.job} ({result.method or 'no search'}): {result.completed} completed, {result.failed} failed "
             f"or cancelled, of {result.total_runs} runs",
             f"best: {_config(final.best)}: estimated hpmax {final.est_hpmax:.5g} over {final.runs} run(s), "
             f"best for the last {final.best_for}"]
    if result.replay is not None:
        lines.append("replay of the recorded decisions: " + (
            "every assignment reproduced" if not result.replay else f"{len(result.replay)} differ: "
            + "; ".join(result.replay[:3])))
    return "\n".join(lines) + "\n"
