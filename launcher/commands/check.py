from __future__ import annotations

HELP = "check an Azure target against the real service before the first launch"
DESCRIPTION = """\
Like `sky check`: credentials, the Batch account and the role to create auto-pool jobs, the store container
and a user delegation key, active jobs, the image / node agent SKU pair, runs_per_node against the VM size (with
--runspec), and the start task's script. Nothing is created or changed.

  launcher check azb-cpu
  launcher check azb-cpu --runspec runspecs/x.yaml --format json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("target", nargs="?", default=None, metavar="TARGET",
                        help="an azure-batch target (default: every azure-batch target)")
    parser.add_argument("--runspec", default=None, metavar="FILE", help="check its runs_per_node against the VM size")
    add_project(parser)
    add_format(parser, "text", "json")


def run(args) -> int:
    import sys

    from launcher.azure.check import check_target
    from launcher.azure.settings import load_settings
    from launcher.commands.pool import _azure_targets
    from launcher.config import load_config
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    runs_per_node = _runs_per_node(args.runspec) if args.runspec else None
    reports = []
    for tgt in _azure_targets(cfg, args.target):
        reports.append(check_target(load_settings(tgt, cfg), project_dir=cfg.project_dir, runs_per_node=runs_per_node))
    if args.format == "json":
        sys.stdout.write(report.to_json({"ok": all(r.ok for r in reports), "targets": [r.to_dict() for r in reports]}))
    else:
        from launcher.report.check_target import render_text

        sys.stdout.write(render_text(reports))
    return 0 if all(r.ok for r in reports) else 1


def _runs_per_node(path: str) -> int:
    from pathlib import Path

    from launcher.diagnostics import LauncherError
    from launcher.runspec.api import launcher_section

    if not Path(path).is_file():
        raise LauncherError(f"runspec not found: {path}", hint="give the path of a runspec file")
    value = launcher_section(Path(path)).get("runs_per_node", 1)
    if not isinstance(value, int) or isinstance(value, bool):
        raise LauncherError(f"{path}: job_launcher.runs_per_node is not a whole number", hint="fix the runspec")
    return value
