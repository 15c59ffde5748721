"""The sticky PR comment for one runspec: what ran, what came of it, and exactly what to do next.

Input is the JSON the other stages write (launch, smoke, lint). Their shapes are read tolerantly: a key
that is missing just leaves its line out, so the comment never fails because a stage grew or lost a field.
The body always starts with the hidden marker that `launcher comment --post` finds it by (together with
the bot author: anyone can paste a marker), and it always stays under GitHub's comment size limit.

Every text taken from those files is rendered inert (`_inert`, `_code`): the smoke and lint files, and a local
launch's, are written in jobs where the pull request's code ran, so their strings may hold Markdown links,
images, HTML or @mentions that the bot's comment must not turn into live ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MARKER_PREFIX = "<!-- runspec-launcher: "
MARKER_SUFFIX = " -->"
COMMENT_LIMIT = 65_536  # GitHub rejects longer comment bodies
BUDGET = 60_000  # what we aim for: room for GitHub's own rendering and multi-byte surprises
MAX_RUN_NAMES = 50
MAX_WARNINGS = 20
MAX_TAIL_CHARS = 4_000


def marker(runspec: str) -> str:
    # '--' cannot appear inside an HTML comment; runspec paths almost never hold it, but never break out.
    return f"{MARKER_PREFIX}{runspec.replace('--', '-%2D')}{MARKER_SUFFIX}"


@dataclass
class CommentInput:
    runspec: str
    launch: dict | None = None
    smoke: dict | None = None
    lint: object = None  # whatever `launcher lint --format json` printed
    run_url: str = ""
    ledger_url: str = ""
    launch_skipped: str = ""  # why nothing was launched, when known (fork, dry run, launcher disabled)
    extra_warnings: list[str] = field(default_factory=list)
    job_launcher: dict = field(default_factory=dict)  # the runspec's job_launcher section, when readable
    results: dict | None = None  # launcher.results.job.job_results() of the job, once it ended (or so far)


# ---------------------------------------------------------------------------------------------------------
# tolerant readers

def _first(d: dict | None, *keys, default=None):
    if not isinstance(d, dict):
        return default
    for k in keys:
        if k in d and d[k] not in (None, ""):
            return d[k]
    return default


def _names(value) -> list[str]:
    names = []
    for r in value if isinstance(value, list) else []:
        if isinstance(r, str):
            names.append(r)
        elif isinstance(r, dict) and _first(r, "name", "run"):
            names.append(str(_first(r, "name", "run")))
    return names


def _run_names(launch: dict) -> list[str]:
    """Child run names (run12.1, ...); falls back to other spellings of the list."""
    return _names(_first(launch, "run_names", "runs", default=[]))


def _parent_names(launch: dict) -> list[str]:
    return _names(_first(launch, "parent_runs", "parents", default=[]))


def _already(launch: dict) -> bool:
    return bool(launch.get("already_launched")) or launch.get("status") == "exists"


def _launch_error(launch: dict) -> str:
    """Why a launch did not happen: an explicit error, or the message of a refused (invalid/disabled) launch."""
    if _first(launch, "error"):
        return str(launch["error"])
    if launch.get("status") in ("invalid", "disabled", "failed"):
        return str(_first(launch, "message", default=launch["status"]))
    return ""


def _diagnostics(data) -> list[dict]:
    """Every dict with a severity and a message, however the lint JSON nests them."""
    found: list[dict] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "severity" in item and "message" in item:
                found.append(item)
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _warning_lines(inp: CommentInput) -> list[str]:
    lines = []
    for d in _diagnostics(inp.lint) + _diagnostics(_first(inp.launch, "warnings", "diagnostics", default=[])):
        if d.get("severity") not in ("warning", "error"):
            continue
        loc = str(d.get("file") or inp.runspec)
        if d.get("line"):
            loc += f":{d['line']}"
        code = f"{_md_cell(d['code'])} " if d.get("code") else ""
        hint = f" — {_md_cell(d['hint'])}" if d.get("hint") else ""
        lines.append(f"{_code(loc)} {code}{_md_cell(d['severity'])}: {_md_cell(d['message'])}{hint}")
    for w in _first(inp.launch, "warnings", default=[]) or []:
        if isinstance(w, str):
            lines.append(_md_cell(w))
    lines.extend(inp.extra_warnings)
    return list(dict.fromkeys(lines))


def _smoke_status(smoke: dict) -> str:
    status = _first(smoke, "result", "outcome")
    if status is None and "ok" not in smoke:
        status = _first(smoke, "status")
    if status is None and "ok" in smoke:
        status = "passed" if smoke["ok"] else "failed"
    if status is None and "passed" in smoke:
        status = "passed" if smoke["passed"] else "failed"
    return _md_cell(status or "finished")


# What makes Markdown live: links and images ([]), HTML and autolinks (<>), code spans (`), table cells (|), and
# the escapes themselves. Emphasis (*_~) changes no meaning and stays readable.
_MD_PUNCT = "\\`[]<>|"
_ZWJ = "\u2060"  # a word joiner: invisible, and it stops GitHub's autolinks and @mentions


def _inert(value) -> str:
    """Text for the comment that renders as itself: no link, image, HTML, heading, @mention or autolink."""
    text = str(value).replace("&", "&amp;")
    text = "".join("\\" + ch if ch in _MD_PUNCT else ch for ch in text)
    for live in ("://", "www.", "@"):
        text = text.replace(live, live[0] + _ZWJ + live[1:])
    return text


def _code(value, limit: int = 200) -> str:
    """Text that PR code may have written (a name, a path, a value, an error line) as an inline code span: no
    Markdown, no HTML, no @mentions; backticks and line breaks cannot end it early, and a copied value stays
    unlinked too (GitHub links nothing in code spans, but a reader may paste it)."""
    text = " ".join(str(value).replace("`", "'").split())[:limit]
    for live in ("://", "www.", "@"):
        text = text.replace(live, live[0] + _ZWJ + live[1:])
    return "`" + text.replace("|", "\\|") + "`" if text else ""


def _md_cell(value) -> str:
    return _inert(" ".join(str(value).splitlines()))


# ---------------------------------------------------------------------------------------------------------
# sections

def _job(launch: dict | None) -> str:
    """The job name of a launch file, only when it is one (job12): it goes into commands and a heading."""
    from launcher.jobs.numbering import JOB_NAME_RE

    job = _first(launch, "job", "job_id")
    return job if isinstance(job, str) and JOB_NAME_RE.match(job) else ""


_FINAL = ("completed", "failed", "cancelled", "lost", "removed")


def _headline(inp: CommentInput) -> str:
    launch = inp.launch
    name = _code(inp.runspec)
    if launch:
        job = _job(launch)
        if _launch_error(launch):
            return f"### {name}: launch failed"
        status = _first(inp.results, "status")
        ended = f", {status}" if status in _FINAL else ""
        if job and _already(launch):
            return f"### {name}: already launched as **{job}**{ended}"
        if job:
            return f"### {name}: launched as **{job}**{ended}"
    if inp.smoke and _smoke_status(inp.smoke) in ("failed", "error"):
        return f"### {name}: smoke run failed"
    if inp.launch_skipped:
        return f"### {name}: validated, not launched"
    return f"### {name}: validated"


def _facts(launch: dict, job_launcher: dict, results: dict | None = None) -> list[str]:
    rows = []

    def add(label, value):
        if value not in (None, "", []):
            rows.append(f"| {label} | {_md_cell(value)} |")

    add("Job", _job(launch))
    summary = launch.get("summary") if isinstance(launch.get("summary"), dict) else {}
    status = _first(results, "status") or _first(summary, "status") or _first(launch, "state", "status")
    add("Status", {"launched": "submitted", "exists": "already launched"}.get(status, status))
    add("Target", _first(launch, "target", "compute_target"))
    nodes = _first(launch, "nodes", "compute_nodes")
    per_node = _first(launch, "runs_per_node")
    if nodes is not None and per_node is not None:
        add("Nodes × runs per node", f"{nodes} × {per_node}")
    add("Total runs", _first(launch, "total_runs"))
    low = _first(launch, "low_priority", "spot")
    if low is None:
        low = _first(job_launcher, "low_priority")
    if low is not None and _first(launch, "backend") != "local":  # a local target has no nodes to rent
        add("Nodes", "Spot (low priority, may be preempted)" if low else "dedicated")
    files = _first(launch, "code_files", "files")
    if isinstance(files, list):
        files = len(files)
    if not _already(launch) and not _launch_error(launch):  # an earlier launch's code, nothing uploaded now
        add("Code files uploaded", files)
    cost = _first(launch, "cost_estimate", "estimated_cost", "cost")
    if isinstance(cost, dict):
        amount = _first(cost, "total", "amount", "estimate")
        currency = _first(cost, "currency", default="USD")
        basis = _first(cost, "basis", "note", default="")
        cost = f"{amount} {currency}" + (f" ({basis})" if basis else "") if amount is not None else None
    add("Estimated cost", cost)
    commit = _first(launch, "commit", "code_commit")
    add("Commit", str(commit)[:12] if commit else None)
    if not rows:
        return []
    return ["| | |", "|---|---|", *rows]


def _runs_section(parents: list[str], names: list[str], limit: int) -> str:
    def listing(items: list[str]) -> str:
        shown = ", ".join(_code(n) for n in items[:limit])
        return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")

    out = []
    if parents:
        out.append(f"**Parent runs:** {listing(parents)}")
    if names:
        out.append(f"**Runs:** {listing(names)}")
    return "  \n".join(out)


def _smoke_section(smoke: dict | None, tail_chars: int) -> str:
    if not smoke:
        return ""
    head = f"**Smoke run:** {_smoke_status(smoke)}"
    seconds = _first(smoke, "seconds", "duration_s", "duration")
    if isinstance(seconds, (int, float)):
        head += f" in {seconds:.1f} s"
    details = []
    if _first(smoke, "iterations") is not None:
        details.append(f"max_iterations cut to {_md_cell(smoke['iterations'])}")
    if "hpmax" in smoke:
        details.append(f"hpmax {_md_cell(smoke['hpmax']) if smoke['hpmax'] is not None else 'n/a'}")
    if _first(smoke, "failing_stage"):
        details.append(f"failing stage: {_md_cell(smoke['failing_stage'])}")
    out = [head + (f" ({', '.join(details)})" if details else "")]
    summary = _first(smoke, "summary", "markdown")
    if isinstance(summary, str):
        out.append(_inert(summary.strip()[:tail_chars]))
    stages = _first(smoke, "stages", default=[])
    if isinstance(stages, list) and stages and all(isinstance(s, dict) for s in stages):
        out += ["", "| stage | status | reports | last metrics |", "|---|---|---|---|"]
        for s in stages[:20]:
            metrics = _first(s, "last_metrics", "metrics", default={})
            mtext = ", ".join(f"{k}={'n/a' if v is None else v}" for k, v in list(metrics.items())[:4]) \
                if isinstance(metrics, dict) else ""
            status = _first(s, "status", default="") if s.get("enabled", True) else "not enabled"
            out.append(f"| {_md_cell(_first(s, 'component', 'name', 'stage', default='?'))} "
                       f"| {_md_cell(status)} "
                       f"| {_md_cell(_first(s, 'reports', 'iterations', default=''))} | {_md_cell(mtext)} |")
    failed = _smoke_status(smoke) in ("failed", "error")
    tail = _first(smoke, "console_tail", "tail")
    if isinstance(tail, list):
        tail = "\n".join(str(x) for x in tail)
    error = _first(smoke, "error")
    text = "\n".join(str(x) for x in (error, tail if failed else None) if x)
    if text.strip():
        text = text.strip()[-tail_chars:].replace("```", "`\u200b``")
        out += ["", "<details><summary>error and console tail</summary>", "", "```", text, "```", "", "</details>"]
    return "\n".join(out)


def results_section(results: dict, runspec: str = "") -> str:
    """Final status, the top runs by hpmax (a small table), the failed runs' reasons, and the objective's
    learning curve as a Mermaid xychart."""
    from launcher.report import mermaid
    from launcher.report.numbers import fmt, fmt_or

    summary = results.get("summary") or {}
    head = (f"**Results:** {summary.get('status', results.get('status'))}, "
            f"{summary.get('runs_done', 0)}/{summary.get('runs_total', 0)} runs done "
            f"({summary.get('runs_completed', 0)} completed, {summary.get('runs_failed', 0)} failed"
            f"{', %d cancelled' % summary['runs_cancelled'] if summary.get('runs_cancelled') else ''})"
            f", best hpmax **{fmt_or(summary.get('best_hpmax'))}**")
    out = [head]
    top = results.get("top") or []
    if top:
        hps = [h for h in results.get("hparams") or []][:6]
        out += ["", "| # | run | hpmax | " + " | ".join(_code(h) for h in hps) + (" |" if hps else "|"),
                "|---|---|---|" + "---|" * len(hps)]
        for i, r in enumerate(top, 1):
            cells = [str(i), _code(r["run"]), fmt(r.get("hpmax"))] + [
                _code(fmt((r.get("hparams") or {}).get(h))) for h in hps]
            out.append("| " + " | ".join(cells) + " |")
    for f in results.get("failures") or []:
        out.append(f"- {_code(f['run'])} {_code(f.get('status'))}: {_code(f.get('reason') or 'no reason recorded')}")
    chart = results.get("chart")
    if chart and chart.get("x") and chart.get("series"):
        title = f"{results.get('job', '')}: {chart['metric']}"
        out += ["", mermaid.block(mermaid.xychart(title=title, x_label=chart.get("x_axis") or "iters",
                                                  xs=chart["x"], y_label=chart["metric"],
                                                  series=[s_["y"] for s_ in chart["series"]]))]
        what = (f"the mean of {_code(chart['metric'])} over {chart['runs']} runs, between its max (above) and min "
                f"(below)" if chart.get("runs", 1) > 1 else
                f"{_code(chart['metric'])} of {_code(chart['series'][0]['label'])}")
        out.append(f"<sub>{what}, by {chart.get('x_axis') or 'iters'}</sub>")
    return "\n".join(out)


def _warnings_section(lines: list[str], limit: int) -> str:
    if not lines:
        return ""
    out = [f"**Pre-flight warnings ({len(lines)}):**", ""]
    out += [f"- {w}" for w in lines[:limit]]
    if len(lines) > limit:
        out.append(f"- … and {len(lines) - limit} more (see the workflow run's step summary)")
    return "\n".join(out)


def _links_section(inp: CommentInput) -> str:
    links = []
    if inp.ledger_url and inp.launch and _job(inp.launch):
        links.append(f"[ledger row]({inp.ledger_url})")
    if inp.run_url:
        links.append(f"[workflow run]({inp.run_url})")
    return "**Links:** " + " · ".join(links) if links else ""


def _next_section(inp: CommentInput) -> str:
    launch = inp.launch or {}
    job = _job(launch)
    error = _launch_error(launch)
    if job and not error:
        names = _run_names(launch)
        run = names[0] if names else f"{(_parent_names(launch) or ['run1'])[0]}.1"
        if _first(inp.results, "status") in _FINAL:
            steps = [(f"launcher runs {job} --sort hpmax --reverse", "every run, best first"),
                     (f"launcher plot {job} --out {job}.png", "learning curves"),
                     (f"launcher rerun {run}", "launch one run again")]
        else:
            steps = [(f"launcher status {job}", "where the runs are"),
                     (f"launcher logs {run}", "a run's console output"),
                     (f"launcher cancel {job}", "stop the job and release its nodes")]
        width = max(len(c) for c, _ in steps) + 3
        return "\n".join(["**Next:**", "", "```sh", *(f"{c.ljust(width)}# {why}" for c, why in steps), "```"])
    if error:
        hint = _first(launch, "hint")
        fix = f"**How to fix:** {_md_cell(hint)}\n\n" if hint else ""
        return (f"**Launch error:** {_md_cell(error)}\n\n{fix}"
                "**Next:** fix it and push, or re-run the workflow; a re-run never launches twice.")
    if inp.smoke and _smoke_status(inp.smoke) in ("failed", "error"):
        return ("**Next:** reproduce locally with " + _code("launcher smoke " + inp.runspec) + ", fix, and push.")
    if inp.launch_skipped:
        return f"**Not launched:** {inp.launch_skipped}"
    enabled = inp.job_launcher.get("enabled")
    if enabled not in (None, 0, False, "0", "false", "False"):
        return ("**Next:** the launch runs once every smoke run passed and a maintainer approved the "
                "`launch` environment; this comment then shows the job.")
    return ("**Next:** set `job_launcher.enabled: 1` in the runspec to launch it; launches wait for a "
            "maintainer's approval of the `launch` environment.")


def render_comment(inp: CommentInput, *, budget: int = BUDGET) -> str:
    """The comment body, shrunk step by step until it fits the budget (hard cut as a last resort)."""
    names = _run_names(inp.launch or {})
    parents = _parent_names(inp.launch or {})
    warnings = _warning_lines(inp)
    attempts = [(MAX_RUN_NAMES, MAX_WARNINGS, MAX_TAIL_CHARS), (10, 5, 1_000), (3, 3, 200), (0, 0, 0)]
    body = ""
    for run_limit, warn_limit, tail_chars in attempts:
        parts = [marker(inp.runspec), _headline(inp)]
        parts.append("\n".join(_facts(inp.launch, inp.job_launcher, inp.results)) if inp.launch else "")
        parts.append(results_section(inp.results, inp.runspec) if inp.results else "")
        parts.append(_runs_section(parents, names, run_limit) if run_limit else
                     (f"**Runs:** {len(names)} (see `launcher runs`)" if names else ""))
        parts.append(_smoke_section(inp.smoke, tail_chars) if tail_chars else
                     (f"**Smoke run:** {_smoke_status(inp.smoke)}" if inp.smoke else ""))
        parts.append(_warnings_section(warnings, warn_limit) if warn_limit else
                     (f"**Pre-flight warnings:** {len(warnings)} (see the workflow run)" if warnings else ""))
        parts.append(_links_section(inp))
        parts.append(_next_section(inp))
        body = "\n\n".join(p for p in parts if p).rstrip() + "\n"
        if len(body) <= budget:
            return body
    note = "\n\n… (cut to fit GitHub's comment size limit; the workflow run has everything)\n"
    return body[: budget - len(note)] + note


def load_launch_json(path: str | None):
    """The launch result; a file that exists but holds no readable result (a launch that died mid-write, by an
    older launcher that wrote it through a shell redirect) is a failed launch, not an error of the comment."""
    from launcher.diagnostics import LauncherError

    try:
        data = load_json(path, "launch")
    except LauncherError as exc:
        return {"status": "failed", "error": f"the launch left no readable result ({exc.message})",
                "hint": "open the workflow run's launch step: its log says why the launch failed"}
    if data is not None and not isinstance(data, dict):
        return {"status": "failed", "error": "the launch result is not a JSON object",
                "hint": "open the workflow run's launch step: its log says what happened"}
    return data


def load_json(path: str | None, what: str):
    """Read one stage's JSON file; a missing path means 'that stage did not run'."""
    if not path:
        return None
    from pathlib import Path

    from launcher.diagnostics import LauncherError

    p = Path(path)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LauncherError(f"{path}: cannot read the {what} JSON: {exc}",
                            hint=f"pass the file `launcher {what} --format json` wrote") from None
