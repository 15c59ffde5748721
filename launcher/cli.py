"""The `launcher` command: parse arguments, call one function, exit with its code.

Each subcommand lives in launcher/commands/<name>.py and exposes HELP, configure(parser) and
run(args) -> int. Modules import nothing heavy at top level, so `launcher --help` and
`launcher validate` start fast; the Azure SDKs are only imported by the Azure backend and store.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from typing import TYPE_CHECKING

from launcher import version_line

if TYPE_CHECKING:
    from launcher.diagnostics import LauncherError

# name -> one line for `launcher --help`, in its order. Only the chosen command's module is imported (its
# argparse setup, and the libraries it needs), so `--help` and every command start fast; a test keeps these lines
# equal to each module's HELP.
COMMANDS = {
    "init": "adopt the launcher in this repository: config, workflow caller, .gitignore",
    "validate": "check runspecs against the schema and their components' defaults",
    "lint": 'validate, then apply the pre-flight rules (the launch checklist)',
    "schema": 'write the runspec JSON schema and the component schemas generated from the component yaml files',
    "run": "run a runspec locally (its processing stages, in the project's working_dir)",
    "smoke": 'truncated local run of a runspec (launcher disabled, max_iterations cut), checked',
    "launch": 'launch a runspec as a job (validate, lint, snapshot the code, submit, record in jobs.md)',
    "rerun": "launch a run again from its repro_spec.yaml, as a new one-run job (XT's rerun)",
    "jobs": 'list jobs: job, time, runspec, target, runs done/total, status',
    "runs": 'list runs of one or more jobs: status, iters, per-stage metrics, hpmax, hparams',
    "search": "the search analysis of a job: the best configuration after each completed run",
    "status": "show a job's status: runs done/total, failures, best hpmax, parent runs",
    "plot": "plot learning curves of jobs' runs (or hpmax against each hyperparameter) to PNG/SVG or the terminal",
    "tensorboard": "fetch jobs' TensorBoard event files into a cache and start TensorBoard on them",
    "logs": "print a run's console output (--follow: until the run ends)",
    "download": "download a job's or a run's results: mirrored files, console, metrics, repro_spec",
    "cancel": 'cancel a job: stop its running runs (marked cancelled) and start no more',
    "pool": 'list or delete Azure Batch pools (e.g. a pool kept by `hold: true`)',
    "data": "put data into a target's datastore ($datastore) and list it",
    "check": "check an Azure target against the real service before the first launch",
    "ledger": 'push rows to the jobs.md ledger, refresh job statuses in it, or show it',
    "changed": 'list the runspecs a GitHub event changed, as a job matrix',
    "comment": 'render (and --post) the sticky pull-request comment for a runspec',
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: exit 2, one line, no traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `chosen` (None: every command) gets its module's full arguments."""
    parser = _Parser(prog="launcher", description="Validate, smoke-run, launch and record rl_nexus runspecs.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_line in COMMANDS.items():
        if chosen is not None and name != chosen:
            sub.add_parser(name, help=help_line, add_help=False)
            continue
        module = importlib.import_module(f"launcher.commands.{name}")
        p = sub.add_parser(name, help=help_line, description=getattr(module, "DESCRIPTION", help_line),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def _chosen_command(argv: list[str]) -> str:
    """The command named on the command line ('' when none is: `launcher`, `launcher --help`)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else ""
    return ""


def main(argv: list[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """parser: build_parser() of argv's command, already built (the fork server builds `run`'s once)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = parser or build_parser(_chosen_command(argv))
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the command is still being imported: no traceback either
        sys.stderr.write("interrupted\n")
        return 130
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except _launcher_error() as exc:  # evaluated only when something was raised: --help never imports it
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
    except Exception as exc:
        if _interrupted(exc):  # a Ctrl-C that Python re-raised as another error (e.g. during class creation)
            sys.stderr.write("interrupted\n")
            return 130
        if os.environ.get("LAUNCHER_DEBUG") or getattr(args, "verbose", False):
            raise
        if _file_refused(exc):
            from launcher.report.text import render_error

            sys.stderr.write(render_error(os_error(exc)))
            return 1
        import traceback

        last = traceback.format_exc().strip().splitlines()[-1]
        sys.stderr.write(f"launcher: internal error: {last}\n"
                         "  This is a bug in the launcher; run again with LAUNCHER_DEBUG=1 for the full trace.\n")
        return 3


#: what a file operation the machine refuses fails with (not a network error, a timeout or a missing program)
_FILE_ERRNOS = frozenset(getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR",
                                                         "EISDIR", "ENOENT", "EEXIST", "ENAMETOOLONG", "EMFILE")
                         if hasattr(errno, name))


def _file_refused(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FILE_ERRNOS and exc.filename is not None


def _launcher_error() -> type:
    """LauncherError, imported when an error is being matched (its module pulls in dataclasses and inspect: a
    sixth of `launcher --help`'s start-up, which never needs it)."""
    from launcher.diagnostics import LauncherError

    return LauncherError


def os_error(exc: OSError) -> LauncherError:
    """The machine refused a file operation that no check could foresee (a store folder that cannot be written,
    a full disk, a path where a file stands in for a folder): the user's to fix, so a clear error, not a bug."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    what = exc.strerror or str(exc) or type(exc).__name__
    return _launcher_error()(f"{where}: {what}" if where else what,
                         hint="check that this path's folders exist, are folders and can be written, and that the "
                              "disk has space; LAUNCHER_DEBUG=1 shows where it happened")


def _interrupted(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is behind exc: Python wraps one raised inside `__set_name__` (a dataclass
    being created while its module loads) in a RuntimeError, which is still the user's Ctrl-C, not a bug."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


if __name__ == "__main__":
    raise SystemExit(main())
