from __future__ import annotations

HELP = "the search analysis of a job: the best configuration after each completed run"
DESCRIPTION = """\
After each completed run: the best configuration so far, for how many completed runs it has been best
(BEST FOR), the hpmax it is estimated to get on new runs (EST HPMAX: its runs' mean, shrunk towards the mean
of all results the fewer runs it has) and its run count (RUNS), as XT's `xt plot summary` and rl_nexus's
scripts/eval_hp_search.py print them. For dgd and bayesian searches it also replays every recorded assignment
from the recorded results and seed, and says whether each one is reproduced.

  launcher search job12
  launcher search job12 --changes        # only the rows where the best configuration changes
  launcher search job12 --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("job", metavar="JOB", help="job name, e.g. job12")
    parser.add_argument("--changes", action="store_true",
                        help="only the rows where the best configuration changes (and the last)")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)
    add_format(parser, "text", "json")


def run(args) -> int:
    import sys

    from launcher.backends import store_for
    from launcher.commands._options import load_project_config
    from launcher.hpsearch.analysis import analyse_job
    from launcher.report import search as report
    from launcher.report.jobs import to_json

    store, _ = store_for(load_project_config(args), args.job, target=args.target)
    result = analyse_job(store, args.job)
    if args.format == "json":
        sys.stdout.write(to_json(result.to_dict()))
    else:
        sys.stdout.write(report.render_text(result, every=not args.changes))
    return 0
