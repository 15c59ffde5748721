"""Rendering of launches, jobs and runs: XT's launch line, `list jobs` / `list runs` tables (text via rich,
JSON, Markdown, CSV) and the live progress bar of a followed job."""

from __future__ import annotations

import io
import json
import sys

from launcher.jobs import records as R
from launcher.report.numbers import fmt

# ---------------------------------------------------------------------------------------------------------
# launch


def launch_fragment(kind: str, value) -> str:
    """One piece of XT's launch line: `job12, target: local, creating parent runs: 5/5, uploading 37 code
    files (zipped), ws1/run41, …, job submitted`."""
    if kind == "job":
        return str(value)
    if kind == "target":
        return f"target: {value}"
    if kind == "parents":
        return f"creating parent runs: {value}/{value}"
    if kind == "upload":
        files, sent = value if isinstance(value, tuple) else (value, None)
        if sent == 0:  # the same snapshot is in the store already (content-addressed)
            return f"code unchanged ({files} files already in the store)"
        return f"uploading {files} code files (zipped)"
    if kind == "run":
        return str(value)
    if kind == "submitted":
        return "job submitted"
    return str(value)


def cost_line(estimate: dict | None) -> str:
    """`estimated cost: up to $1.20 for 12 node-hours at $0.1 per node-hour (dedicated nodes, …)`; '' without
    an estimate."""
    if not estimate:
        return ""
    symbol = "$" if estimate.get("currency", "USD") == "USD" else f"{estimate.get('currency')} "
    total = estimate.get("total", estimate.get("max_cost"))
    node_hours = estimate.get("node_hours", (estimate.get("nodes") or 0) * (estimate.get("hours") or 0))
    return (f"estimated cost: up to {symbol}{total:.2f} for {node_hours:g} node-hours at "
            f"{symbol}{estimate.get('price_per_node_hour'):g} per node-hour ({estimate.get('nodes')} "
            f"{estimate.get('kind', '')} node{'s' * (estimate.get('nodes') != 1)} × the {estimate.get('hours'):g} h "
            f"wall-clock limit)")


def launch_line(result) -> str:
    parts = [launch_fragment("job", result.job), launch_fragment("target", result.target),
             launch_fragment("parents", len(result.parents)),
             launch_fragment("upload", (result.code_files, result.uploaded_bytes)),
             *result.parent_runs, launch_fragment("submitted", result.job)]
    return ", ".join(parts)


def follow_hint(result) -> str:
    first = result.runs[0] if result.runs else f"{result.parents[0]}.1"
    return (f"follow it with:  launcher status {result.job}   |   launcher runs {result.job}   |   "
            f"launcher logs {first} --follow\n"
            f"stop it with:    launcher cancel {result.job}")


def render_launch_text(result, *, line_printed: bool = False, diagnostics_printed: bool = False) -> str:
    from launcher.report.text import render_diagnostic

    out = []
    if not diagnostics_printed:
        for d in result.diagnostics:
            out.append(render_diagnostic(d).rstrip("\n"))
    if result.status == "launched":
        if not line_printed:
            if result.cost_estimate:
                out.append(cost_line(result.cost_estimate))
            out.append(launch_line(result))
        out.extend(f"note: {n}" for n in result.notes)
        out.append(follow_hint(result))
    else:
        out.append(result.message)
    if result.summary:
        out.append(render_runs_text(result.run_records))
        out.append(summary_line(result.summary))
    return "\n".join(out) + "\n"


def render_launch_markdown(result) -> str:
    if result.status != "launched":
        return f"**launch of `{result.runspec}`**: {result.message}\n"
    lines = [f"**{result.job}** launched on `{result.target}`: `{result.runspec}` "
             f"({result.total_runs} runs, {result.compute_nodes}×{result.runs_per_node}, "
             f"hp_tuning {result.hp_tuning}), code {result.commit[:12]} ({result.code_files} files)", "",
             "Parent runs: " + ", ".join(f"`{p}`" for p in result.parent_runs)]
    if result.cost_estimate:
        line = cost_line(result.cost_estimate)
        lines += ["", line[:1].upper() + line[1:]]
    if result.run_records:
        lines += ["", runs_markdown(result.run_records)]
    return "\n".join(lines) + "\n"


def summary_line(summary: dict) -> str:
    best = summary.get("best_hpmax")
    text = (f"{summary.get('job')}: {summary['status']}, {summary['runs_done']}/{summary['runs_total']} runs done"
            f" ({summary.get('runs_completed', 0)} completed, {summary.get('runs_failed', 0)} failed"
            f"{', %d cancelled' % summary['runs_cancelled'] if summary.get('runs_cancelled') else ''})")
    if best is not None:
        text += f", best hpmax {fmt(best)}"
    return text


