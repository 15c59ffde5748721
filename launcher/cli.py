"""The `launcher` command: parse arguments, call one function, exit with its code.

Each subcommand lives in launcher/commands/<name>.py and exposes HELP, configure(parser) and
run(args) -> int. Modules import nothing heavy at top level, so `launcher --help` and
`launcher validate` start fast; the Azure SDKs are only imported by the Azure backend and store.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from launcher import __version__
from launcher.diagnostics import LauncherError

# Order = order in `launcher --help`.
COMMANDS = (
    "validate", "lint", "schema",
    "run", "smoke",
    "launch", "jobs", "runs", "status", "logs", "download", "cancel", "pool",
    "ledger", "changed", "comment",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: exit 2, one line, no traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="launcher", description="Validate, smoke-run, launch and record rl_nexus runspecs.")
    parser.add_argument("--version", action="version", version=f"launcher {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"launcher.commands.{name}")
        except ModuleNotFoundError as exc:  # a command still being written
            if exc.name != f"launcher.commands.{name}":
                raise
            continue
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except LauncherError as exc:
        from launcher.report.text import render_error

        sys.stderr.write(render_error(exc))
        return exc.exit_code
    except ModuleNotFoundError as exc:
        from launcher.diagnostics import missing_extra
        from launcher.report.text import render_error

        error = missing_extra(exc)
        if error is None:
            raise
        sys.stderr.write(render_error(error))
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # `launcher runs job1 | head`
        return 0
    except Exception:
        if os.environ.get("LAUNCHER_DEBUG") or getattr(args, "verbose", False):
            raise
        import traceback

        last = traceback.format_exc().strip().splitlines()[-1]
        sys.stderr.write(f"launcher: internal error: {last}\n"
                         "  This is a bug in the launcher; run again with LAUNCHER_DEBUG=1 for the full trace.\n")
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
