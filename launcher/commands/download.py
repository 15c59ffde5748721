from __future__ import annotations

HELP = "download a job's or a run's results: mirrored files, console, metrics, repro_spec"
DESCRIPTION = """\
Copy what a job or a run left in the store to a local folder:

  DEST/<job>/job.json, launched_job_spec.yaml, plan.json       (for a job)
  DEST/<run>/run.json, console.txt, metrics.jsonl, summary.json, repro_spec.yaml, mirrored/...

A job downloads every child run. DEST defaults to the current folder. Without --target, a job or run that
is not in the local store is looked for in the stores of the project's other targets (in config order).

  launcher download job12 results/
  launcher download run41.3
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("name", metavar="JOB|RUN", help="job (job12) or child run (run41.3)")
    parser.add_argument("dest", nargs="?", default=".", metavar="DEST", help="destination folder (default: .)")
    parser.add_argument("--target", default=None, metavar="NAME",
                        help="whose store holds it (default: the local store, else the first other target whose "
                             "store has it)")
    add_project(parser)
    add_format(parser, "text", "json")


def run(args) -> int:
    import sys

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.jobs.download import download
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    name = args.name.split("/")[-1]
    store, tgt = store_for(cfg, name, target=args.target)
    got = download(store, name, args.dest)
    if args.format == "json":
        sys.stdout.write(report.to_json({**got.to_dict(), "target": tgt.name}))
    else:
        sys.stdout.write(f"downloaded {got.files} files ({got.byte_count:,} bytes) of {name} from target {tgt.name} "
                         f"to {got.dest}\n")
    return 0
