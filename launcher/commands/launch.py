from __future__ import annotations

HELP = "launch a runspec as a job (validate, lint, snapshot the code, submit, record in jobs.md)"
DESCRIPTION = """\
Launch a runspec whose job_launcher section is enabled: validate and lint it (errors stop, warnings are
shown), snapshot the code that git tracks, number the job and its runs, submit it to the compute target,
and add its row to the jobs.md ledger. Prints what XT printed:

  job12, target: local, creating parent runs: 5/5, uploading 37 code files (zipped), ws1/run41, ..., job submitted

Then follows the job with a live progress bar and prints the runs table, unless --detach. Ctrl-C stops
following, not the job (`launcher cancel JOB` stops the job). The same runspec content at the same commit
on the same target is launched once: a second launch reports the existing job and exits 0 (--force
launches again). A target with prices (price_per_node_hour) prints the cost estimate before anything is
submitted. A local target is refused in a job that can request a GitHub OIDC token
(ACTIONS_ID_TOKEN_REQUEST_URL set) unless LAUNCHER_ALLOW_LOCAL_WITH_TOKEN=1.

  launcher launch runspecs/xt_walk_through.yaml
  launcher launch runspecs/random_search.yaml --target local --detach --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_component_roots, add_format, add_project, add_set

    parser.add_argument("runspec", metavar="RUNSPEC", help="the runspec file (YAML)")
    parser.add_argument("--target", default=None, metavar="NAME",
                        help="compute target (default: the runspec's job_launcher.compute_target)")
    add_set(parser)
    parser.add_argument("--detach", action="store_true", help="return after submission; the job keeps running")
    parser.add_argument("--force", action="store_true", help="launch even if this content was already launched")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="launch with uncommitted changes (the job records the dirty files)")
    parser.add_argument("--origin", default=None, metavar="TEXT",
                        help="who/what launched it, for the ledger (default: 'local: <user>')")
    parser.add_argument("--known-jobs", default=None, metavar="LEDGER",
                        help="another ledger whose jobs count too (CI: the default branch's jobs.md): content "
                             "launched there is not launched again, and the job number goes above its jobs")
    parser.add_argument("--ledger-row-out", default=None, metavar="FILE",
                        help="also write the job's ledger row as JSON to FILE (for CI steps)")
    parser.add_argument("--json-out", default=None, metavar="FILE",
                        help="also write the launch result as JSON to FILE, atomically, whatever the outcome: a "
                             "failed launch writes {status: failed, error, hint} (for CI steps: the PR comment)")
    add_component_roots(parser)
    add_project(parser)
    add_format(parser, "text", "json", "markdown")


def run(args) -> int:
    import signal
    import sys

    from launcher.commands._options import parse_overrides
    from launcher.config import load_config
    from launcher.launch import launch
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    text = args.format == "text"
    printed: list[str] = []
    shown_diagnostics: list[bool] = []
    late_interrupts: list[bool] = []

    def on_event(kind: str, value) -> None:
        if kind == "submitted":
            # From here on the job exists: Ctrl-C must neither stop it nor cut the ledger write short; it only
            # means "stop following" (checked before following starts).
            signal.signal(signal.SIGINT, lambda *_: late_interrupts.append(True))
        # XT's launch line, piece by piece as the launch proceeds.
        if not text:
            return
        if kind == "cost":  # its own line, before the launch line: what the job may cost, before it exists
            sys.stdout.write(report.cost_line(value) + "\n")
            sys.stdout.flush()
            return
        if kind == "diagnostics":  # warnings, before anything else happens
            from launcher.report.text import render_diagnostic

            sys.stderr.write("".join(render_diagnostic(d) for d in value))
            shown_diagnostics.append(True)
            return
        sys.stdout.write(("" if not printed else ", ") + report.launch_fragment(kind, value))
        printed.append(kind)
        if kind == "submitted":
            sys.stdout.write("\n")
        sys.stdout.flush()

    try:
        result = launch(args.runspec, config=cfg, target=args.target, overrides=parse_overrides(args.overrides),
                        component_roots=args.component_roots, force=args.force, allow_dirty=args.allow_dirty,
                        origin=args.origin, known_jobs=args.known_jobs, on_event=on_event,
                        code=getattr(args, "code", None))  # a rerun's stored code (launcher rerun)
    except BaseException as exc:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if printed and printed[-1] != "submitted":
            sys.stdout.write("\n")
        if args.json_out:
            from launcher.launch import failure_dict
            from launcher.runtime.files import write_json_atomic

            write_json_atomic(args.json_out, failure_dict(args.runspec, args.target, exc))
        raise
    if result.status == "launched" and not args.detach:
        _write_outputs(args, result)  # a job followed below is on record even if following is cut short
        if text:
            sys.stdout.write(report.render_launch_text(result, line_printed=True, diagnostics_printed=True))
            sys.stdout.flush()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            interrupted = bool(late_interrupts) or _follow(result, cfg, show_progress=text)
        except KeyboardInterrupt:  # also while following starts up (imports, opening the store)
            interrupted = True
        if interrupted:
            sys.stderr.write(f"stopped following; {result.job} keeps running "
                             f"(`launcher status {result.job}`, `launcher cancel {result.job}`)\n")
            return 0
        if text:
            sys.stdout.write(report.render_runs_text(result.run_records, width=report.terminal_width()))
            sys.stdout.write(report.summary_line(result.summary) + "\n")
    elif text:
        sys.stdout.write(report.render_launch_text(result, line_printed=bool(printed),
                                                     diagnostics_printed=bool(shown_diagnostics)))
    _write_outputs(args, result)
    if args.format == "json":
        sys.stdout.write(report.to_json(result.to_dict()))
    elif args.format == "markdown":
        sys.stdout.write(report.render_launch_markdown(result))
    return result.exit_code()


def _write_outputs(args, result) -> None:
    """--json-out and --ledger-row-out, atomically; after following, with the job's final status in both."""
    from launcher.runtime.files import write_json_atomic

    if args.ledger_row_out and result.ledger_row is not None:
        write_json_atomic(args.ledger_row_out, result.ledger_row)
    if args.json_out:
        write_json_atomic(args.json_out, result.to_dict())


