"""Drawing learning curves, hpmax-per-hyperparameter and search-progress plots: PNG/SVG with matplotlib, or the terminal with
plotext. Both are the optional extra `plot`; they are imported only here, and only when a plot is drawn."""

from __future__ import annotations

from pathlib import Path

from launcher.diagnostics import LauncherError

FORMATS = (".png", ".svg")
_INSTALL = "install the plot extra: pip install 'runspec-launcher[plot]'"


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise LauncherError("plotting to a file needs matplotlib, which is not installed", hint=_INSTALL) from None
    matplotlib.use("Agg")  # files only: no display needed (CI, a node, ssh)
    import matplotlib.pyplot as plt

    return plt


def check_out(out: str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise LauncherError(f"--out {out}: unknown picture format {path.suffix or '(none)'!r}",
                            hint="name a .png or .svg file, e.g. --out curves.png", exit_code=2)
    return path


def _save(fig, plt, path: Path) -> None:
    import io

    from launcher.fsutil import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lower()[1:], dpi=100, bbox_inches="tight")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())


def curves_file(lines, *, metric: str, x_label: str, title: str, out: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for line in lines:
        (drawn,) = ax.plot(line.xs, line.ys, label=line.label, linewidth=1.6)
        if line.low is not None and line.high is not None:
            ax.fill_between(line.xs, line.low, line.high, color=drawn.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(lines) <= 20:
        ax.legend(fontsize="small", loc="best")
    _save(fig, plt, out)


def hp_file(points: dict, *, title: str, out: Path) -> None:
    plt = _pyplot()
    names = list(points)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for ax, name, color in zip(axes[0], names, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10):
        xs, ys = _hp_xy(points[name])
        ax.scatter(xs, ys, color=color, s=36)
        ax.set_xlabel(name)
        ax.set_ylabel("hpmax")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    _save(fig, plt, out)


def _search_label(analysis) -> str:
    best = analysis.final
    shown = ", ".join(f"{k}={v}" for k, v in best.best.items()) if best else ""
    method = f" ({analysis.method})" if analysis.method else ""
    return f"{analysis.job}{method}: best {shown}" if shown else f"{analysis.job}{method}"


def search_file(analyses, *, title: str, out: Path) -> None:
    """Per job: the estimated hpmax of the best configuration after each completed run (a step line, as the
    estimate holds until the next run completes), and each completed run's own hpmax as a dot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for analysis in analyses:
        if not analysis.steps:
            continue
        xs = [s.completed for s in analysis.steps]
        (drawn,) = ax.step(xs, [s.est_hpmax for s in analysis.steps], where="post", linewidth=2,
                           label=_search_label(analysis))
        ax.scatter(xs, [s.hpmax for s in analysis.steps], color=drawn.get_color(), s=14, alpha=0.45,
                   label=f"{analysis.job}: hpmax of each run")
    ax.set_xlabel("completed runs")
    ax.set_ylabel("hpmax")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    _save(fig, plt, out)


def search_terminal(analyses, *, title: str, width: int | None = None, height: int | None = None,
                    colour: bool = True) -> str:
    fig = _figure()
    for analysis in analyses:
        if not analysis.steps:
            continue
        xs = [s.completed for s in analysis.steps]
        line = fig.signal(xs, [s.est_hpmax for s in analysis.steps])
        line.lines()
        line.label(_search_label(analysis))
        fig.draw(line)
        fig.draw(fig.signal(xs, [s.hpmax for s in analysis.steps]))
    return _finish(fig, x_label="completed runs", y_label="hpmax", title=title, width=width, height=height,
                   colour=colour) + "\n"


def _hp_xy(pairs):
    """Numbers plot as numbers; words (a categorical HP) plot at their position in first-seen order."""
    values = [v for v, _ in pairs]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return values, [y for _, y in pairs]
    return [str(v) for v in values], [y for _, y in pairs]


def _figure():
    """A cleared plotext figure (plotext 6: figure.signal() makes a series, figure.draw() adds it)."""
    try:
        import plotext
    except ModuleNotFoundError:
        raise LauncherError("a plot in the terminal needs plotext, which is not installed",
                            hint=_INSTALL + ", or write a file with --out curves.png") from None
    fig = plotext.figure
    fig.clear()
    return fig


def _finish(fig, *, x_label: str, y_label: str, title: str, width: int | None, height: int | None,
            colour: bool) -> str:
    fig.title(title)
    fig.label(x_label, "x")
    fig.label(y_label, "y")
    if width and height:
        fig.plot_size(width, height)
    return fig.build().string(colorless=not colour).rstrip("\n")


def curves_terminal(lines, *, metric: str, x_label: str, title: str, width: int | None = None,
                    height: int | None = None, colour: bool = True) -> str:
    fig = _figure()
    for line in lines:
        signal = fig.signal(line.xs, line.ys)
        signal.lines()
        if len(lines) <= 10:
            signal.label(line.label)
        fig.draw(signal)
    return _finish(fig, x_label=x_label, y_label=metric, title=title, width=width, height=height,
                   colour=colour) + "\n"


def hp_terminal(points: dict, *, title: str, width: int | None = None, height: int | None = None,
                colour: bool = True) -> str:
    out = []
    for name, pairs in points.items():
        fig = _figure()
        xs, ys = _hp_xy(pairs)
        if xs and not isinstance(xs[0], (int, float)):  # words: at their first-seen positions 1, 2, …
            labels = list(dict.fromkeys(xs))
            xs = [labels.index(x) + 1 for x in xs]
            name = f"{name} ({', '.join(f'{i}={w}' for i, w in enumerate(labels, 1))})"
        fig.draw(fig.signal(xs, ys))
        out.append(_finish(fig, x_label=name, y_label="hpmax", title=f"{title}: hpmax by {name}", width=width,
                           height=height, colour=colour))
    return "\n".join(out) + "\n"
