from __future__ import annotations

HELP = "list or delete Azure Batch pools (e.g. a pool kept by `hold: true`)"
DESCRIPTION = """\
Pools of the Batch accounts of azure-batch targets. A job launched with `hold: true` keeps its pool (and
its nodes, which cost money) after the job ends, until you delete it:

  launcher pool list                      # every pool of every azure-batch target
  launcher pool list --target azb-cpu --format json
  launcher pool delete job12              # the pool of job12 (held or not)
  launcher pool delete launcher_5F3C...   # a pool by its id
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    ls = sub.add_parser("list", help="list the pools with their nodes, allocation state and job")
    ls.add_argument("--target", default=None, metavar="NAME", help="one azure-batch target (default: all)")
    add_project(ls)
    add_format(ls, "text", "json")
    rm = sub.add_parser("delete", help="delete the pool of a job, or a pool by id")
    rm.add_argument("name", metavar="JOB|POOL", help="a job (job12) or a pool id")
    rm.add_argument("--target", default=None, metavar="NAME", help="the azure-batch target (default: the job's)")
    add_project(rm)
    add_format(rm, "text", "json")


def _azure_targets(cfg, name: str | None):
    from launcher.diagnostics import LauncherError

    if name:
        tgt = cfg.target(name)
        if tgt.backend != "azure-batch":
            raise LauncherError(f"target '{name}' uses the {tgt.backend} backend, which has no pools",
                                hint="pools belong to azure-batch targets")
        return [tgt]
    found = [t for t in cfg.targets.values() if t.backend == "azure-batch"]
    if not found:
        raise LauncherError("the project defines no azure-batch target",
                            hint="add [tool.launcher.targets.NAME] with backend = \"azure-batch\" (docs/azure.md)")
    return found


def run(args) -> int:
    import sys

    from launcher.backends import get_backend
    from launcher.config import load_config
    from launcher.diagnostics import LauncherError
    from launcher.report import jobs as report

    cfg = load_config(project=args.project) if args.project else load_config()
    if args.action == "list":
        rows = []
        for tgt in _azure_targets(cfg, args.target):
            backend = get_backend(tgt, config=cfg)
            rows += [{"target": tgt.name, **p} for p in backend.list_pools()]
        if args.format == "json":
            sys.stdout.write(report.to_json({"pools": rows}))
        elif not rows:
            sys.stdout.write("no pools\n")
        else:
            sys.stdout.write(report.render_table(
                ["target", "pool", "state", "allocation", "vm size", "dedicated", "spot", "job", "errors"],
                [[r["target"], r["pool"], r["state"], r["allocation"], r["vm_size"],
                  f"{r['dedicated'] or 0}/{r['target_dedicated'] or 0}", f"{r['spot'] or 0}/{r['target_spot'] or 0}",
                  f"{r['job']} ({r['job_state']})" if r["job"] else "", ",".join(r["resize_errors"])]
                 for r in rows]))
        return 0

    name = args.name
    if name.startswith("job") and name[3:].isdigit():
        from launcher.backends import store_for

        store, tgt = store_for(cfg, name, target=args.target)
        if tgt.backend != "azure-batch":
            raise LauncherError(f"{name} ran on target '{tgt.name}' ({tgt.backend}), which has no pools",
                                hint="only jobs of azure-batch targets have pools; `launcher pool list` shows them")
        backend = get_backend(tgt, store, cfg)
        pool = backend.delete_pool_of(name)
        if pool is None:
            raise LauncherError(f"{name} has no pool left to delete",
                                hint="an auto pool without hold goes away with its job; `launcher pool list`")
        result = {"job": name, "pool": pool, "deleted": True}
    else:
        targets = _azure_targets(cfg, args.target)
        if len(targets) > 1:
            raise LauncherError(f"pool {name}: which target's Batch account?",
                                hint="add --target NAME (" + ", ".join(t.name for t in targets) + ")")
        backend = get_backend(targets[0], config=cfg)
        if not backend.delete_pool(name):
            raise LauncherError(f"no pool '{name}' in the Batch account of target '{targets[0].name}'",
                                hint="`launcher pool list` shows the pools")
        result = {"pool": name, "deleted": True}
    if args.format == "json":
        sys.stdout.write(report.to_json(result))
    else:
        sys.stdout.write(f"deleting pool {result['pool']}" + (f" of {result['job']}" if "job" in result else "")
                         + " (its nodes are released)\n")
    return 0
