from __future__ import annotations

HELP = "plot learning curves of jobs' runs (or hpmax against each hyperparameter) to PNG/SVG or the terminal"
DESCRIPTION = """\
Learning curves from the store (local or Azure jobs alike, finished or still running), as `xt plot` drew
them: one line per run, or one aggregate per group with a shadow. The metric is named as in `launcher runs`
(s1-rew, or just rew for the last stage that reports it); the default is the last stage's objective, the
metric hpmax is made of. The x axis is the stage's x_axis (iters).

  --group run         one line per run (default)
  --group job         one line per job: the mean (or --aggregate median) of its runs
  --group hp:NAME     one line per value of a hyperparameter
  --shadow std        one standard deviation around the aggregate (default); minmax; none
  --hp                hpmax (completed runs only) against each hyperparameter, one panel each
  --search            the search's progress (`launcher search`): the estimated hpmax of the best configuration
                      so far against completed runs, one line per job, each run's hpmax as a dot

With --out FILE.png or FILE.svg it writes a picture (needs the `plot` extra: matplotlib); without --out on a
terminal it draws in the terminal (plotext). --format json prints the plotted data.

  launcher plot job12
  launcher plot job12 job13 s1-win --group job --out curves.png
  launcher plot job12 --group hp:lr --aggregate median --shadow minmax --out lr.svg
  launcher plot job12 --hp --out hp.png
  launcher plot job12 --search --out search.png
"""


def configure(parser) -> None:
    from launcher.commands._options import add_format, add_project

    parser.add_argument("names", nargs="+", metavar="JOB... [METRIC]",
                        help="one or more jobs (job12), then optionally the metric (s1-rew)")
    parser.add_argument("--group", default=None, metavar="run|job|hp:NAME",
                        help="one line per run (default), per job, or per value of a hyperparameter")
    parser.add_argument("--aggregate", default="mean", metavar="mean|median",
                        help="how a group's runs combine (default: mean; implies --group job)")
    parser.add_argument("--shadow", default="std", metavar="std|minmax|none",
                        help="the band around an aggregate (default: std)")
    parser.add_argument("--hp", action="store_true", help="plot hpmax against each hyperparameter instead")
    parser.add_argument("--search", action="store_true",
                        help="plot the best estimated hpmax against completed runs instead (launcher search)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write a .png or .svg picture")
    parser.add_argument("--title", default=None, help="the plot's title (default: the jobs and the metric)")
    parser.add_argument("--target", default=None, metavar="NAME", help="whose store to read")
    add_project(parser)
    add_format(parser, "text", "json")


def _split(names: list[str]) -> tuple[list[str], str | None]:
    from launcher.diagnostics import UsageError

    jobs = [n for n in names if n.startswith("job") and n[3:].isdigit()]
    rest = [n for n in names if n not in jobs]
    if not jobs:
        raise UsageError("name at least one job", hint="for example: launcher plot job12 [s1-rew]")
    if len(rest) > 1:
        raise UsageError(f"one metric at most, not {', '.join(rest)}",
                         hint="jobs are named jobN; the one other name is the metric, e.g. s1-rew")
    return list(dict.fromkeys(jobs)), (rest[0] if rest else None)


