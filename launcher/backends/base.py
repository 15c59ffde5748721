"""The backend interface: four methods. Everything a backend shares (queued run records, reading runs, cancel
markers, status) is written once here, on top of the store; a backend only starts and stops work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from launcher.jobs import records as R
from launcher.jobs.plan import JobPlan


class Backend(ABC):
    """Runs the child runs of a JobPlan somewhere; the store holds every record."""

    name = ""

    def __init__(self, target, store, config) -> None:
        self.target = target  # launcher.config.Target
        self.store = store
        self.config = config

    @classmethod
    def open_store(cls, target, config):
        """The store this target's jobs live in. The local folder store unless a backend says otherwise."""
        from launcher.store.local import LocalStore

        return LocalStore(config.store_dir)

    # -- the interface -----------------------------------------------------------------------------------
    @abstractmethod
    def submit(self, plan: JobPlan) -> None:
        """Start the job (the job record, plan and queued run records are already in the store).
        Raises LauncherError when the work could not be handed over."""

    def status(self, job: str) -> dict:
        from launcher.jobs.status import job_summary

        return job_summary(self.store, job)

    def runs(self, job: str) -> list[dict]:
        from launcher.jobs.status import read_runs

        return read_runs(self.store, job)

    def cancel(self, job: str) -> list[str]:
        """Ask the job to stop and stop what this backend can reach; returns the runs marked cancelled."""
        from launcher.jobs.status import child_names, mark_unfinished

        names = child_names(self.store, job)
        live = [n for n in names if (self.store.read_json(R.run_key(n)) or {}).get("status") not in R.FINAL_STATES]
        self.stop(job)
        mark_unfinished(self.store, job, R.CANCELLED, "cancelled by `launcher cancel`")
        return [n for n in live if (self.store.read_json(R.run_key(n)) or {}).get("status") == R.CANCELLED]

    def preflight(self, *, compute_nodes: int, runs_per_node: int, low_priority: bool) -> None:
        """Refuse (LauncherError) what the backend would refuse after submission; nothing is written yet."""

    def cost_estimate(self, *, compute_nodes: int, low_priority: bool) -> dict | None:
        """An upper bound of what the job's nodes may cost, or None when the target has no prices."""
        return None

    # -- shared plumbing ---------------------------------------------------------------------------------
    def discard(self, plan: JobPlan) -> None:
        """Forget a job the backend refused: its jobs/<job>/ records and the run records record_queued wrote.
        Nothing of it stays in the store (its numbers stay used: counters never go back)."""
        # Nothing ran, so a run holds only the run.json that record_queued wrote: no listing of every run.
        keys = self.store.list(f"jobs/{plan.job}/")
        keys += [R.run_key(run) for run in [*plan.parents, *(c.name for c in plan.children)]]
        self._delete_keys(keys)

    def _delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            self.store.delete(key)

    def _stop(self, job: str) -> None:
        """Backend hook: stop the processes/tasks of a job (after the cancel marker is written)."""

    def request_cancel(self, job: str) -> None:
        # Agents poll this marker, wherever they run, so a cancel reaches them without a connection.
        self.store.write_text(R.job_key(job, "cancel"), R.now_iso() + "\n")

    def stop(self, job: str) -> None:
        """Write the cancel marker, then stop what this backend can reach (run records are left as they are)."""
        self.request_cancel(job)
        self._stop(job)

    def record_queued(self, plan: JobPlan) -> None:
        """run.json of every parent and child as queued, so monitoring shows the whole job at once."""
        for key, record in queued_records(plan):
            self.store.write_json(key, record)


def queued_records(plan: JobPlan, *, children: bool = True) -> list[tuple[str, dict]]:
    """(store key, run.json) of every parent and (unless children=False) child of a plan, as queued."""
    items = []
    names: dict[str, list[str]] = {parent: [] for parent in plan.parents}
    for child in plan.children:  # one pass, not one per parent (50 parents × 10,000 children)
        names.setdefault(child.parent, []).append(child.name)
    for node, parent in enumerate(plan.parents):
        items.append((R.run_key(parent), {
            "run": parent, "job": plan.job, "workspace": plan.workspace, "parent": None, "node": f"node{node}",
            "status": R.QUEUED, "children": names[parent], "queued": R.now_iso(),
        }))
    for child in plan.children if children else ():
        items.append((R.run_key(child.name), R.new_run_record(
            run=child.name, job=plan.job, workspace=plan.workspace, parent=child.parent, index=child.index,
            node=f"node{child.node}", hparams=child.hparams, seed=child.seed)))
    return items


def implied_child_record(plan: dict, run: str) -> dict | None:
    """The queued run.json of a child run that has no record yet: a backend may leave children's records to be
    implied by the plan until a run starts (10,000 queued records are 10,000 uploads before anything runs)."""
    child = next((c for c in (plan or {}).get("children", []) if c.get("name") == run), None)
    if child is None:
        return None
    return R.new_run_record(run=run, job=plan["job"], workspace=plan.get("workspace", ""), parent=child["parent"],
                            index=child["index"], node=f"node{child['node']}", hparams=child.get("hparams") or {},
                            seed=child.get("seed"))
