from __future__ import annotations

HELP = "show a job's status: runs done/total, failures, best hpmax, parent runs"
DESCRIPTION = """\
The state of one job. Runs whose agent stopped reporting (a dead supervisor, a lost node) are marked
lost here. Exit 0 whatever the job's state; 1 when the job is unknown.

  launcher status job12
  launcher status job12 --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("job", metavar="JOB", help="job name, e.g. job12")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)
    add_format(parser, "text", "json")


def run(args) -> int:
    import sys

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.jobs import records as R
    from launcher.jobs.status import failed_runs, job_summary, read_job
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    store, _ = store_for(cfg, args.job, target=args.target)
    summary = job_summary(store, args.job)
    record = read_job(store, args.job) or {}
    parents = [store.read_json(R.run_key(p)) or {"run": p} for p in record.get("parents", [])]
    failures = report.failures(failed_runs(store, args.job, limit=10) if summary.get("runs_failed") else [])
    if args.format == "json":
        sys.stdout.write(report.to_json({**summary, "parents": parents, "failures": failures}))
    else:
        sys.stdout.write(report.render_status_text(summary, parents, failures))
    return 0
