"""The runs of several jobs at once, each read from the store that holds it (`launcher runs job3 job4`,
`launcher runs --all`, `launcher plot job3 job4`)."""

from __future__ import annotations


def runs_of_jobs(config, jobs: list[str], *, all_jobs: bool = False, target: str | None = None
                 ) -> tuple[list[str], list[dict]]:
    """(job names, their child runs in job order then run order)."""
    from launcher.backends import store_for
    from launcher.jobs.status import list_jobs, read_runs

    names = list(dict.fromkeys(jobs))
    stores = {}
    if all_jobs:
        store, _ = store_for(config, target=target)
        for name in list_jobs(store):
            if name not in names:
                names.append(name)
                stores[name] = store
    runs: list[dict] = []
    for name in names:
        store = stores.get(name) or store_for(config, name, target=target)[0]
        runs.extend(read_runs(store, name))
    return names, runs


def stores_of_jobs(config, jobs: list[str], *, target: str | None = None) -> dict:
    """job -> the store that holds it."""
    from launcher.backends import store_for

    return {name: store_for(config, name, target=target)[0] for name in dict.fromkeys(jobs)}
