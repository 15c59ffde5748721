"""What `validate` and `lint` share: resolve the roots and targets, check, render, exit code."""

from __future__ import annotations

import argparse
import sys

from launcher.commands._options import add_component_roots, add_project, load_project_config


def configure_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="runspec files (YAML)")
    parser.add_argument("--files-json", default=None, metavar="JSON",
                        help="more runspec files as a JSON list of paths (a workflow step output: file names are "
                             "never split by a shell)")
    add_component_roots(parser)
    add_project(parser)
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (default), json, or github (annotations + $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")


def run_check(args: argparse.Namespace, *, do_lint: bool):
    """Check args.files with the project's component roots and compute targets; returns the CheckResult."""
    from launcher.runspec.api import check_files

    files = list(args.files) + _json_files(args.files_json)
    if not files:
        from launcher.diagnostics import UsageError

        raise UsageError("no runspec files given", hint="pass FILE... or --files-json '[\"runspecs/x.yaml\"]'")
    cfg = load_project_config(args)
    return check_files(files, component_roots=cfg.roots_with(args.component_roots), do_lint=do_lint,
                       target_names=set(cfg.targets), command="lint" if do_lint else "validate")


def _json_files(text: str | None) -> list[str]:
    import json

    from launcher.diagnostics import UsageError

    if text is None:
        return []
    try:
        files = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--files-json is not JSON: {exc}", hint='for example --files-json \'["runspecs/x.yaml"]\'') \
            from None
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise UsageError("--files-json must be a JSON list of file paths", hint='for example ["runspecs/x.yaml"]')
    return files


def emit(result, args: argparse.Namespace) -> int:
    from launcher.report import check as report

    strict = args.strict
    if args.format == "json":
        sys.stdout.write(report.render_json(result, strict=strict))
    elif args.format == "github":
        from launcher.github import append_step_summary

        sys.stdout.write(report.render_github(result, strict=strict))
        append_step_summary(report.render_markdown(result, strict=strict,
                                                   title="Runspec lint" if result.command == "lint"
                                                   else "Runspec validation"))
    else:
        sys.stdout.write(report.render_text(result, strict=strict))
    return result.exit_code(strict=strict)
