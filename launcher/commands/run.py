"""`launcher run RUNSPEC`: execute a runspec here, as rl_nexus's `python run.py spec.yaml` does locally."""

from __future__ import annotations

import argparse
import sys

from launcher.commands._options import add_component_roots, add_format, add_project, add_set

HELP = "run a runspec locally (its processing stages, in the project's working_dir)"
DESCRIPTION = """\
Run a runspec on this machine: the root component executes the enabled processing stages in order and
writes console.txt, repro_spec.yaml, a copy of the runspec, metrics.jsonl and summary.json into
experiment_path (relative to the project's working_dir, where runs start, as in rl_nexus). The runspec path
is relative to the current folder. The job_launcher section is ignored:
launching a job is `launcher launch`.

Exit codes: 0 all stages completed, 1 invalid runspec or a stage failed, 2 usage error."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runspec", help="the runspec YAML file")
    add_set(parser)
    add_component_roots(parser)
    add_project(parser)
    add_format(parser, "text", "json")
    parser.add_argument("--hp-config", metavar="FILE",
                        help="hyperparameter values of an HP-search run (a 'hyperparameter-runset:' yaml); "
                             "default: ./downloaded_hp_config.yaml when XT_RUN_NAME is set")
    parser.add_argument("--seed", type=int, metavar="N", help="run seed for the randint draws (recorded)")
    parser.add_argument("--run-name", metavar="NAME",
                        help="run name for a project run_command (XT_RUN_NAME; default: $XT_RUN_NAME or 'local')")
    parser.add_argument("--verbose", action="store_true", help="print the full traceback when a stage fails")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from launcher.commands._options import load_project_config, parse_overrides
    from launcher.diagnostics import LauncherError
    from launcher.runtime.hpconfig import find_hp_config, read_hp_config

    overrides = parse_overrides(args.overrides)
    config = load_project_config(args)
    # Paths on the command line are relative to where the user stands; the run starts in working_dir.
    runspec = Path(args.runspec).resolve()
    hp_file = find_hp_config(args.hp_config, cwd=config.run_dir)
    hp_assignment = read_hp_config(hp_file) if hp_file else None

    if config.run_command:
        from launcher.runtime.external import run_external

        if not runspec.is_file():
            raise LauncherError(f"runspec not found: {args.runspec}")
        return run_external(config.layout, config.project_dir, runspec, overrides=overrides,
                            run_name=args.run_name or os.environ.get("XT_RUN_NAME") or "local",
                            hparams=hp_assignment, data_dir=os.environ.get("XT_DATA_DIR"))

    from launcher.runtime.executor import RunInput, execute
    from launcher.runspec.api import resolve_file

    roots = config.roots_with(args.component_roots)
    rs = resolve_file(runspec, component_roots=roots, overrides=overrides, hp_assignment=hp_assignment,
                      seed=args.seed, require_components=True, display=args.runspec)
    if not config.run_dir.is_dir():
        raise LauncherError(f"working_dir {config.working_dir!r} is not a folder of {config.project_dir}")
    os.chdir(config.run_dir)  # experiment_path is relative to where runs start, as in rl_nexus
    # Components import through python_path, as a project's own run.py does (PYTHONPATH there).
    sys.path[:0] = [p for p in config.layout.python_path_dirs(config.project_dir) if p not in sys.path]
    as_json = args.format == "json"
    if rs.job_launcher.get("enabled") and not os.environ.get("LAUNCHER_RUN"):  # not in a launched run's console
        sys.stderr.write("note: job_launcher is enabled; `launcher run` runs locally (launching is `launcher launch`)\n")
    summary = execute(RunInput.from_resolved(rs, hp_search=hp_assignment is not None), roots=roots,
                      stream=sys.stderr if as_json else sys.stdout)
    if as_json:
        import json

        sys.stdout.write(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
    if summary.error is not None:
        from launcher.report.text import render_run_error

        sys.stderr.write(render_run_error(summary, verbose=args.verbose))
        return 1
    return 0
