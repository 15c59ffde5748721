"""The atomic step of an adaptive search: a starting run takes the next assignment from the results so far.

    jobs/<job>/search.json   {"method", "seed", "space", "observed": N,
                              "assignments": [{number, run, hparams, assigned, known, result, observed}, ...]}

pull_assignment() is one Store.update() of that object (a lock on the folder store, an ETag compare-and-swap
on Blob storage), so two runs starting at once never take the same assignment number. Every pull first notes
the results of runs that ended since the last one (`result`, and `observed`: the order in which the search
learnt of it); every decision records `known`, how many results the search knew of when it was made. So what
each decision saw is recorded without repeating it: the results observed before `known` (in observed order)
and, as pending, the earlier assignments without one. With the search's seed, replay() recomputes every
decision from that record.

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


def inputs(entries: list[dict], *, known: int | None = None, before: int | None = None):
    """(results as (hparams, hpmax) in observed order, hparams still pending) as a decision saw them: all
    recorded so far (known=None), or those of the decision that knew `known` results and had number `before`."""
    def seen(e) -> bool:
        return e.get("observed") is not None and (known is None or e["observed"] < known)

    done = sorted((e for e in entries if seen(e) and e["result"].get("hpmax") is not None),
                  key=lambda e: e["observed"])
    pending = [e for e in sorted(entries, key=lambda e: e["number"])
               if not seen(e) and (before is None or e["number"] < before)]
    return [(e["hparams"], e["result"]["hpmax"]) for e in done], [e["hparams"] for e in pending]


def _observe(state: dict, entry: dict, result: dict | None) -> None:
    if result is not None:
        entry["result"], entry["observed"] = result, state["observed"]
        state["observed"] += 1


def pull_assignment(store, plan: dict, run: str) -> dict:
    """The hparams run `run` of plan's job is to use, recorded in jobs/<job>/search.json."""
    space = SearchSpace.from_dict(plan["search"])
    job = plan["job"]

    def change(old: bytes | None):
        state = json.loads(old) if old else {"method": space.method, "seed": space.seed,
                                             "space": space.to_dict(), "observed": 0, "assignments": []}
        entries = state["assignments"]
        for e in entries:  # results of runs that ended since the last pull
            if e.get("observed") is None and e["run"] != run:
                _observe(state, e, _result_of(store.read_json(R.run_key(e["run"]))))
        mine = next((e for e in entries if e["run"] == run), None)
        if mine is not None:  # started again: same assignment, its earlier result (if any) forgotten
            mine.update(result=None, observed=None, restarts=int(mine.get("restarts", 0)) + 1)
            return _dump(state), mine["hparams"]
        results, pending = inputs(entries)
        number = len(entries)
        hparams = choose(space, results, pending, decision_rng(space, number))
        entries.append({"number": number, "run": run, "hparams": hparams, "assigned": R.now_iso(),
                        "known": state["observed"], "result": None, "observed": None})
        return _dump(state), hparams

    return store.update(state_key(job), change)


def _dump(state: dict) -> bytes:
    # One line per assignment: readable, and json's C encoder (indent= would use the slow Python one).
    head = {k: v for k, v in state.items() if k != "assignments"}
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in state["assignments"]]
    body = json.dumps(head, sort_keys=True)[:-1] + ', "assignments": [\n' + ",\n".join(lines) + "\n]}\n"
    return body.encode("utf-8")


def read_state(store, job: str) -> dict | None:
    return store.read_json(state_key(job))


def with_results(store, state: dict) -> dict:
    """The state with the results of runs that ended since the last pull noted, as the next pull would note
    them (for analysis and replay)."""
    for e in sorted(state.get("assignments", []), key=lambda e: e["number"]):
        if e.get("observed") is None:
            _observe(state, e, _result_of(store.read_json(R.run_key(e["run"]))))
    return state


def replay(state: dict) -> list[str]:
    """Recompute every recorded decision from the recorded results and the seed; the differences, one line
    each ([] when the search is reproduced exactly)."""
    space = SearchSpace.from_dict(state["space"])
    entries = state["assignments"]
    problems = []
    for e in sorted(entries, key=lambda e: e["number"]):
        results, pending = inputs(entries, known=e["known"], before=e["number"])
        again = choose(space, results, pending, decision_rng(space, e["number"]))
        if again != e["hparams"]:
            problems.append(f"assignment {e['number']} ({e['run']}): recorded {e['hparams']}, replay gives {again}")
    return problems
