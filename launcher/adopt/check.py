"""The closing validation of `launcher init`: the runspecs it found, against the roots it configured."""

from __future__ import annotations


def check_runspecs(plan, *, written: bool):
    """The CheckResult of validating the layout's runspecs (None when there are none). Once the config is
    written it is loaded as every command loads it, so a config init wrote wrong would show here."""
    from launcher.config import Config, load_config
    from launcher.runspec.api import check_files

    from launcher.adopt.plan import runspecs_of

    files = [str(p) for p in runspecs_of(plan)]
    if not files:
        return None
    if written:
        cfg = load_config(project=plan.root)
    else:
        cfg = Config(project_dir=plan.root,
                     project_component_roots=[(plan.root / r).resolve() for r in plan.layout.component_roots
                                              if (plan.root / r).is_dir()])
    return check_files(files, component_roots=cfg.component_roots, do_lint=False,
                       target_names=set(cfg.targets) | {"local"}, command="validate")

