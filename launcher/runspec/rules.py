"""Pre-flight rules: the tutorial's launch checklist, automated (`launcher lint`).

Each rule has a stable code, a severity, a message and a fix hint (listed in the README). Some carry a safe
fix (`launcher lint --fix`): a replacement of one scalar in the file, applied in place by spec/fix.py.
Rules read the resolved spec and the loaded document; they never raise for user mistakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from launcher.diagnostics import INFO, WARNING, Diagnostic, did_you_mean
from launcher.runspec.load import format_path
from launcher.runspec.resolve import Resolution

SEARCHES_RUN = ("random", "grid")
ADAPTIVE_SEARCHES = ("dgd", "bayesian")  # runs pull their values when they start (launcher/hpsearch/)


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str
    hint: str


#: (title, hint) by code; every rule warns, except the few in _INFO that only inform
_TEXTS: dict[str, tuple[str, str]] = {
    "LR001": ("a seed has a fixed value while the job runs several runs or searches",
              "use 'randint' so each run draws its own seed (fixable with --fix)"),
    "LR002": ("a hyperparameter search with no randint anywhere",
              "use 'randint' for the environment's and the agent's seeds, or every run repeats the same draws"),
    "LR010": ("an enabled stage has no max_iterations", "set max_iterations to the stage's length in iterations"),
    "LR011": ("max_iterations is not a reasonable number", "max_iterations must be a whole number of at least 1"),
    "LR012": ("iters_per_report is outside 5-10 % of max_iterations",
              "use the suggested value for smooth curves and few store writes (fixable with --fix)"),
    "LR013": ("iters_per_report is larger than max_iterations: the stage never reports",
              "use the suggested value (fixable with --fix)"),
    "LR020": ("the launcher section is disabled: `launcher launch` will not launch this runspec",
              "set job_launcher.enabled: 1 to launch it"),
    "LR021": ("experiment_path is outside ../results: results will not be mirrored",
              "put experiment_path under ../results, e.g. ../results/my_experiment"),
    "LR030": ("a hyperparameter is never referenced", "use it with an alias (*name) or remove it"),
    "LR031": ("a hyperparameter is referenced only from disabled stages", "enable the stage or stop searching over it"),
    "LR032": ("tuned_value is not among the tuning values", "add it to the tuning values or pick one of them"),
    "LR040": ("total_runs is smaller than compute_nodes × runs_per_node: slots stay idle",
              "raise total_runs or lower compute_nodes / runs_per_node"),
    "LR041": ("total_runs is not a multiple of compute_nodes × runs_per_node",
              "the last wave leaves slots idle; round total_runs to a multiple"),
    "LR042": ("a grid search whose grid size differs from total_runs",
              "set total_runs to the grid size (or a multiple of it)"),
    "LR043": ("an adaptive search (dgd, bayesian) over a hyperparameter with a single value, or with nothing to search",
              "list two or more values, or make it a plain setting"),
    "LR044": ("hp_tuning dgd over unordered values: DGD cannot step to a neighbouring value",
              "list the values in their natural order as ordered_tuning_values, or accept that every other value "
              "counts as a neighbour"),
    "LR050": ("compute_target is not defined in the project's config",
              "define it under [tool.launcher.targets.<name>] in pyproject.toml, or launch with --target"),
}
_INFO = frozenset({"LR020", "LR041"})
RULES: dict[str, Rule] = {code: Rule(code, INFO if code in _INFO else WARNING, title, hint)
                          for code, (title, hint) in _TEXTS.items()}


@dataclass(frozen=True)
class Fix:
    """Replace the scalar at (line, col) of the file with `replacement`."""

    line: int
    col: int
    old: str
    replacement: str
    code: str = ""  # the rule it fixes (LR020), for the report of what --fix changed


@dataclass
class LintFinding:
    diagnostic: Diagnostic
    fix: Fix | None = None


def lint(res: Resolution, *, target_names: set[str] | None = None) -> list[LintFinding]:
    if not isinstance(res.data, dict):
        return []
    ctx = _Context(res, target_names)
    for check in CHECKS:
        check(ctx)
    return ctx.findings


class _Context:
    def __init__(self, res: Resolution, target_names: set[str] | None) -> None:
        self.res = res
        self.doc = res.doc
        self.data = res.data
        self.targets = target_names
        self.findings: list[LintFinding] = []
        jl = self.data.get("job_launcher")
        self.launcher = jl if isinstance(jl, dict) else {}
        self.enabled = bool(self.launcher.get("enabled"))
        hp = self.launcher.get("hp_tuning")
        self.search = hp if isinstance(hp, str) else None
        total = self.launcher.get("total_runs", 1)
        self.total_runs = total if isinstance(total, int) and not isinstance(total, bool) else 1
        self._hyper_paths = {p for ps in res.hp_uses.values() for p in ps}

    def add(self, code: str, message: str, path: tuple, *, hint: str | None = None, key: bool = False,
            fix: Fix | None = None) -> None:
        rule = RULES[code]
        line, col = self.doc.pos(path, key=key)
        self.findings.append(LintFinding(
            Diagnostic(code, rule.severity, message, self.doc.file, line, col, hint=hint or rule.hint,
                       path=format_path(path)), fix))

    def written(self, path: tuple) -> bool:
        """Was this value written in the file (not a default, not a hyperparameter alias)?"""
        return path in self.doc.value_pos and path not in self._hyper_paths

    def stages(self):
        stages = self.data.get("processing_stages")
        if not isinstance(stages, list):
            return
        for i, item in enumerate(stages):
            if isinstance(item, dict) and isinstance(item.get("processing_stage"), dict):
                yield i, ("processing_stages", i, "processing_stage"), item["processing_stage"]

    def scalar_fix(self, path: tuple, replacement: str) -> Fix | None:
        """A fix replacing the plain scalar written at path (only when it is a plain token on its line)."""
        if path not in self.doc.value_pos:
            return None
        line, col = self.doc.value_pos[path]
        text = self.doc.lines[line - 1]
        end = col - 1
        while end < len(text) and text[end] not in " \t,]}#":
            end += 1
        old = text[col - 1:end]
        if not old or old[0] in "'\"*&!|>[{":
            return None
        return Fix(line, col, old, replacement)


def _walk_components(value: Any, path: tuple):
    if isinstance(value, dict):
        if "component" in value:
            yield path, value
        for k, v in value.items():
            yield from _walk_components(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_components(v, path + (i,))


def check_seeds(ctx: _Context) -> None:
    many = ctx.enabled and (ctx.total_runs > 1 or ctx.search is not None)
    if many:
        for path, comp in _walk_components(ctx.data, ()):
            for key, value in comp.items():
                if "seed" not in str(key).lower() or isinstance(value, bool) or not isinstance(value, int):
                    continue
                p = path + (key,)
                if format_path(p) in ctx.res.seeds or not ctx.written(p):
                    continue
                why = f"{ctx.total_runs} runs" if ctx.total_runs > 1 else f"a {ctx.search} search"
                ctx.add("LR001", f"{key} is fixed at {value} in a job of {why}: every run uses the same seed", p,
                        fix=ctx.scalar_fix(p, "randint"))
    if ctx.enabled and ctx.search is not None and "randint" not in ctx.doc.text:
        ctx.add("LR002", f"hp_tuning {ctx.search} with no randint anywhere in the runspec",
                ("job_launcher", "hp_tuning"))


def suggest_iters_per_report(max_iterations: int) -> int:
    """A round number between 5 % and 10 % of max_iterations (at least 1)."""
    lo, hi = max_iterations * 0.05, max_iterations * 0.10
    target = max_iterations * 0.05
    if target < 1:
        return 1
    mag = 10 ** int(math.floor(math.log10(target)))
    for step in (mag, mag / 2, mag / 5, mag / 10):
        step = max(int(step), 1)
        cand = int(math.ceil(lo / step) * step)
        if lo <= cand <= hi:
            return cand
    return max(int(round(target)), 1)


def check_iterations(ctx: _Context) -> None:
    for i, path, stage in ctx.stages():
        if stage.get("enabled") is False:
            continue
        name = stage.get("component", "stage")
        if name in ctx.res.missing_components and "max_iterations" not in stage:
            continue  # not checked: its defaults are unknown
        if "max_iterations" not in stage:
            ctx.add("LR010", f"stage {i + 1} ({name}) has no max_iterations", path + ("component",))
            continue
        mi = stage["max_iterations"]
        mp = path + ("max_iterations",)
        if isinstance(mi, bool) or not isinstance(mi, int) or mi < 1 or mi > 10**10:
            ctx.add("LR011", f"max_iterations of stage {i + 1} is {mi!r}", mp)
            continue
        ipr = stage.get("iters_per_report")
        if ipr is None or isinstance(ipr, bool) or not isinstance(ipr, (int, float)) or ipr <= 0:
            continue
        ip = path + ("iters_per_report",)
        suggestion = suggest_iters_per_report(mi)
        fix = ctx.scalar_fix(ip, str(suggestion)) if ctx.written(ip) else None
        if ipr > mi:
            ctx.add("LR013", f"iters_per_report ({ipr:,}) is larger than max_iterations ({mi:,}) in stage {i + 1}",
                    ip, hint=f"use iters_per_report: {suggestion} (fixable with --fix)", fix=fix)
        elif not (0.05 * mi <= ipr <= 0.10 * mi):
            ctx.add("LR012", f"iters_per_report ({ipr:,}) is {ipr / mi:.1%} of max_iterations ({mi:,}) in stage "
                    f"{i + 1}", ip, hint=f"use iters_per_report: {suggestion} (5-10 %; fixable with --fix)", fix=fix)


def check_launcher(ctx: _Context) -> None:
    if not ctx.launcher:
        return
    if not ctx.enabled:
        ctx.add("LR020", "the launcher section is disabled: `launcher launch` will not launch this runspec",
                ("job_launcher", "enabled") if ("job_launcher", "enabled") in ctx.doc.value_pos else ("job_launcher",))
        return
    nodes, per = ctx.launcher.get("compute_nodes", 1), ctx.launcher.get("runs_per_node", 1)
    if all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in (nodes, per)):
        slots = nodes * per
        if ctx.total_runs < slots:
            ctx.add("LR040", f"total_runs ({ctx.total_runs}) is smaller than compute_nodes × runs_per_node "
                    f"({nodes} × {per} = {slots}): {slots - ctx.total_runs} slots stay idle",
                    ("job_launcher", "total_runs"))
        elif ctx.total_runs % slots:
            ctx.add("LR041", f"total_runs ({ctx.total_runs}) is not a multiple of compute_nodes × runs_per_node "
                    f"({slots})", ("job_launcher", "total_runs"))
    if ctx.search in ADAPTIVE_SEARCHES:
        check_adaptive_search(ctx)
    if ctx.search == "grid" and ctx.res.hyperparameters:
        size = math.prod(len(hp.values) for hp in ctx.res.hyperparameters)
        if size != ctx.total_runs:
            ctx.add("LR042", f"the grid has {size:,} points but total_runs is {ctx.total_runs:,}",
                    ("job_launcher", "total_runs"),
                    hint=f"set total_runs: {size}" + (" (runs beyond it repeat grid points)" if size < ctx.total_runs
                                                       else " (points beyond total_runs are never run)"))
    target = ctx.launcher.get("compute_target")
    if ctx.targets is not None and isinstance(target, str) and target not in ctx.targets:
        ctx.add("LR050", f"compute_target '{target}' is not defined in the project's config",
                ("job_launcher", "compute_target"),
                hint=did_you_mean(target, ctx.targets) or
                f"define [tool.launcher.targets.{target}] in pyproject.toml, or launch with --target "
                f"({', '.join(sorted(ctx.targets))})")


def check_adaptive_search(ctx: _Context) -> None:
    """What dgd and bayesian cannot use: single values (nothing to search) and, for DGD, unordered values (no
    neighbouring value to step to)."""
    hps = ctx.res.hyperparameters
    if not any(len(hp.values) > 1 for hp in hps):
        ctx.add("LR043", f"hp_tuning {ctx.search} has nothing to search: "
                + ("no hyperparameter has two or more values" if hps else "the runspec has no hyperparameters"),
                ("job_launcher", "hp_tuning"),
                hint="list two or more tuning values for the hyperparameters to search, or set hp_tuning: false")
        return
    for hp in hps:
        if len(hp.values) == 1:
            ctx.add("LR043", f"hyperparameter '{hp.name}' has a single value: hp_tuning {ctx.search} cannot search "
                    f"it (every run uses {hp.values[0]!r})", hp.path,
                    hint="list two or more values, or make it a plain setting")
        elif ctx.search == "dgd" and not hp.ordered:
            ctx.add("LR044", f"hyperparameter '{hp.name}' has unordered values: DGD cannot step to a neighbouring "
                    "value, so every other value of it counts as a neighbour", hp.path,
                    hint="if neighbouring values behave alike, list them in order as ordered_tuning_values")


def check_experiment_path(ctx: _Context) -> None:
    ep = ctx.data.get("experiment_path")
    if isinstance(ep, str) and not (ep == "../results" or ep.startswith("../results/")):
        ctx.add("LR021", f"experiment_path {ep!r} is outside ../results: its results will not be mirrored",
                ("experiment_path",))


def check_hyperparameters(ctx: _Context) -> None:
    disabled = {i for i, _p, stage in ctx.stages() if stage.get("enabled") is False}
    for hp in ctx.res.hyperparameters:
        uses = [p for p in ctx.res.hp_uses.get(hp.name, []) if p and p[0] != "forward_definitions"]
        if not ctx.res.hp_uses.get(hp.name):
            ctx.add("LR030", f"hyperparameter '{hp.name}' is never referenced", hp.path)
        elif uses and all(p[0] == "processing_stages" and p[1] in disabled for p in uses):
            ctx.add("LR031", f"hyperparameter '{hp.name}' is referenced only from disabled stages", hp.path)
        elif not uses and "processing_stages" in ctx.data:
            ctx.add("LR030", f"hyperparameter '{hp.name}' is referenced only in forward_definitions that no stage "
                    "uses", hp.path)
        if hp.tuned_value not in hp.values:
            ctx.add("LR032", f"tuned_value {hp.tuned_value!r} of '{hp.name}' is not among its tuning values",
                    hp.path + ("tuned_value",))


CHECKS: tuple[Callable[[_Context], None], ...] = (
    check_seeds, check_iterations, check_launcher, check_experiment_path, check_hyperparameters,
)

