"""`launcher changed`: which runspecs did this event change, and which of them launch where (launcher.changes)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from launcher.diagnostics import UsageError

HELP = "list the runspecs a GitHub event changed, as a job matrix"
DESCRIPTION = """\
List the runspecs under --root that an event changed, and the subset whose job_launcher is enabled.

The event comes from $GITHUB_EVENT_PATH / $GITHUB_EVENT_NAME (or --event-path / --event-name):
  pull_request       the diff base...head (merge base to PR head)
  push               before..after; a new branch (all-zero before) lists the runspecs its commits touched;
                     a push validates and smoke-runs but launches nothing unless --launch-on-push
  workflow_dispatch  the runspec named by the `runspec` input (it must exist)
--base/--head or --runspec override the event. Deleted runspecs are not listed.

--format github writes the step outputs matrix, launch_matrix, local_matrix, record_matrix, any,
any_launch, any_remote, any_local, fork, pr, origin, files (a JSON list), and a table to the step summary.
Paths with control or format characters, or leaving the repository, are refused (one annotation each).

Examples:
  launcher changed --base origin/main --head HEAD
  launcher changed --event-path event.json --event-name pull_request --format json
"""

def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event-path", metavar="FILE", help="event payload JSON (default: $GITHUB_EVENT_PATH)")
    parser.add_argument("--event-name", metavar="NAME", help="event name (default: $GITHUB_EVENT_NAME)")
    parser.add_argument("--base", metavar="SHA", default="", help="compare from this commit (with --head)")
    parser.add_argument("--head", metavar="SHA", default="", help="compare to this commit (with --base)")
    parser.add_argument("--runspec", metavar="PATH", default=os.environ.get("LAUNCHER_RUNSPEC", ""),
                        help="just this runspec (it must exist; default: $LAUNCHER_RUNSPEC)")
    parser.add_argument("--target", metavar="NAME", default=os.environ.get("LAUNCHER_TARGET", ""),
                        help="compute target override for launches (default: $LAUNCHER_TARGET)")
    parser.add_argument("--launch-on-push", action=argparse.BooleanOptionalAction,
                        default=os.environ.get("LAUNCHER_LAUNCH_ON_PUSH", "").lower() == "true",
                        help="let push events launch (default: no; $LAUNCHER_LAUNCH_ON_PUSH=true)")
    parser.add_argument("--root", default="runspecs", metavar="DIR", help="runspec folder (default: runspecs)")
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (default), json, or github (step outputs + step summary)")


def run(args: argparse.Namespace) -> int:
    from launcher import github
    from launcher.changes import find_changed
    from launcher.report.changed import render_markdown, render_text

    if bool(args.base) != bool(args.head):
        raise UsageError("--base and --head go together")
    event = None
    if args.event_path or os.environ.get("GITHUB_EVENT_PATH"):
        event = github.load_event(args.event_path, args.event_name)
    elif not (args.base or args.runspec):
        github.load_event(None, args.event_name)  # raises the explanatory "no event" error
    root = args.root.strip("/") or "."
    from launcher.changes import UnsafePaths

    try:
        result = find_changed(cwd=Path.cwd(), root=root, event=event, base=args.base, head=args.head,
                              runspec=args.runspec, target=args.target, launch_on_push=args.launch_on_push)
    except UnsafePaths as exc:
        if args.format == "github":
            print("\n".join(exc.annotations()))
        raise
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    elif args.format == "github":
        for name, value in result.outputs().items():
            github.set_output(name, value)
        github.append_step_summary(render_markdown(result))
        print(render_text(result), end="")
    else:
        print(render_text(result), end="")
    return 0
