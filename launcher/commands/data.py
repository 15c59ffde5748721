"""`launcher data upload DIR` / `launcher data list`: the datastore that runspecs read as `$datastore`."""

from __future__ import annotations

HELP = "put data into a target's datastore ($datastore) and list it"
DESCRIPTION = """\
rl_nexus runspecs read policies and datasets from $datastore/... (XT mounted a storage container there).
The datastore of a local target is ../datastore relative to the project's working_dir (as rl_nexus has it);
that of an azure-batch target is the Blob container of its `datastore = "container[/prefix]"` setting,
which its nodes see as a folder named by XT_DATA_DIR.

  launcher data upload policies/ --to ope/policy       # files of policies/ -> $datastore/ope/policy/...
  launcher data upload datasets --target azb-cpu
  launcher data list [--target NAME] [--under ope] [--format json]
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    up = sub.add_parser("upload", help="copy a folder's files into the datastore")
    up.add_argument("dir", metavar="DIR", help="the folder to upload")
    up.add_argument("--to", default=None, metavar="PATH",
                    help="folder inside the datastore (default: DIR's own name; '.' for the top)")
    ls = sub.add_parser("list", help="list the datastore's files")
    ls.add_argument("--under", default="", metavar="PATH", help="only files below this folder")
    for p in (up, ls):
        p.add_argument("--target", default="local", metavar="NAME", help="whose datastore (default: local)")
        add_project(p)
        add_format(p, "text", "json")


def run(args) -> int:
    import sys

    from launcher.commands._options import load_project_config
    from launcher.datastore import listing, open_datastore, upload
    from launcher.report import jobs as report

    config = load_project_config(args)
    ds = open_datastore(config, args.target)
    if args.action == "list":
        files = listing(ds, args.under)
        if args.format == "json":
            sys.stdout.write(report.to_json({"target": ds.target, "where": ds.where, "files": files}))
        elif not files:
            sys.stdout.write(f"the datastore of {ds.target} ({ds.where}) is empty\n")
        else:
            for f in files:
                size = f"{f['bytes']:>12,}" if f["bytes"] is not None else " " * 12
                sys.stdout.write(f"{size}  {f['path']}\n")
            sys.stdout.write(f"{len(files)} files in the datastore of {ds.target} ({ds.where})\n")
        return 0
    with _progress(f"uploading {args.dir}") as tick:
        got = upload(ds, args.dir, dest=args.to, on_file=tick)
    if args.format == "json":
        sys.stdout.write(report.to_json(got.to_dict()))
    else:
        where = f"$datastore/{got.dest}" if got.dest else "$datastore"
        sys.stdout.write(f"uploaded {got.files} files ({got.byte_count:,} bytes) to {where} of {got.target} "
                         f"({got.where})\n")
        if got.skipped:
            sys.stdout.write(f"skipped (symlinks or secret-looking names): {', '.join(got.skipped)}\n")
    return 0


class _progress:
    """A progress bar on stderr while files go up (on a terminal; nothing in CI logs and pipes)."""

    def __init__(self, label: str) -> None:
        self.label, self.bar, self.task = label, None, None

    def __enter__(self):
        import sys

        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
        return self.tick

    def tick(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