def follow_interval() -> float:
    """Seconds between two looks at a followed job: 0.5, or LAUNCHER_FOLLOW_INTERVAL (the tests look more often,
    so that a short job is not followed for half a second longer than it ran)."""
    import os

    try:
        value = float(os.environ.get("LAUNCHER_FOLLOW_INTERVAL", "0.5"))
    except ValueError:
        return 0.5
    return value if 0 < value <= 60 else 0.5


def _follow(result, cfg, *, show_progress: bool) -> bool:
    """Follow the job to its end; True when the user pressed Ctrl-C (the job goes on)."""
    from launcher.backends import open_store
    from launcher.jobs.status import read_runs, wait_for_job
    from launcher.launch import update_ledger_status
    from launcher.report.jobs import JobProgress

    store = open_store(cfg.target(result.target), cfg)
    try:
        with JobProgress(result.job, result.total_runs, enabled=None if show_progress else False) as bar:
            result.summary = wait_for_job(store, result.job, poll=follow_interval(), on_update=bar.update)
    except KeyboardInterrupt:
        return True
    result.run_records = read_runs(store, result.job)
    if result.ledger_row is not None:  # the row a CI step records says how the followed job ended
        from launcher import ledger as L

        result.ledger_row = L.with_summary(L.LedgerRow.from_dict(result.ledger_row), result.summary).to_dict()
    try:
        from launcher.results.job import job_results

        result.results = job_results(store, result.job)
    except Exception:  # noqa: BLE001 - the results are for the comment; the runs table has everything
        result.results = None
    try:
        update_ledger_status(cfg, result.job, result.summary)
    except Exception:  # noqa: BLE001 - the ledger refresh is a courtesy; `launcher ledger refresh` does it too
        pass
    return False
