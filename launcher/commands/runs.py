from __future__ import annotations

HELP = "list the runs of a job: status, iters, per-stage metrics, hpmax, hparams"
DESCRIPTION = """\
One row per child run, like XT's `list runs`: status, node, iters, the latest value of every metric per
stage (s1-rew, s1-hrs, ...), hpmax, the run's hyperparameter values, exit code and elapsed seconds.

  launcher runs job12
  launcher runs job12 --sort metrics.hpmax --last 5
  launcher runs job12 --status failed --format json
  launcher runs job12 --export job12.csv
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("job", metavar="JOB", help="job name, e.g. job12")
    parser.add_argument("--sort", default=None, metavar="COLUMN",
                        help="sort by a column: metrics.hpmax, metrics.s1-rew, hparams.<name>, status, ...")
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

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.diagnostics import UsageError, did_you_mean
    from launcher.jobs import records as R
    from launcher.jobs.status import read_runs
    from launcher.report import jobs as report

    if args.status and args.status not in R.RUN_STATES:
        raise UsageError(f"--status {args.status!r} is not a run state",
                         hint=did_you_mean(args.status, R.RUN_STATES) or f"one of: {', '.join(R.RUN_STATES)}")
    cfg = load_config(project=args.project) if args.project else load_config()
    store, _ = store_for(cfg, args.job, target=args.target)
    runs = read_runs(store, args.job)
    if args.status:
        runs = [r for r in runs if r.get("status") == args.status]
    if args.sort:
        runs = report.sort_runs(runs, args.sort, reverse=args.reverse)
    if args.last is not None:
        runs = runs[-args.last:] if args.last > 0 else []
    if args.export:
        n = report.export_csv(runs, args.export)
        sys.stderr.write(f"exported {n} runs to {args.export}\n")
    if args.format == "json":
        sys.stdout.write(report.to_json({"job": args.job, "runs": runs}))
    elif args.format == "markdown":
        sys.stdout.write(report.runs_markdown(runs))
    else:
        sys.stdout.write(report.render_runs_text(runs))
    return 0