def run(args) -> int:
    import shutil
    import sys

    from launcher.config import load_config
    from launcher.diagnostics import UsageError
    from launcher.jobs.status import read_runs
    from launcher.report import jobs as report
    from launcher.report import plot as draw
    from launcher.results import curves as C

    jobs, metric_name = _split(args.names)
    out = draw.check_out(args.out) if args.out else None
    if out is None and args.format == "text" and not sys.stdout.isatty():
        raise UsageError("no --out and the output is not a terminal",
                         hint="write a picture with --out curves.png (or --format json for the data)")
    if args.hp and args.search:
        raise UsageError("--hp and --search are two different plots", hint="choose one of them")
    for flag, given in (("--hp", args.hp), ("--search", args.search)):
        if given and metric_name:
            raise UsageError(f"{flag} plots hpmax; it takes no metric", hint=f"drop {metric_name!r}")
    cfg = load_config(project=args.project) if args.project else load_config()
    from launcher.jobs.collect import stores_of_jobs

    size = shutil.get_terminal_size((100, 30))
    width, height = size.columns, max(15, min(size.lines - 4, 30))
    if args.search:
        return _plot_search(args, cfg, jobs, out, width=width, height=height)
    curves = []
    for job, store in stores_of_jobs(cfg, jobs, target=args.target).items():
        curves.extend(C.load_curves(store, read_runs(store, job)))

    if args.hp:
        points = C.hp_points(curves)
        if not points:
            from launcher.diagnostics import LauncherError

            raise LauncherError(f"{', '.join(jobs)}: no completed run with hyperparameters and an hpmax",
                                hint="--hp needs a job with hp_tuning; cancelled and failed runs have no hpmax")
        title = args.title or f"{', '.join(jobs)}: hpmax by hyperparameter"
        if args.format == "json":
            sys.stdout.write(report.to_json({"jobs": jobs, "hpmax_by": {k: [list(p) for p in v]
                                                                        for k, v in points.items()}}))
        elif out:
            draw.hp_file(points, title=title, out=out)
            sys.stderr.write(f"wrote {out}\n")
        else:
            sys.stdout.write(draw.hp_terminal(points, title=title, width=width, height=height))
        return 0

    metric = C.resolve_metric(metric_name, curves)
    group = args.group or ("job" if args.aggregate != "mean" else "run")
    lines = C.lines(curves, metric, group=group, aggregate=args.aggregate, shadow=args.shadow)
    running = sum(1 for c in curves if c.status in ("queued", "running"))
    title = args.title or f"{', '.join(jobs)}: {metric}" + (f" ({running} runs still going)" if running else "")
    x_label = C.x_label(metric, curves)
    if args.format == "json":
        sys.stdout.write(report.to_json({"jobs": jobs, "metric": metric, "x_axis": x_label, "group": group,
                                         "lines": [ln.to_dict() for ln in lines]}))
    elif out:
        draw.curves_file(lines, metric=metric, x_label=x_label, title=title, out=out)
        sys.stderr.write(f"wrote {out} ({len(lines)} line{'s' * (len(lines) != 1)} of {metric})\n")
    else:
        sys.stdout.write(draw.curves_terminal(lines, metric=metric, x_label=x_label, title=title, width=width,
                                              height=height))
    return 0


def _plot_search(args, cfg, jobs: list[str], out, *, width: int, height: int) -> int:
    """`--search`: each job's search analysis (launcher/hpsearch/analysis.py) as a line over completed runs."""
    import sys
    from dataclasses import asdict

    from launcher.diagnostics import LauncherError
    from launcher.hpsearch.analysis import analyse
    from launcher.jobs.collect import stores_of_jobs
    from launcher.jobs.status import read_job, read_runs
    from launcher.report import jobs as report
    from launcher.report import plot as draw

    analyses = []
    for job, store in stores_of_jobs(cfg, jobs, target=args.target).items():
        record = read_job(store, job) or {}
        analyses.append(analyse(job, read_runs(store, job), method=record.get("hp_tuning", False),
                                total_runs=int(record.get("total_runs") or 0)))
    if not any(a.steps for a in analyses):
        raise LauncherError(f"{', '.join(jobs)}: no completed run with an hpmax yet",
                            hint="--search plots the search once runs complete; cancelled and failed runs have "
                                 "no hpmax")
    title = args.title or f"{', '.join(jobs)}: best estimated hpmax"
    if args.format == "json":
        sys.stdout.write(report.to_json({"jobs": jobs, "search": {a.job: [asdict(step) for step in a.steps]
                                                                  for a in analyses}}))
    elif out:
        draw.search_file(analyses, title=title, out=out)
        sys.stderr.write(f"wrote {out} (the search of {len(analyses)} job{'s' * (len(analyses) != 1)} over "
                         f"{max(a.completed for a in analyses)} completed runs)\n")
    else:
        sys.stdout.write(draw.search_terminal(analyses, title=title, width=width, height=height))
    return 0
