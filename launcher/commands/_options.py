"""Option groups shared between subcommands, so every command spells them the same way."""

from __future__ import annotations

import argparse


def add_format(parser: argparse.ArgumentParser, *choices: str, default: str = "text") -> None:
    parser.add_argument("--format", choices=choices or ("text", "json"), default=default,
                        help=f"output format (default: {default})")


def add_component_roots(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--component-root", dest="component_roots", action="append", default=[], metavar="DIR",
                        help="add a component root (a folder of <category>/<Name>/<Name>.yaml); repeatable; "
                             "added to [tool.launcher] component_roots")


def add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a string replacement, e.g. --set '<environment>=Maze_Env' "
                             "(recorded with the job, so it reaches remote runs); repeatable")


def add_project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default=None, metavar="DIR",
                        help="project folder holding pyproject.toml (default: nearest above the current folder)")


def load_project_config(args: argparse.Namespace):
    """The config of --project (see add_project), else of the nearest pyproject.toml above the current folder."""
    from launcher.config import load_config

    return load_config(project=args.project) if args.project else load_config()


def parse_overrides(items: list[str]) -> dict[str, str]:
    from launcher.diagnostics import UsageError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE", hint="for example --set '<environment>=Maze_Env'")
        out[key] = value
    return out
