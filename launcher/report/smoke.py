"""Rendering of a SmokeReport: text (terminal), JSON (machines), Markdown (PR comment, step summary)."""

from __future__ import annotations

import json

from launcher.smoke import SmokeReport

MAX_DIFF_LINES = 12  # the PR comment stays compact; the full list is in --format json


def _fmt(v) -> str:
    from launcher.report.numbers import fmt_or

    return fmt_or(v)


def _metrics(d: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in (d or {}).items()) or "-"


def _objective(s) -> str:
    o = s.objective
    return f"{o['short_name']} {_fmt(o.get('value'))}" if o else "-"


def render_json(report: SmokeReport) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


def render_text(report: SmokeReport) -> str:
    verdict = "passed" if report.ok else "FAILED"
    out = [f"smoke {report.runspec}: {verdict} in {report.seconds:.1f} s "
           f"(max_iterations cut to {report.iterations}, seed {report.seed})"]
    for s in report.stages:
        if not s.enabled:
            out.append(f"  stage {s.index} {s.component}: not enabled")
            continue
        out.append(f"  stage {s.index} {s.component}: {s.status}, {s.reports} reports, "
                   f"summary {_objective(s)}; last: {_metrics(s.last_metrics)}")
    if report.hpmax is not None:
        out.append(f"  hpmax: {_fmt(report.hpmax)}")
    for c in report.checks:
        out.append(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else ""))
    if report.repro_diff:
        out.append("  runspec -> repro_spec.yaml:")
        out += [f"    {ln}" for ln in report.repro_diff]
    if not report.ok:
        if report.failing_stage:
            out.append(f"  failing stage: {report.failing_stage}")
        if report.error:
            out.append("  error: " + report.error.replace("\n", "\n    "))
        if report.console_tail:
            out.append(f"  last {len(report.console_tail)} console lines:")
            out += [f"    | {ln}" for ln in report.console_tail]
        if report.traceback:
            out.append(report.traceback.rstrip())
    if report.out_dir:
        out.append(f"  outputs kept in {report.out_dir}")
    return "\n".join(out) + "\n"


def render_markdown(report: SmokeReport) -> str:
    icon = "✅" if report.ok else "❌"
    verdict = "passed" if report.ok else "failed"
    out = [f"#### {icon} Smoke run `{report.runspec}` {verdict} in {report.seconds:.1f} s",
           "",
           f"max_iterations cut to {report.iterations} · seed {report.seed} · "
           f"hpmax **{_fmt(report.hpmax)}**",
           ""]
    if report.stages:
        out += ["| # | stage | status | reports | summary | last metrics |", "|---|---|---|---|---|---|"]
        for s in report.stages:
            status = s.status if s.enabled else "not enabled"
            out.append(f"| {s.index} | `{s.component}` | {status} | {s.reports} | {_objective(s)} | "
                       f"{_metrics(s.last_metrics)} |")
        out.append("")
    failed = [c for c in report.checks if not c.ok]
    if failed:
        out += [f"- ❌ {c.name}: {c.detail}" for c in failed]
        out.append("")
    if not report.ok:
        if report.failing_stage:
            out.append(f"**Failing stage:** {report.failing_stage}")
        if report.error:
            out += ["", "```", report.error, "```"]
        if report.console_tail:
            out += ["", "<details><summary>Last console lines</summary>", "", "```", *report.console_tail, "```",
                    "", "</details>"]
    if report.repro_diff:
        shown = report.repro_diff[:MAX_DIFF_LINES]
        more = len(report.repro_diff) - len(shown)
        out += ["", f"<details><summary>runspec → repro_spec.yaml ({len(report.repro_diff)} changes)</summary>",
                "", "```diff", *shown, *([f"# … {more} more"] if more > 0 else []), "```", "", "</details>"]
    return "\n".join(out).rstrip() + "\n"
