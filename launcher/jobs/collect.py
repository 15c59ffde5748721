"""The runs of several jobs at once, each read from the store that holds it (`launcher runs job3 job4`,
`launcher runs --all`, `launcher plot job3 job4`)."""

from __future__ import annotations


def runs_of_jobs(config, jobs: list[str], *, all_jobs: bool = False, target: str | None = None,
                 last: int | None = None) -> tuple[list[str], list[dict]]:
    """(job names, their child runs in job order then run order). last: only the last `last` of those runs,
    read from the last job backwards: the records of runs not shown are not read."""
    from launcher.backends import store_for
    from launcher.jobs.status import read_runs

    names, stores = _named_jobs(config, jobs, all_jobs=all_jobs, target=target)
    if last is not None:
        tail: list[list[dict]] = []
        left = max(last, 0)
        for name in reversed(names):
            if left <= 0:
                break
            store = stores.get(name) or store_for(config, name, target=target)[0]
            got = read_runs(store, name, last=left)
            tail.insert(0, got)
            left -= len(got)
        return names, [r for chunk in tail for r in chunk]
    runs: list[dict] = []
    for name in names:
        store = stores.get(name) or store_for(config, name, target=target)[0]
        runs.extend(read_runs(store, name))
    return names, runs


def indexed_runs_of_jobs(config, jobs: list[str], *, all_jobs: bool = False, target: str | None = None):
    """(job names, their child runs as runs_of_jobs gives them but with ended runs as index entries, a function
    that turns a selection of those into the runs' records): sort and filter all, then read only what is shown."""
    from launcher.backends import store_for
    from launcher.jobs import runindex
    from launcher.jobs.status import read_runs

    names, stores = _named_jobs(config, jobs, all_jobs=all_jobs, target=target)
    runs: list[dict] = []
    for name in names:
        stores[name] = stores.get(name) or store_for(config, name, target=target)[0]
        runs.extend(read_runs(stores[name], name, indexed=True))

    def records(chosen: list[dict]) -> list[dict]:
        return runindex.full(None, chosen, job_of=stores.__getitem__)

    return names, runs, records


def _named_jobs(config, jobs: list[str], *, all_jobs: bool, target: str | None) -> tuple[list[str], dict]:
    """(the jobs named, once each, then with all_jobs every other job of the target's store; job -> store for
    the jobs that listing found, so their store is not looked up again)."""
    from launcher.backends import store_for
    from launcher.jobs.status import list_jobs

    names = list(dict.fromkeys(jobs))
    stores = {}
    if all_jobs:
        store, _ = store_for(config, target=target)
        for name in list_jobs(store):
            if name not in names:
                names.append(name)
                stores[name] = store
    return names, stores


def stores_of_jobs(config, jobs: list[str], *, target: str | None = None) -> dict:
    """job -> the store that holds it."""
    from launcher.backends import store_for

    return {name: store_for(config, name, target=target)[0] for name in dict.fromkeys(jobs)}