# ---------------------------------------------------------------------------------------------------------
# values and tables


def runs_columns(runs: list[dict]) -> list[str]:
    """XT's `list runs` columns: the metrics in the order the stages defined them (the objective first), hpmax,
    the HPs; a job column when the runs come from several jobs, a reason column when a run did not complete."""
    from launcher.jobs.runquery import hparam_names, metric_names

    jobs = {r.get("job") for r in runs}
    lead = ["job"] if len(jobs) > 1 else []
    tail = ["reason"] if any(run_reason(r) for r in runs) else []
    return [*lead, "run", "status", "node", "iters", *metric_names(runs), "hpmax", *hparam_names(runs), "exit",
            "elapsed", *tail]


def runs_rows(runs: list[dict], columns: list[str] | None = None) -> tuple[list[str], list[list]]:
    """XT's `list runs`: one row per run with its status, iters, per-stage metrics, hpmax and HP values."""
    from launcher.jobs.runquery import getter

    columns = columns or runs_columns(runs)
    getters = [getter(c) for c in columns]
    if "reason" in columns:
        at = columns.index("reason")
        reason = getters[at]
        getters[at] = lambda r: _short(reason(r))
    rows = [[get(r) for get in getters] for r in runs]
    return columns, rows


REASON_WIDTH = 60


def _short(text, width: int = REASON_WIDTH):
    if not text or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def sort_runs(runs: list[dict], key: str, *, reverse: bool = False) -> list[dict]:
    """Sort by 'metrics.hpmax', 'hpmax', 'metrics.s1-rew', 'hparams.lr', 'status', …; runs without it last."""
    from launcher.jobs.runquery import sort_runs as _sort

    return _sort(runs, key, reverse=reverse)


#: Tables longer than this (more than a screen) are rendered as plain text, rich only below (report/plaintable.py).
RICH_MAX_ROWS = 60


def render_table(columns: list[str], rows: list[list], *, title: str | None = None, plain: bool | None = None) -> str:
    """A plain aligned table (no colour), as wide as it needs to be: pipes and files get every column. rich lays
    out what fits a screen; a longer table (plain=None) or plain=True gets the same text from plaintable.py."""
    right = [any(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows)
             for i in range(len(columns))]
    cells = [[fmt(v) for v in row] for row in rows]
    if title is None and (plain if plain is not None else len(rows) > RICH_MAX_ROWS):
        from launcher.report.plaintable import render_plain

        return render_plain(columns, cells, right)
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False)
    for c, r in zip(columns, right):
        table.add_column(c, justify="right" if r else "left", no_wrap=True)
    for row in cells:
        table.add_row(*[Text(v) for v in row])  # cells are values, never rich markup ("[lr]" stays "[lr]")
    buf = io.StringIO()
    Console(file=buf, width=100_000, color_system=None, force_terminal=False, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines() if line.strip()) + "\n"


_KEEP = ("run", "status", "hpmax")
_SEP = 3  # the spaces rich puts between columns


def fit_columns(columns: list[str], rows: list[list], width: int) -> tuple[list[str], list[str]]:
    """The columns that fit a terminal `width`, dropping from the right (HP values, exit, elapsed go first, then
    the later metrics) but never run, status, hpmax or the first metric (the objective); and the hidden ones."""
    widths = {c: max([len(c)] + [len(fmt(r[i])) for r in rows]) for i, c in enumerate(columns)}
    keep = list(columns)
    protected = set(_KEEP) | {next((c for c in columns if c[:1] == "s" and "-" in c), "")}
    def total() -> int:
        return sum(widths[c] for c in keep) + _SEP * (len(keep) - 1)
    for c in reversed(columns):
        if total() <= width:
            break
        if c not in protected:
            keep.remove(c)
    return keep, [c for c in columns if c not in keep]


def render_runs_text(runs: list[dict], columns: list[str] | None = None, *, width: int | None = None) -> str:
    """The runs table; with a width (a terminal's), columns that do not fit are left out and named."""
    if not runs:
        return "no runs\n"
    chosen = columns
    columns, rows = runs_rows(runs, columns)
    note = ""
    if width is not None and chosen is None:
        kept, hidden = fit_columns(columns, rows, width)
        if hidden:
            index = [columns.index(c) for c in kept]
            columns, rows = kept, [[row[i] for i in index] for row in rows]
            note = (f"({len(hidden)} column{'s' * (len(hidden) != 1)} left out to fit the terminal: "
                    f"{', '.join(hidden)}; choose with --columns)\n")
    return render_table(columns, rows) + note + f"total runs listed: {len(runs)}\n"


