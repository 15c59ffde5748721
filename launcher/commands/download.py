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
    from pathlib import Path

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.jobs.status import child_names
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    name = args.name.split("/")[-1]
    store, tgt = store_for(cfg, name, target=args.target)
    dest = Path(args.dest)
    files = 0
    size = 0

    def copy_prefix(prefix: str, into: Path) -> None:
        nonlocal files, size
        for key in store.list(prefix):
            rel = key[len(prefix):]
            if not rel or rel.startswith("."):
                continue
            if store.get_file(key, into / rel):
                files += 1
                size += (into / rel).stat().st_size

    if name.startswith("job"):
        copy_prefix(f"jobs/{name}/", dest / name)
        runs = child_names(store, name)
        for run in runs:
            copy_prefix(f"runs/{run}/", dest / name / run)
        where = dest / name
    else:
        copy_prefix(f"runs/{name}/", dest / name)
        runs = [name]
        where = dest / name
    if args.format == "json":
        sys.stdout.write(report.to_json({"name": name, "target": tgt.name, "dest": str(where), "files": files,
                                         "bytes": size, "runs": runs}))
    else:
        sys.stdout.write(f"downloaded {files} files ({size:,} bytes) of {name} from target {tgt.name} "
                         f"to {where}\n")
    return 0
