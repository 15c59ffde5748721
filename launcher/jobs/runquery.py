"""Choosing, filtering and sorting runs by their fields: `launcher runs --columns/--filter/--sort`.

A field is a column of the runs table: run, job, status, node, iters, hpmax, exit, elapsed, reason, a metric
(s1-rew) or a hyperparameter (lr); `metrics.NAME` and `hparams.NAME` say which of the two explicitly.
A name that matches nothing in the runs at hand is an error with a "did you mean", never a silent no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from launcher.diagnostics import UsageError, did_you_mean
from launcher.jobs import records as R

BASE_FIELDS = ("run", "job", "status", "node", "iters", "hpmax", "exit", "elapsed", "reason", "seed", "parent")
_OPS = ("==", "!=", ">=", "<=", "=", ">", "<", "~")
_FILTER = re.compile(r"^\s*(?P<field>[^=!<>~\s]+)\s*(?P<op>==|!=|>=|<=|=|>|<|~)\s*(?P<value>.*?)\s*$")


def metric_names(runs: list[dict]) -> list[str]:
    """Every metric of the runs, in the order their stages defined them (each stage's objective first, its
    hours last), stage by stage; records written before the order was kept fall back to name order."""
    ordered: list[str] = []
    for r in runs:
        for name in r.get("metric_order") or []:
            if name not in ordered:
                ordered.append(name)
    rest = sorted({k for r in runs for k in (r.get("metrics") or {})} - set(ordered), key=_metric_sort)
    return _by_stage(ordered + rest)


def _metric_sort(name: str) -> tuple:
    stage, _, metric = name.partition("-")
    num = stage[1:]
    return (int(num) if num.isdigit() else 0, metric == "hrs", metric)


def _by_stage(names: list[str]) -> list[str]:
    """Stable regrouping by stage number (s1-… before s2-…), keeping the order within a stage."""
    def stage(name: str) -> int:
        head = name.partition("-")[0][1:]
        return int(head) if head.isdigit() else 0
    return sorted(names, key=stage)


def hparam_names(runs: list[dict]) -> list[str]:
    names: list[str] = []
    for r in runs:
        for k in r.get("hparams") or {}:
            if k not in names:
                names.append(k)
    return names


def known_fields(runs: list[dict]) -> list[str]:
    metrics, hps = metric_names(runs), hparam_names(runs)
    return [*BASE_FIELDS, *metrics, *hps, *(f"metrics.{m}" for m in metrics), "metrics.hpmax",
            *(f"hparams.{h}" for h in hps)]


def check_field(name: str, runs: list[dict], option: str) -> None:
    fields = known_fields(runs)
    if name not in fields:
        raise UsageError(f"{option} {name!r} matches no column of these runs",
                         hint=did_you_mean(name, fields) or "columns: " + ", ".join(
                             f for f in fields if not f.startswith(("metrics.", "hparams."))))


def value(run: dict, name: str):
    """The run's value of a field (None when it has none)."""
    return getter(name)(run)


def getter(name: str):
    """value(·, name) as a function of the run: which kind of field name is is decided once, not per run (a
    table of 10,000 runs asks it for every cell)."""
    if name == "metrics.hpmax":
        return lambda run: run.get("hpmax")
    if name.startswith("metrics."):
        metric = name[8:]
        return lambda run: (run.get("metrics") or {}).get(metric)
    if name.startswith("hparams."):
        hp = name[8:]
        return lambda run: (run.get("hparams") or {}).get(hp)
    if name == "exit":
        return lambda run: run.get("exit_code")
    if name == "elapsed":
        return _elapsed
    if name == "reason":
        from launcher.report.jobs import run_reason

        return lambda run: run_reason(run) or None
    if name in BASE_FIELDS:
        return lambda run: run.get(name)

    def metric_or_hparam(run: dict):
        metrics = run.get("metrics") or {}
        if name in metrics:
            return metrics[name]
        return (run.get("hparams") or {}).get(name)

    return metric_or_hparam


def _elapsed(run: dict):
    secs = R.elapsed_seconds(run)
    return None if secs is None else round(secs, 1)


def sort_runs(runs: list[dict], key: str, *, reverse: bool = False) -> list[dict]:
    """Sorted by a field; runs without it last (whatever the direction); mixed types compare as text."""
    get = getter(key)
    present = [r for r in runs if get(r) is not None]
    missing = [r for r in runs if get(r) is None]
    try:
        present.sort(key=get, reverse=reverse)
    except TypeError:
        present.sort(key=lambda r: str(get(r)), reverse=reverse)
    return present + missing


@dataclass(frozen=True)
class Filter:
    """FIELD OP VALUE: `status=failed`, `hparams.lr>0.1`, `s1-rew>=0.5`, `reason~model` (~ : contains)."""

    field: str
    op: str
    value: object
    text: str

    @classmethod
    def parse(cls, text: str) -> Filter:
        match = _FILTER.match(text)
        if not match or not match.group("value"):
            raise UsageError(f"--filter {text!r}: expected FIELD OP VALUE",
                             hint="for example --filter 'hparams.lr>0.1' or --filter status=failed; "
                                  f"operators: {' '.join(_OPS)}")
        op, literal = match.group("op"), _literal(match.group("value"))
        if op in (">", ">=", "<", "<=") and not _is_number(literal):
            raise UsageError(f"--filter {text!r}: {op} needs a number, not {match.group('value')!r}",
                             hint="compare words with = != or ~ (contains), e.g. --filter status=failed")
        return cls(match.group("field"), op, literal, text)

    def __call__(self, run: dict) -> bool:
        have = value(run, self.field)
        want = self.value
        if self.op == "~":
            return have is not None and str(want).lower() in str(have).lower()
        if self.op in ("=", "=="):
            return _equal(have, want)
        if self.op == "!=":
            return not _equal(have, want)
        if not _is_number(have) or not _is_number(want):
            return False  # an order between a number and a missing value or a word: not a match
        return {">": have > want, ">=": have >= want, "<": have < want, "<=": have <= want}[self.op]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equal(have, want) -> bool:
    if _is_number(have) and _is_number(want):
        return float(have) == float(want)
    if want is None:
        return have is None
    return str(have if not isinstance(have, bool) else str(have).lower()) == str(want)


def _literal(text: str):
    text = text.strip().strip("'\"")
    if text.lower() in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def apply_filters(runs: list[dict], exprs: list[str]) -> list[dict]:
    filters = [Filter.parse(e) for e in exprs]
    for f in filters:
        check_field(f.field, runs, "--filter")
    return [r for r in runs if all(f(r) for f in filters)]
