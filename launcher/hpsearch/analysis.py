"""The search analysis of a job: after each completed run, the best configuration so far.

XT's `xt plot summary` and rl_nexus's scripts/eval_hp_search.py print, as runs complete, which configuration
is best, for how many completed runs it has been best (BEST FOR), the hpmax it is estimated to get on new runs
(EST HPMAX) and how many runs it had (RUNS). The estimate is estimate.py's (a configuration's mean shrunk by
how many runs back it), the one DGD steers by. Works for every hp_tuning: random and grid searches too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from launcher.hpsearch.estimate import ConfigStats, best
from launcher.hpsearch.space import config_key
from launcher.jobs import records as R


@dataclass
class SearchStep:
    completed: int  # completed runs so far (with an hpmax)
    run: str  # the run that just completed
    hpmax: float  # its hpmax
    best: dict  # the best configuration after it
    best_for: int  # completed runs for which that configuration has been best, in a row
    est_hpmax: float
    runs: int  # runs of the best configuration so far


@dataclass
class SearchAnalysis:
    job: str
    method: str | bool
    total_runs: int
    completed: int = 0
    failed: int = 0  # failed, cancelled or lost: no result
    steps: list[SearchStep] = field(default_factory=list)
    replay: list[str] | None = None  # adaptive searches: [] when every recorded decision replays exactly

    @property
    def final(self) -> SearchStep | None:
        return self.steps[-1] if self.steps else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["best"] = asdict(self.final) if self.final else None
        return out


def _usable(rec: dict) -> bool:
    hpmax = rec.get("hpmax")
    return (rec.get("status") == R.COMPLETED and isinstance(hpmax, (int, float)) and not isinstance(hpmax, bool)
            and isinstance(rec.get("hparams"), dict))


def analyse(job: str, runs: list[dict], *, method=False, total_runs: int = 0) -> SearchAnalysis:
    """Steps in the order the runs ended (run order breaks ties)."""
    out = SearchAnalysis(job=job, method=method, total_runs=total_runs or len(runs))
    out.failed = sum(1 for r in runs if r.get("status") in (R.FAILED, R.CANCELLED, R.LOST))
    done = sorted((r for r in runs if _usable(r)),
                  key=lambda r: (R.parse_iso(r.get("ended")) or 0.0, R.run_sort_key(r["run"])))
    groups: dict[str, ConfigStats] = {}
    streak_key, streak = None, 0
    for i, rec in enumerate(done, 1):
        key = config_key(rec["hparams"])
        groups.setdefault(key, ConfigStats(key, dict(rec["hparams"]), [])).scores.append(float(rec["hpmax"]))
        top, est = best(list(groups.values()))
        streak = streak + 1 if top.key == streak_key else 1
        streak_key = top.key
        out.steps.append(SearchStep(completed=i, run=rec["run"], hpmax=float(rec["hpmax"]), best=dict(top.hparams),
                                    best_for=streak, est_hpmax=est, runs=top.runs))
    out.completed = len(done)
    return out


def analyse_job(store, job: str) -> SearchAnalysis:
    from launcher.hpsearch.assign import read_state, replay, with_results
    from launcher.jobs.status import read_job, read_runs

    record = read_job(store, job) or {}
    result = analyse(job, read_runs(store, job), method=record.get("hp_tuning", False),
                     total_runs=int(record.get("total_runs") or 0))
    state = read_state(store, job)
    if state:
        result.replay = replay(with_results(store, state))
    return result
