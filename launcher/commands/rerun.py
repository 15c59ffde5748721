from __future__ import annotations

HELP = "launch a run again from its repro_spec.yaml, as a new one-run job (XT's rerun)"
DESCRIPTION = """\
Launch one run again: its repro_spec.yaml (the runspec made explicit, with the run's hyperparameter values
and drawn seeds) as a one-run job, on the run's target unless --target, with the original job's code (its
stored snapshot, whatever the working tree holds now). The ledger row names the original runspec and commit,
and its origin says `rerun of RUN (JOB)` and where the repro spec is stored. Then it behaves as `launcher
launch` (follows the job unless --detach; a rerun of the same run on the same target is launched once unless
--force).

  launcher rerun run12.3
  launcher rerun run12.3 --target azb-cpu --detach --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("run", metavar="RUN", help="a child run, e.g. run12.3")
    parser.add_argument("--target", default=None, metavar="NAME", help="where to run it (default: where it ran)")
    parser.add_argument("--detach", action="store_true", help="return after submission; the job keeps running")
    parser.add_argument("--force", action="store_true", help="launch even if this rerun was already launched")
    add_project(parser)
    add_format(parser, "text", "json", "markdown")


def run(args) -> int:
    import argparse
    import sys

    from launcher.commands import launch as launch_cmd
    from launcher.config import load_config
    from launcher.jobs.rerun import prepared

    cfg = load_config(project=args.project) if args.project else load_config()
    with prepared(cfg, args.run, target=args.target) as rerun:
        record = rerun.record
        if args.format == "text":
            sys.stderr.write(f"rerunning {record['run']} of {record.get('job')} from its repro_spec.yaml "
                             f"(hparams {record.get('hparams') or {}}, seed {record.get('seed')}) on its code "
                             f"(commit {rerun.code.snapshot.commit[:12] or '-'})\n")
        # launch's own options with their defaults (whatever launch grows), then what a rerun decides
        parser = argparse.ArgumentParser(add_help=False)
        launch_cmd.configure(parser)
        as_launch = parser.parse_args([str(rerun.path)])
        as_launch.__dict__.update(detach=args.detach, force=args.force, origin=rerun.origin, project=args.project,
                                  format=args.format, component_roots=rerun.component_roots, code=rerun.code)
        return launch_cmd.run(as_launch)
