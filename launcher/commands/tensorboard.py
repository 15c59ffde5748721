from __future__ import annotations

HELP = "fetch jobs' TensorBoard event files into a cache and start TensorBoard on them"
DESCRIPTION = """\
Fetch the TensorBoard event files of the jobs' runs (written when a runspec has log_to_tensorboard: true)
from the store, local or Azure, into a cache folder (<store>/cache/tensorboard/<job>/<run>/...), then start
TensorBoard on it on 127.0.0.1 and print its URL once it listens (--port 0: a free port); Ctrl-C stops it.
TensorBoard is optional: pip install 'runspec-launcher[tensorboard]'. --logdir-only prints the folder and
starts nothing (for a TensorBoard you run yourself).

  launcher tensorboard job12 job13
  launcher tensorboard job12 --logdir-only
"""


def configure(parser) -> None:
    from launcher.commands._options import add_project

    parser.add_argument("jobs", nargs="+", metavar="JOB", help="job names, e.g. job12")
    parser.add_argument("--logdir-only", action="store_true", help="fetch, print the folder, start nothing")
    parser.add_argument("--port", type=_port, default=6006, help="TensorBoard's port (default 6006; 0: a free one)")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)


def _port(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535; 0 picks a free one)")
    return int(text)


def run(args) -> int:
    import importlib.util
    import sys

    from launcher.config import load_config
    from launcher.diagnostics import LauncherError
    from launcher.jobs.collect import stores_of_jobs
    from launcher.jobs.status import read_runs
    from launcher.results.events import fetch_event_files

    cfg = load_config(project=args.project) if args.project else load_config()
    cache = cfg.store_dir / "cache" / "tensorboard"
    total = 0
    for job, store in stores_of_jobs(cfg, args.jobs, target=args.target).items():
        n = fetch_event_files(store, job, read_runs(store, job), cache)
        total += n
        sys.stderr.write(f"{job}: {n} event file{'s' * (n != 1)}\n")
    if total == 0:
        raise LauncherError(f"no TensorBoard event files in {', '.join(args.jobs)}",
                            hint="runs write them with `log_to_tensorboard: true` in the runspec (and tensorboardX "
                                 "installed where they run)")
    logdir = cache if len(args.jobs) > 1 else cache / args.jobs[0]
    if args.logdir_only:
        print(logdir)
        return 0
    if importlib.util.find_spec("tensorboard") is None:
        raise LauncherError("TensorBoard is not installed here",
                            hint=f"pip install 'runspec-launcher[tensorboard]', or run it yourself: "
                                 f"tensorboard --logdir {logdir}")
    from launcher.results.tensorboard_server import serve

    def say_url(url: str) -> None:
        print(f"TensorBoard on {url}  (logdir {logdir}; Ctrl-C stops it)", flush=True)

    rc = serve(logdir, port=args.port, on_url=say_url)
    if rc == 0:
        sys.stderr.write("TensorBoard stopped\n")
    return rc
