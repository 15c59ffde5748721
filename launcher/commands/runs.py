from __future__ import annotations

HELP = "list runs of one or more jobs: status, iters, per-stage metrics, hpmax, hparams"
DESCRIPTION = """\
One row per child run, like XT's `list runs`: status, node, iters, the latest value of every metric per
stage in the order the stage defined them (the objective first: s1-rew, s1-win, s1-hrs, ...), hpmax, the
run's hyperparameter values, exit code, elapsed seconds and, for runs that did not complete, the reason.

A field is a column name (run, job, status, node, iters, hpmax, exit, elapsed, reason, s1-rew, lr) or the
explicit metrics.NAME / hparams.NAME. --filter takes FIELD OP VALUE with OP one of = != > >= < <= ~ (contains);
several filters must all hold. A --sort, --columns or --filter field that matches nothing is an error.

  launcher runs job12
  launcher runs job12 job13 --sort hpmax --reverse --last 5
  launcher runs --all --last 20
  launcher runs job12 --filter 'hparams.lr>0.1' --filter status=completed
  launcher runs job12 --columns run,hpmax,lr,s1-rew --format json
  launcher runs job12 --export job12.csv
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("jobs", nargs="*", metavar="JOB", help="job names, e.g. job12 job13")
    parser.add_argument("--all", action="store_true", help="the runs of every job in the store")
    parser.add_argument("--columns", default=None, metavar="A,B,...",
                        help="the columns to show, in this order (e.g. run,status,hpmax,lr)")
    parser.add_argument("--filter", dest="filters", action="append", default=[], metavar="EXPR",
                        help="keep runs where EXPR holds: status=failed, hparams.lr>0.1, s1-rew>=0.5; repeatable")
    parser.add_argument("--sort", default=None, metavar="FIELD",
                        help="sort by a field: hpmax, metrics.s1-rew, hparams.<name>, status, ...")
    parser.add_argument("--reverse", action="store_true", help="sort descending")
    parser.add_argument("--last", type=int, default=None, metavar="N", help="only the last N rows (after sorting)")
    parser.add_argument("--status", default=None, metavar="S",
                        help="only runs in this state (queued, running, completed, failed, cancelled, lost)")
    parser.add_argument("--export", default=None, metavar="FILE.csv", help="also write the table as CSV")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)
    add_format(parser, "text", "json", "markdown")


def run(args) -> int:
    import sys

    from launcher.config import load_config
    from launcher.diagnostics import UsageError, did_you_mean
    from launcher.jobs import records as R
    from launcher.jobs import runquery
    from launcher.jobs.collect import indexed_runs_of_jobs, runs_of_jobs
    from launcher.report import jobs as report

    if args.status and args.status not in R.RUN_STATES:
        raise UsageError(f"--status {args.status!r} is not a run state",
                         hint=did_you_mean(args.status, R.RUN_STATES) or f"one of: {', '.join(R.RUN_STATES)}")
    if not args.jobs and not args.all:
        raise UsageError("name one or more jobs, or --all", hint="for example: launcher runs job12")
    cfg = load_config(project=args.project) if args.project else load_config()
    # --last alone shows the last N runs in run order: only those records are read. A sort or a filter needs
    # every run's value first.
    unordered = not (args.sort or args.filters or args.status)
    records = None
    if args.last is not None and not unordered:
        # Sorted or filtered, then the last N: every run's sortable fields from the jobs' run indexes (ended
        # runs; the others from their records), and only the N records shown are read (below).
        jobs, runs, records = indexed_runs_of_jobs(cfg, args.jobs, all_jobs=args.all, target=args.target)
    else:
        jobs, runs = runs_of_jobs(cfg, args.jobs, all_jobs=args.all, target=args.target,
                                  last=args.last if unordered else None)
    columns = None
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        if not columns:
            raise UsageError("--columns is empty", hint="for example --columns run,status,hpmax")
        for c in columns:
            runquery.check_field(c, runs, "--columns")
    if args.status:
        runs = [r for r in runs if r.get("status") == args.status]
    runs = runquery.apply_filters(runs, args.filters)
    if args.sort:
        runquery.check_field(args.sort, runs, "--sort")
        runs = runquery.sort_runs(runs, args.sort, reverse=args.reverse)
    if args.last is not None:
        runs = runs[-args.last:] if args.last > 0 else []
    if records is not None:
        runs = records(runs)
    if args.export:
        n = report.export_csv(runs, args.export, columns=columns)
        sys.stderr.write(f"exported {n} runs to {args.export}\n")
    if args.format == "json":
        payload = {"jobs": jobs, "runs": runs}
        if len(jobs) == 1:
            payload["job"] = jobs[0]
        if columns:
            payload["columns"] = columns
            payload["rows"] = report.runs_rows(runs, columns)[1]
        sys.stdout.write(report.to_json(payload))
    elif args.format == "markdown":
        sys.stdout.write(report.runs_markdown(runs, columns))
    else:
        sys.stdout.write(report.render_runs_text(runs, columns, width=report.terminal_width()))
    return 0
