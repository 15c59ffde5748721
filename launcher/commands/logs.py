from __future__ import annotations

HELP = "print a run's console output (--follow: until the run ends)"
DESCRIPTION = """\
The console of a child run (stdout and stderr of its process), as mirrored to the store every few
seconds. With --follow, keeps printing new output until the run ends.

  launcher logs run41.3
  launcher logs ws1/run41.3 --follow

Without --target, a run that is not in the local store is looked for in the stores of the project's other
targets (in config order); the one it came from is named on stderr.
"""


def configure(parser) -> None:
    from launcher.commands._options import add_project

    parser.add_argument("run", metavar="RUN", help="child run name, e.g. run41.3 or ws1/run41.3")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow (default: 1)")
    parser.add_argument("--target", default=None, metavar="NAME",
                        help="whose store holds the run (default: the local store, else the first other target "
                             "whose store has it)")
    add_project(parser)


def run(args) -> int:
    import sys
    import time

    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.diagnostics import LauncherError
    from launcher.jobs import records as R
    from launcher.jobs.status import find_run, reconcile

    cfg = load_config(project=args.project) if args.project else load_config()
    name = args.run.split("/")[-1]
    store, tgt = store_for(cfg, name, target=args.target)
    if args.target is None and tgt.name != "local":
        # Found by looking through the other targets' stores: say where, so the user knows (and can pass it).
        sys.stderr.write(f"{name}: from the store of target {tgt.name}\n")
    record = find_run(store, name)
    if record is None:
        raise LauncherError(f"no run '{args.run}' in {store.description}", hint="`launcher runs JOB` lists them")
    if record.get("parent") is None and record.get("children"):
        raise LauncherError(f"{name} is a parent run; its console is per child run",
                            hint=f"for example: launcher logs {record['children'][0]}")
    shown = 0
    out = sys.stdout.buffer
    try:
        while True:
            data = store.read_bytes(R.run_key(name, "console.txt")) or b""
            if len(data) > shown:
                out.write(data[shown:])
                out.flush()
                shown = len(data)
            record = find_run(store, name) or record
            if not args.follow or record.get("status") in R.FINAL_STATES:
                if args.follow:  # the last mirror pass may have landed with the final status
                    data = store.read_bytes(R.run_key(name, "console.txt")) or b""
                    out.write(data[shown:])
                    sys.stderr.write(f"-- {name}: {record.get('status')}"
                                     + (f" ({record['error']})" if record.get("error") else "") + "\n")
                break
            if record.get("job"):
                reconcile(store, record["job"])
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    return 0
