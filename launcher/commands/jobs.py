from __future__ import annotations

HELP = "list jobs: job, time, runspec, target, runs done/total, status"
DESCRIPTION = """\
List the jobs in the store of a target (default: the local store), newest first, as the jobs.md ledger lists
them.

  launcher jobs
  launcher jobs --last 5 --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("--last", type=int, default=None, metavar="N", help="only the N most recent jobs")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read (default: local)")
    add_project(parser)
    add_format(parser, "text", "json", "markdown")


def run(args) -> int:
    import sys

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.jobs.status import job_summary, list_jobs
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    store, _ = store_for(cfg, target=args.target)
    names = list_jobs(store)
    if args.last is not None:
        names = names[-args.last:] if args.last > 0 else []
    names = names[::-1]  # newest first, as in the ledger
    summaries = [job_summary(store, n) for n in names]
    if args.format == "json":
        sys.stdout.write(report.to_json({"jobs": summaries}))
    elif args.format == "markdown":
        sys.stdout.write(report.render_jobs_markdown(summaries))
    else:
        sys.stdout.write(report.render_jobs_text(summaries))
    return 0
