from __future__ import annotations

HELP = "adopt the launcher in this repository: config, workflow caller, .gitignore"
DESCRIPTION = """\
Set this repository up for the launcher, in one command. It detects the layout (an rl_nexus checkout with
rl_nexus/run.py, rl_nexus/components and rl_nexus/specs, or a plain project) and writes:

  pyproject.toml                   the [tool.launcher] table (merged: comments and layout are kept, settings
                                   you already have are left as they are), a local target and a commented
                                   Azure Batch target
  .github/workflows/runspecs.yml   the workflow caller, pinned by commit to a release of the reusable workflow
  .gitignore                       the local store, results and datastore

It never overwrites a file without --force; running it again changes nothing. It ends by validating the
runspecs it found and printing the next commands.

  launcher init --dry-run          show the diff, write nothing
  launcher init --upgrade          re-pin the caller to the newest release; say what changed in the config
  launcher init --ref v0.2.0       pin a given release (or a full 40-hex commit)
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format

    parser.add_argument("--project", default=None, metavar="DIR",
                        help="the repository to set up (default: the top of the git checkout you stand in)")
    parser.add_argument("--dry-run", action="store_true", help="print the diff of what would change; write nothing")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing workflow caller and settings that differ from init's")
    parser.add_argument("--upgrade", action="store_true",
                        help="re-pin the existing caller to the newest release (or --ref) and report the "
                             "config changes in between")
    parser.add_argument("--ref", default=None, metavar="REF",
                        help="the launcher release to pin (vX.Y.Z) or a full 40-hex commit (default: the "
                             "release installed here, else the newest)")
    add_format(parser)


def run(args) -> int:
    import sys
    from pathlib import Path

    from launcher import __version__
    from launcher.adopt import plan as planning
    from launcher.adopt.check import check_runspecs
    from launcher.report import init as report

    root = Path(args.project) if args.project else _repository_root()
    plan = planning.build_plan(root, ref=args.ref, force=args.force, upgrade=args.upgrade,
                               installed_version=__version__)
    if not args.dry_run:
        planning.apply(plan)
    check = check_runspecs(plan, written=not args.dry_run)
    if args.format == "json":
        sys.stdout.write(report.render_json(plan, check, dry_run=args.dry_run))
    else:
        sys.stdout.write(report.render_text(plan, check, dry_run=args.dry_run))
    return 1 if check is not None and check.exit_code() else 0


def _repository_root():
    from pathlib import Path

    from launcher.gitutil import git

    proc = git(["rev-parse", "--show-toplevel"], Path.cwd(), check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else Path.cwd()
