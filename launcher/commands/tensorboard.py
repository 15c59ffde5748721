from __future__ import annotations

HELP = "fetch jobs' TensorBoard event files into a cache and start TensorBoard on them"
DESCRIPTION = """\
Fetch the TensorBoard event files of the jobs' runs (written when a runspec has log_to_tensorboard: true)
from the store, local or Azure, into a cache folder (<store>/cache/tensorboard/<job>/<run>/...), then start
TensorBoard on it on 127.0.0.1 and print its URL. TensorBoard is optional: pip install tensorboard.
--logdir-only prints the folder and starts nothing (for a TensorBoard you run yourself).

  launcher tensorboard job12 job13
  launcher tensorboard job12 --logdir-only
"""


def configure(parser) -> None:
    from launcher.commands._options import add_project

    parser.add_argument("jobs", nargs="+", metavar="JOB", help="job names, e.g. job12")
    parser.add_argument("--logdir-only", action="store_true", help="fetch, print the folder, start nothing")
    parser.add_argument("--port", type=int, default=6006, help="TensorBoard's port (default 6006)")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)


def run(args) -> int:
    import importlib.util
    import subprocess
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
        raise LauncherError("TensorBoard is not installed here", hint=f"pip install tensorboard, or run it yourself: "
                            f"tensorboard --logdir {logdir}")
    print(f"TensorBoard on http://127.0.0.1:{args.port}/  (logdir {logdir}; Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                                "--host", "127.0.0.1", "--port", str(args.port)])
    except KeyboardInterrupt:
        return 0