def terminal_width() -> int | None:
    """The terminal's width when stdout is one, else None (pipes and files get every column)."""
    import shutil

    return shutil.get_terminal_size((10_000, 24)).columns if sys.stdout.isatty() else None


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A GitHub Markdown table; a '|' inside a cell is escaped so that it stays one cell."""
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        out.append("| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(out) + "\n"


def runs_markdown(runs: list[dict], columns: list[str] | None = None) -> str:
    return markdown_table(*runs_rows(runs, columns))


def export_csv(runs: list[dict], path, columns: list[str] | None = None) -> int:
    """Write the runs table as CSV (comma-separated, header row); returns the number of rows."""
    import csv

    from launcher.runtime.files import write_text_atomic

    columns, rows = runs_rows(runs, columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v) for v in row])
    write_text_atomic(path, buf.getvalue())
    return len(rows)


JOB_COLUMNS = ["job", "created", "runspec", "target", "runs", "status", "best_hpmax"]


def jobs_rows(summaries: list[dict]) -> tuple[list[str], list[list]]:
    rows = []
    for s in summaries:
        created = (s.get("created") or "")[:19].replace("T", " ")
        runs = f"{s.get('runs_done', 0)}/{s.get('runs_total', 0)}"
        if s.get("runs_failed"):
            runs += f" ({s['runs_failed']} failed)"
        rows.append([s.get("job"), created, s.get("runspec"), s.get("target"), runs, s.get("status"),
                     s.get("best_hpmax")])
    return JOB_COLUMNS, rows


def render_jobs_text(summaries: list[dict]) -> str:
    if not summaries:
        return "no jobs\n"
    columns, rows = jobs_rows(summaries)
    return render_table(columns, rows) + f"total jobs listed: {len(summaries)}\n"


def render_jobs_markdown(summaries: list[dict]) -> str:
    return markdown_table(*jobs_rows(summaries))


def run_reason(run: dict) -> str:
    """Why a run did not complete, in one short line: the exception and where (the agent's `reason`), else the
    agent's own error (`exit code 1`, `cancelled by ...`); '' for a run that completed or is still going."""
    if run.get("status") not in (R.FAILED, R.CANCELLED, R.LOST):
        return ""
    text = run.get("reason") or run.get("error") or ""
    return " ".join(str(text).split())


def failures(runs: list[dict], limit: int = 10) -> list[dict]:
    """The runs that failed or were lost, with their reason (at most `limit`)."""
    bad = [r for r in runs if r.get("status") in (R.FAILED, R.LOST)]
    return [{"run": r.get("run"), "status": r.get("status"), "reason": run_reason(r)} for r in bad[:limit]]


def render_status_text(summary: dict, parents: list[dict], failed: list[dict] | None = None) -> str:
    out = [summary_line(summary)]
    for key in ("runspec", "target", "created", "ended"):
        if summary.get(key):
            out.append(f"  {key}: {summary[key]}")
    if parents:
        out.append(render_table(["parent", "node", "status", "children"],
                                [[p.get("run"), p.get("node"), p.get("status"), len(p.get("children") or [])]
                                 for p in parents]).rstrip("\n"))
    if failed:
        out.append("failed runs:")
        out.extend(f"  {f['run']}: {f['reason'] or f['status']}" for f in failed)
        more = summary.get("runs_failed", 0) - len(failed)
        if more > 0:
            out.append(f"  … and {more} more (`launcher runs {summary.get('job')} --filter status=failed`)")
    return "\n".join(out) + "\n"


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


# ---------------------------------------------------------------------------------------------------------
# live progress


def progress_value(summary: dict) -> float:
    """Runs done plus the share of every running run that is done (from the iterations it reported)."""
    return max(float(summary.get("progress") or 0), float(summary.get("runs_done") or 0))


def progress_detail(summary: dict) -> str:
    return (f"{summary.get('runs_done', 0)} done, {summary.get('runs_running', 0)} running, "
            f"{summary.get('runs_failed', 0)} failed")


class JobProgress:
    """A rich progress bar on stderr (only on a terminal): runs done of total, running, failed."""

    def __init__(self, job: str, total: int, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.progress = None
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        # The bar moves with the iterations running runs report, not only when a run ends; the text says runs.
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[detail]} of {task.total:.0f}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task(job, total=total, detail="")

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def update(self, summary: dict) -> None:
        if self.progress:
            self.progress.update(self.task, completed=progress_value(summary), detail=progress_detail(summary))

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
        return False
