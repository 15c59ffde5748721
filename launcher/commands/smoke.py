"""`launcher smoke RUNSPEC`: a truncated local run of a runspec, checked as the pre-flight checklist asks."""

from __future__ import annotations

import argparse
import sys

from launcher.commands._options import add_component_roots, add_format, add_project, add_set

HELP = "truncated local run of a runspec (launcher disabled, max_iterations cut), checked"
DESCRIPTION = """\
The pre-flight sanity run, automated: a temporary copy of the runspec with the launcher disabled and every
enabled stage's max_iterations cut (iters_per_report and other smoke-scalable knobs scaled with it) runs as
a subprocess in a temporary folder under a time limit. Checks: exit 0, every enabled stage started and
completed, repro_spec.yaml has no launcher section and matches the runspec apart from the truncation, and
hpmax was reported.

Exit codes: 0 passed, 1 failed (the failing stage, the last console lines and the error are shown)."""


def configure(parser: argparse.ArgumentParser) -> None:
    from launcher.smoke import DEFAULT_ITERATIONS, DEFAULT_TIMEOUT

    parser.add_argument("runspec", help="the runspec YAML file")
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, metavar="N",
                        help=f"max_iterations of every enabled stage (default: {DEFAULT_ITERATIONS})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"wall-clock limit of the run in seconds (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--out", metavar="DIR", help="keep the run's outputs in DIR")
    parser.add_argument("--json-out", metavar="FILE",
                        help="also write the JSON report to FILE (e.g. Markdown to the step summary and JSON "
                             "for the PR comment from one run)")
    parser.add_argument("--seed", type=int, metavar="N", help="run seed for the randint draws (default: random)")
    add_format(parser, "text", "json", "markdown")
    add_component_roots(parser)
    add_set(parser)
    add_project(parser)
    parser.add_argument("--verbose", action="store_true", help="show the run's full traceback on failure")


def run(args: argparse.Namespace) -> int:
    from launcher.commands._options import load_project_config, parse_overrides
    from launcher.diagnostics import UsageError
    from launcher.report.smoke import render_json, render_markdown, render_text
    from launcher.smoke import smoke

    if args.iterations < 1:
        raise UsageError("--iterations must be at least 1")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    config = load_project_config(args)

    def go():
        return smoke(args.runspec, component_roots=config.roots_with(args.component_roots),
                     project_dir=config.project_dir if config.file else None, extra_roots=args.component_roots,
                     overrides=parse_overrides(args.overrides), iterations=args.iterations, timeout=args.timeout,
                     out_dir=args.out, verbose=args.verbose, seed=args.seed, config=config)

    if sys.stderr.isatty():  # a spinner for people; nothing for CI logs and pipes
        from rich.console import Console

        with Console(stderr=True).status(f"smoke run of {args.runspec} (limit {args.timeout:g} s)"):
            report = go()
    else:
        report = go()
    render = {"json": render_json, "markdown": render_markdown}.get(args.format, render_text)
    if args.json_out:
        from launcher.runtime.files import write_text_atomic

        write_text_atomic(args.json_out, render_json(report))
    sys.stdout.write(render(report))
    return 0 if report.ok else 1
