from __future__ import annotations

HELP = "cancel a job: stop its running runs (marked cancelled) and start no more"
DESCRIPTION = """\
Cancel a job. Running runs are stopped (their process groups killed) and marked cancelled, queued runs
never start. Runs that already ended keep their state. Cancelling an ended job changes nothing.

  launcher cancel job12
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("job", metavar="JOB", help="job name, e.g. job12")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store holds the job")
    add_project(parser)
    add_format(parser, "text", "json")


def run(args) -> int:
    import sys

    from launcher.backends import get_backend, store_for
    from launcher.config import load_config
    from launcher.jobs import records as R
    from launcher.jobs.status import job_summary, read_job
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    store, tgt = store_for(cfg, args.job, target=args.target)
    record = read_job(store, args.job) or {}
    if record.get("target") in cfg.targets:
        tgt = cfg.target(record["target"])
    before = job_summary(store, args.job)
    ended = before["status"] in R.FINAL_STATES + (R.REMOVED,)
    changed = [] if ended else get_backend(tgt, store, cfg).cancel(args.job)
    after = job_summary(store, args.job)
    if args.format == "json":
        sys.stdout.write(report.to_json({**after, "cancelled_runs": changed}))
    elif ended:
        sys.stdout.write(f"{args.job} already ended ({before['status']}): nothing to cancel\n")
    else:
        sys.stdout.write(report.summary_line(after) + "\n")
    return 0
