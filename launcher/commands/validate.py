from __future__ import annotations

HELP = "check runspecs against the schema and their components' defaults"
DESCRIPTION = """\
Check runspecs: YAML, the runspec schema, every component's settings against its defaults file,
string replacements, hyperparameters. All problems in all files are reported, each as
file:line:col with a hint. Exit 0 when valid (warnings allowed), 1 when not, 2 on usage errors.

  launcher validate runspecs/*.yaml
  launcher validate --component-root ../rl_nexus/components specs/xt_walk_through.yaml
"""


def configure(parser) -> None:
    from launcher.commands._check import configure_common

    configure_common(parser)


def run(args) -> int:
    from launcher.commands._check import emit, run_check

    result = run_check(args, do_lint=False)
    return emit(result, args)
