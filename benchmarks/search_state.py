"""What one pull of an adaptive search writes to the store, at 10,000 runs: appending to the search's log
(jobs/<job>/search.jsonl) against rewriting the whole state (the search.json of before), in the same run.

    python benchmarks/search_state.py [--runs 10000] [--pulls 5]

A folder store gets the log of a DGD search over the synthetic objective's 8 hyperparameters whose `runs`
runs have all been assigned and have ended (one decision and one noted result per run, as pulls write them).
Then `pulls` more runs start, each through the real pull_assignment(), and each noting the result of the run
before it. Printed per pull: the bytes the pull appended and how long it took (median), next to the baseline:
the size of the whole state as the old step wrote it on every pull (its one-line-per-assignment JSON, the
format of search.json), and the time to write that object atomically to the same store; and what reading
costs each way (folding the log's lines against parsing the one object).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launcher.hpsearch import synthetic as S  # noqa: E402
from launcher.hpsearch.assign import log_key, pull_assignment, read_state  # noqa: E402
from launcher.hpsearch.space import Dimension, SearchSpace  # noqa: E402
from launcher.jobs import records as R  # noqa: E402
from launcher.store.local import LocalStore  # noqa: E402


def whole_state_bytes(state: dict) -> bytes:
    """The state as the step before the log wrote it on every pull (assign.py's former _dump)."""
    head = {k: v for k, v in state.items() if k != "assignments"}
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in state["assignments"]]
    body = json.dumps(head, sort_keys=True)[:-1] + ', "assignments": [\n' + ",\n".join(lines) + "\n]}\n"
    return body.encode("utf-8")


def seed_log(store, space: SearchSpace, runs: int) -> None:
    """A log of `runs` assigned and ended runs, in the lines pulls write (decision, then its noted result)."""
    rng = random.Random(1)
    lines = [{"e": "search", "method": space.method, "seed": space.seed, "space": space.to_dict()}]
    for n in range(runs):
        hp = {d.name: rng.choice(d.values) for d in space.dimensions}
        lines.append({"e": "assign", "number": n, "run": f"run1.{n + 1}", "hparams": hp,
                      "assigned": "2026-01-01T00:00:00Z", "known": n})
        lines.append({"e": "result", "run": f"run1.{n + 1}", "observed": n,
                      "result": {"status": R.COMPLETED, "hpmax": round(S.noisy_value(hp, n), 6)}})
    text = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in lines)
    store.write_bytes(log_key("job1"), text.encode("utf-8"))


def start_run(store, run: str) -> None:
    rec = R.new_run_record(run=run, job="job1", workspace="ws1", parent="run1", index=1, node="node0",
                           hparams={}, seed=1)
    rec["status"] = R.RUNNING
    store.write_json(R.run_key(run), rec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--pulls", type=int, default=5)
    args = parser.parse_args()
    space = SearchSpace("dgd", 7, [Dimension(n, S.values(i), True) for i, n in enumerate(S.NAMES)])
    plan = {"job": "job1", "search": space.to_dict()}
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        seed_log(store, space, args.runs)
        log = store.path(log_key("job1"))
        appended, pull_ms, whole, whole_ms = [], [], [], []
        previous = None
        for k in range(args.pulls):
            run = f"run1.{args.runs + k + 1}"
            start_run(store, run)
            if previous is not None:  # the run before ended: this pull notes its result
                rec = store.read_json(R.run_key(previous[0]))
                rec.update(status=R.COMPLETED, hpmax=S.noisy_value(previous[1], k), ended=R.now_iso())
                store.write_json(R.run_key(previous[0]), rec)
            size = log.stat().st_size
            t0 = time.perf_counter()
            hp = pull_assignment(store, plan, run)
            pull_ms.append((time.perf_counter() - t0) * 1000)
            appended.append(log.stat().st_size - size)
            previous = (run, hp)
            # the baseline: the whole state after this pull, written as the old step wrote it
            data = whole_state_bytes(read_state(store, "job1"))
            t0 = time.perf_counter()
            store.write_bytes("jobs/job1/search.json", data)
            whole_ms.append((time.perf_counter() - t0) * 1000)
            whole.append(len(data))
        print(f"adaptive search (dgd, 8 hyperparameters), {args.runs} runs assigned and ended, "
              f"{args.pulls} more pulls:")
        print(f"  whole state rewritten per pull (before): {statistics.median(whole):>11,.0f} bytes, "
              f"write {statistics.median(whole_ms):.1f} ms")
        print(f"  log appended per pull (now):             {statistics.median(appended):>11,.0f} bytes "
              f"(max {max(appended)}), whole pull {statistics.median(pull_ms):.1f} ms")
        t0 = time.perf_counter()
        read_state(store, "job1")
        fold_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        store.read_json("jobs/job1/search.json")
        parse_ms = (time.perf_counter() - t0) * 1000
        print(f"  reading the state: the log folded {fold_ms:.0f} ms, the whole object parsed {parse_ms:.0f} ms; "
              "the rest of a pull is the search's choice")
        print(f"  bytes written per pull: {statistics.median(whole) / statistics.median(appended):,.0f}x fewer; "
              f"the log is {log.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
