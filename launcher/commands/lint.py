from __future__ import annotations

HELP = "validate, then apply the pre-flight rules (the launch checklist)"
DESCRIPTION = """\
Validate runspecs, then apply the pre-flight rules of the launch checklist: randint seeds,
max_iterations, iters_per_report at 5-10 %, hyperparameters that are never used, idle slots,
grid size, compute targets. Each rule has a stable code (see the README). Warnings exit 0
unless --strict.

  launcher lint runspecs/*.yaml
  launcher lint --fix runspecs/xt_walk_through.yaml    # apply the safe fixes in place
"""


def configure(parser) -> None:
    from launcher.commands._check import configure_common

    configure_common(parser)
    parser.add_argument("--fix", action="store_true",
                        help="apply the safe fixes (iters_per_report, randint seeds) in place, keeping comments "
                             "and formatting")


def run(args) -> int:
    import sys

    from launcher.commands._check import emit, run_check

    result = run_check(args, do_lint=True)
    if args.fix:
        from launcher.runspec.fix import apply_fixes

        changed = apply_fixes(result)
        if changed:
            for path, fixes in changed:
                n = len(fixes)
                sys.stderr.write(f"fixed {n} problem{'s' * (n != 1)} in {path}:\n")
                for fx in fixes:
                    sys.stderr.write(f"  {path}:{fx.line}:{fx.col}: {fx.code + ' ' if fx.code else ''}"
                                     f"{fx.old} -> {fx.replacement}\n")
            result = run_check(args, do_lint=True)  # report what is left
    return emit(result, args)
