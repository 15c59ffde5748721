"""The atomic step of an adaptive search: a starting run takes the next assignment from the results so far.

    jobs/<job>/search.json   {"method", "seed", "space", "assignments": [{number, run, hparams, seen, pending,
                              assigned, result}, ...]}

pull_assignment() is one Store.update() of that object (a lock on the folder store, an ETag compare-and-swap
on Blob storage), so two runs starting at once never take the same assignment number, and every decision is
recorded with what it saw: `seen` (the runs whose results it used, in order) and `pending` (runs that held an
assignment and had not finished). With the search's seed, replay() recomputes every decision from those
records and the recorded results.

Rule for runs that do not complete: a failed, cancelled or lost run gives no result; once a later pull sees it
ended, it stops counting as pending, so its configuration is free to be drawn again and the search never waits
for it. A run started again under the same name (Batch's retry, a pre-empted node) keeps its assignment.
`total_runs` bounds the search: each planned run pulls at most one assignment.
"""

from __future__ import annotations

import json
import random

from launcher.diagnostics import LauncherError
from launcher.hpsearch.space import SearchSpace
from launcher.jobs import records as R


def state_key(job: str) -> str:
    return R.job_key(job, "search.json")


def choose(space: SearchSpace, results: list[tuple[dict, float]], pending: list[dict], rng: random.Random) -> dict:
    if space.method == "dgd":
        from launcher.hpsearch import dgd

        return dgd.choose(space, results, pending, rng)
    if space.method == "bayesian":
        from launcher.hpsearch import bayesian

        return bayesian.choose(space, results, pending, rng)
    raise LauncherError(f"hp_tuning {space.method!r} is not an adaptive search")


def decision_rng(space: SearchSpace, number: int) -> random.Random:
    """The random draws of assignment `number`: from the recorded seed, so a replay makes the same draws."""
    return random.Random(f"{space.seed}/{number}")


def _result_of(record: dict | None) -> dict | None:
    if not record or record.get("status") not in R.FINAL_STATES:
        return None
    hpmax = record.get("hpmax")
    ok = record["status"] == R.COMPLETED and isinstance(hpmax, (int, float)) and not isinstance(hpmax, bool)
    return {"status": record["status"], "hpmax": hpmax if ok else None}


def inputs(entries: list[dict]) -> tuple[list[dict], list[dict]]:
    """(entries with a result, entries still pending), in assignment order."""
    done = [e for e in entries if e.get("result") and e["result"].get("hpmax") is not None]
    pending = [e for e in entries if not e.get("result")]
    return done, pending


def pull_assignment(store, plan: dict, run: str) -> dict:
    """The hparams run `run` of plan's job is to use, recorded in jobs/<job>/search.json."""
    space = SearchSpace.from_dict(plan["search"])
    job = plan["job"]

    def change(old: bytes | None):
        state = json.loads(old) if old else {"method": space.method, "seed": space.seed,
                                             "space": space.to_dict(), "assignments": []}
        entries = state["assignments"]
        for e in entries:  # results of runs that ended since the last pull
            if not e.get("result") and e["run"] != run:
                e["result"] = _result_of(store.read_json(R.run_key(e["run"])))
        mine = next((e for e in entries if e["run"] == run), None)
        if mine is not None:  # started again: same assignment
            mine["result"] = None
            mine["restarts"] = int(mine.get("restarts", 0)) + 1
            return _dump(state), mine["hparams"]
        done, pending = inputs(entries)
        number = len(entries)
        hparams = choose(space, [(e["hparams"], e["result"]["hpmax"]) for e in done],
                         [e["hparams"] for e in pending], decision_rng(space, number))
        entries.append({"number": number, "run": run, "hparams": hparams, "assigned": R.now_iso(),
                        "seen": [e["run"] for e in done], "pending": [e["run"] for e in pending], "result": None})
        return _dump(state), hparams

    return store.update(state_key(job), change)


def _dump(state: dict) -> bytes:
    return (json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8")


def read_state(store, job: str) -> dict | None:
    return store.read_json(state_key(job))


def with_results(store, state: dict) -> dict:
    """The state with every ended run's result filled in from its record (for analysis and replay)."""
    for e in state.get("assignments", []):
        if not e.get("result"):
            e["result"] = _result_of(store.read_json(R.run_key(e["run"])))
    return state


def replay(state: dict) -> list[str]:
    """Recompute every recorded decision from the recorded results and the seed; the differences, one line
    each ([] when the search is reproduced exactly)."""
    space = SearchSpace.from_dict(state["space"])
    by_run = {e["run"]: e for e in state["assignments"]}
    problems = []
    for e in sorted(state["assignments"], key=lambda e: e["number"]):
        try:
            results = [(by_run[r]["hparams"], by_run[r]["result"]["hpmax"]) for r in e["seen"]]
            pending = [by_run[r]["hparams"] for r in e["pending"]]
        except (KeyError, TypeError):
            problems.append(f"assignment {e['number']} ({e['run']}): a run it saw has no recorded result")
            continue
        again = choose(space, results, pending, decision_rng(space, e["number"]))
        if again != e["hparams"]:
            problems.append(f"assignment {e['number']} ({e['run']}): recorded {e['hparams']}, replay gives {again}")
    return problems
