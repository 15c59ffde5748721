"""The atomic step of an adaptive search: a starting run takes the next assignment from the results so far.

    jobs/<job>/search.jsonl   a log, one JSON object a line, only ever appended to:
        {"e": "search", "method", "seed", "space"}                        first, by the first pull
        {"e": "assign", "number", "run", "hparams", "assigned", "known"}  a decision
        {"e": "result", "run", "result", "observed"}                      a run that ended, as a pull noted it
        {"e": "restart", "run"}                                           a run started again (same assignment)

read_state() folds the log into {"method", "seed", "space", "observed": N, "assignments": [{number, run,
hparams, assigned, known, result, observed}, ...]}. pull_assignment() is one Store.append_update() of the log
(an append under a lock on the folder store; on Blob storage an append blob extended at the length it read,
If-Append-Position-Equal), so two runs starting at once never take the same assignment number, and a pull
writes only its own few hundred bytes, not the whole state (about 1.5 MB at 10,000 runs; see
benchmarks/search_state.py). The log needs no compaction: each planned run appends one decision, at most one
result per start and one line per restart, so its size is bounded by total_runs; each pull reads it whole, as
it read the whole state before.

Every pull first notes the results of runs that ended since the last one (`result`, and `observed`: the order in
which the search learnt of it); every decision records `known`, how many results the search knew of when it
was made. So what each decision saw is recorded without repeating it: the results observed before `known` (in
observed order) and, as pending, the earlier assignments without one. With the search's seed, replay()
recomputes every decision from that record.

Rule for runs that do not complete: a failed, cancelled or lost run gives no result; once a later pull sees it
ended, it stops counting as pending, so its configuration is free to be drawn again and the search never waits
for it. A run started again under the same name (Batch's retry, a pre-empted node) keeps its assignment.
`total_runs` bounds the search: each planned run pulls at most one assignment. The runs of a cancelled job that
had not started never pull (the agent checks the cancel mark first), so a cancel ends the search.
"""

from __future__ import annotations

import json
import random

from launcher.diagnostics import LauncherError
from launcher.hpsearch.space import SearchSpace
from launcher.jobs import records as R


def log_key(job: str) -> str:
    return R.job_key(job, "search.jsonl")


def state_key(job: str) -> str:
    """Where searches launched before the log kept their whole state (read only, for their analysis)."""
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


def _new_state(space: SearchSpace) -> dict:
    return {"method": space.method, "seed": space.seed, "space": space.to_dict(), "observed": 0, "assignments": []}


def _apply(state: dict, event: dict) -> None:
    """One log line's change to the folded state."""
    kind = event.get("e")
    if kind == "search":
        state.update(method=event["method"], seed=event["seed"], space=event["space"])
        return
    if kind == "assign":
        entry = {k: event[k] for k in ("number", "run", "hparams", "assigned", "known")}
        state["assignments"].append(dict(entry, result=None, observed=None))
        return
    entry = next((e for e in reversed(state["assignments"]) if e["run"] == event.get("run")), None)
    if entry is None:
        return
    if kind == "result":
        entry["result"], entry["observed"] = event["result"], event["observed"]
        state["observed"] = max(state["observed"], event["observed"] + 1)
    elif kind == "restart":
        entry.update(result=None, observed=None, restarts=int(entry.get("restarts", 0)) + 1)


def _events(data: bytes) -> list:
    lines = [line for line in data.splitlines() if line.strip()]
    try:  # one parse of every line at once (json's C decoder): a few times faster than a parse per line
        return json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:  # a write torn by a crash: the next append started a new line after it; skip it
        pass
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _fold(data: bytes) -> dict:
    state = {"observed": 0, "assignments": []}
    for event in _events(data):
        if isinstance(event, dict):
            _apply(state, event)
    return state


def _noted(store, e: dict, state: dict) -> dict | None:
    """The result event of an assignment whose run has ended, numbered as the next observation; else None."""
    result = _result_of(store.read_json(R.run_key(e["run"])))
    return None if result is None else {"e": "result", "run": e["run"], "result": result,
                                        "observed": state["observed"]}


def pull_assignment(store, plan: dict, run: str) -> dict:
    """The hparams run `run` of plan's job is to use, recorded in jobs/<job>/search.jsonl."""
    space = SearchSpace.from_dict(plan["search"])
    job = plan["job"]

    def change(old: bytes | None):
        state = _fold(old) if old else _new_state(space)
        events = [] if old else [{"e": "search", "method": space.method, "seed": space.seed,
                                  "space": space.to_dict()}]

        def record(event: dict) -> None:
            events.append(event)
            _apply(state, event)

        entries = state["assignments"]
        for e in list(entries):  # results of runs that ended since the last pull
            if e.get("observed") is None and e["run"] != run:
                event = _noted(store, e, state)
                if event is not None:
                    record(event)
        mine = next((e for e in entries if e["run"] == run), None)
        if mine is not None:  # started again: same assignment, its earlier result (if any) forgotten
            record({"e": "restart", "run": run})
            return _encode(events, old), mine["hparams"]
        results, pending = inputs(entries)
        number = len(entries)
        hparams = choose(space, results, pending, decision_rng(space, number))
        record({"e": "assign", "number": number, "run": run, "hparams": hparams, "assigned": R.now_iso(),
                "known": state["observed"]})
        return _encode(events, old), hparams

    return store.append_update(log_key(job), change)


def _encode(events: list[dict], old: bytes | None) -> bytes:
    lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in events)
    torn = bool(old) and not old.endswith(b"\n")  # a crash cut the last write short: leave it on its own line
    return (b"\n" if torn else b"") + lines.encode("utf-8")


def read_state(store, job: str) -> dict | None:
    """The search's state folded from its log (or the whole state of a search launched before the log)."""
    data = store.read_bytes(log_key(job))
    if data is None:
        return store.read_json(state_key(job))
    return _fold(data)


def with_results(store, state: dict) -> dict:
    """The state with the results of runs that ended since the last pull noted, as the next pull would note
    them (for analysis and replay)."""
    for e in sorted(state.get("assignments", []), key=lambda e: e["number"]):
        if e.get("observed") is None:
            event = _noted(store, e, state)
            if event is not None:
                _apply(state, event)
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
