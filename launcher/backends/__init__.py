"""Backends by name. Imported lazily: the Azure backend pulls in the Azure SDK only when it is used."""

from __future__ import annotations

import importlib

from launcher.diagnostics import LauncherError, missing_extra

# name -> "module:Class"
BACKENDS = {
    "local": "launcher.backends.local:LocalBackend",
    "azure-batch": "launcher.backends.azure_batch:AzureBatchBackend",
}


def backend_class(name: str):
    if name not in BACKENDS:
        from launcher.diagnostics import did_you_mean

        raise LauncherError(f"unknown backend '{name}'",
                            hint=did_you_mean(name, BACKENDS) or f"known backends: {', '.join(sorted(BACKENDS))}")
    module_name, _, cls_name = BACKENDS[name].partition(":")
    # A missing Azure SDK surfaces where it is first imported (the backend modules import it lazily); the CLI maps
    # it to the install hint (launcher.diagnostics.missing_extra).
    return getattr(importlib.import_module(module_name), cls_name)


def open_store(target, config):
    """The store that holds the jobs of `target`."""
    return backend_class(target.backend).open_store(target, config)


def get_backend(target, store=None, config=None):
    """The backend of a config Target, bound to its store."""
    cls = backend_class(target.backend)
    if store is None:
        store = cls.open_store(target, config)
    return cls(target, store, config)


def store_for(config, name: str | None = None, *, target: str | None = None):
    """The store holding job/run `name`, and its Target. With --target: that target's. Else the local store when
    it has it; for a job, the target its ledger row names; else the first of the project's other targets (in
    config order) whose store has it. LauncherError naming every store looked in when none does."""
    from launcher.jobs import records as R

    if target:
        tgt = config.target(target)
        return open_store(tgt, config), tgt
    local = config.target("local")
    store = open_store(local, config)
    if name is None:
        return store, local
    run = name.split("/")[-1]
    key = R.job_key(run, "job.json") if run.startswith("job") else R.run_key(run)
    if store.exists(key):
        return store, local
    job = run if run.startswith("job") else None
    if job:
        from launcher import ledger as L

        try:
            row = L.parse_ledger(config.ledger_path).get(job)
        except (LauncherError, OSError):  # an unreadable ledger only means: look in every store
            row = None
        if row is not None and row.target in config.targets and row.target != "local":
            tgt = config.target(row.target)
            return open_store(tgt, config), tgt
    looked = [f"local ({store.description})"]
    # Every local-backend target shares the local store, looked in above; the others each have their own.
    for tgt in config.targets.values():
        if tgt.backend == "local":
            continue
        try:
            other = open_store(tgt, config)
            if other.exists(key):
                return other, tgt
            looked.append(f"{tgt.name} ({other.description})")
        except LauncherError as exc:
            looked.append(f"{tgt.name} (not readable here: {exc.message})")
        except Exception as exc:  # noqa: BLE001 - an unreachable store is reported, the search goes on
            if missing_extra(exc):
                looked.append(f"{tgt.name} (not readable here: {missing_extra(exc).message})")
                continue
            looked.append(f"{tgt.name} (not readable here: {str(exc).splitlines()[0][:200] if str(exc) else exc!r})")
    what = "job" if job else "run"
    listed = "`launcher jobs --target NAME`" if job else "`launcher runs JOB`"
    raise LauncherError(f"no {what} '{name}' in the store of any target; looked in: {'; '.join(looked)}",
                        hint=f"check the name ({listed} lists them); add --target NAME if its target is not "
                             "configured in this project")
