"""A job plan: which child runs exist, on which parent (node) each runs, and with which HP values and seed.

Pure functions of the resolved runspec and the allocated names, so a plan can be tested without a store and
is recorded as jobs/<job>/plan.json for the agents to read.

XT's behaviour is kept: one parent run per compute node (ws1/run41), children run41.1, run41.2, … assigned
round-robin over the parents; a node runs at most runs_per_node children at once and starts the next of its
own children when one finishes, until all total_runs are done.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import asdict, dataclass, field

from launcher.diagnostics import LauncherError

SUPPORTED_HP_TUNING = (False, "random", "grid", "dgd", "bayesian")
#: Searches whose runs pull their values when they start (launcher/hpsearch/); random and grid are fixed here.
ADAPTIVE_HP_TUNING = ("dgd", "bayesian")
MAX_TOTAL_RUNS = 10000  # XT's limit


@dataclass
class ChildPlan:
    name: str  # run41.3
    parent: str  # run41
    index: int  # 1-based position in the job (1..total_runs): the order runs are started in
    node: int  # 0-based node (= parent) index
    hparams: dict  # HP name -> chosen value
    seed: int  # per-run seed handed to `launcher run --seed`


@dataclass
class JobPlan:
    job: str
    workspace: str
    target: str
    backend: str
    hp_tuning: str | bool
    total_runs: int
    compute_nodes: int
    runs_per_node: int
    parents: list[str]
    children: list[ChildPlan]
    experiment_path: str = "../results"
    runspec: str = ""  # path as the user named it, relative to the project
    overrides: dict = field(default_factory=dict)
    code_key: str = ""  # code/<sha256>.zip
    run_command: list[str] | None = None
    working_dir: str = "."  # where runs start, relative to the snapshot's root
    datastore: str | None = None  # $datastore (XT_DATA_DIR) for a local target; Azure nodes provide their own
    notes: list[str] = field(default_factory=list)  # e.g. "grid of 12 points cycled over 20 runs"
    # Adaptive searches: the space and seed (hpsearch.space.SearchSpace.to_dict()); children's hparams are then
    # empty until each run pulls its assignment.
    search: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "JobPlan":
        data = dict(data)
        data["children"] = [ChildPlan(**c) for c in data.get("children", [])]
        return cls(**data)

    def children_of(self, parent: str) -> list[ChildPlan]:
        return [c for c in self.children if c.parent == parent]

    @property
    def slots(self) -> int:
        return self.compute_nodes * self.runs_per_node


def truthy(value) -> bool:
    """XT's flag values: true, 1, '1', 'true', 'yes' (any case) are on; anything else is off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("1", "true", "yes")


def stage_iterations(spec_data: dict) -> list[int]:
    """max_iterations of each processing stage, by stage number (0 for a disabled stage or one without it): how
    far a running run has got, from the stage and iteration it last reported (the live progress bar)."""
    out = []
    for item in spec_data.get("processing_stages") or []:
        spec = item.get("processing_stage") if isinstance(item, dict) else None
        n = spec.get("max_iterations") if isinstance(spec, dict) else None
        enabled = spec.get("enabled", True) if isinstance(spec, dict) else False
        ok = isinstance(n, int) and not isinstance(n, bool) and n > 0 and enabled not in (0, False, "0", "false")
        out.append(n if ok else 0)
    return out


def launcher_settings(spec_data: dict) -> dict:
    """The job_launcher section with XT's defaults, checked for the values a plan needs."""
    jl = dict(spec_data.get("job_launcher") or {})
    hp = jl.get("hp_tuning", False)
    if hp in (0, "0", "false", "False", None):
        hp = False
    if isinstance(hp, str):
        hp = hp.lower()
    out = {
        "enabled": bool(jl.get("enabled", False)),
        "hp_tuning": hp,
        "total_runs": jl.get("total_runs", 1),
        "compute_nodes": jl.get("compute_nodes", 1),
        "runs_per_node": jl.get("runs_per_node", 1),
        "compute_target": jl.get("compute_target", "local"),
        # XT's flags for the nodes: Spot (low priority) and keeping the pool after the job
        "low_priority": truthy(jl.get("low_priority")),
        "hold": truthy(jl.get("hold")),
    }
    for key in ("total_runs", "compute_nodes", "runs_per_node"):
        value = out[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LauncherError(f"job_launcher.{key} must be a whole number ≥ 1, not {value!r}")
    if out["total_runs"] > MAX_TOTAL_RUNS:
        raise LauncherError(f"job_launcher.total_runs is {out['total_runs']}; the limit is {MAX_TOTAL_RUNS}")
    if hp not in SUPPORTED_HP_TUNING:
        raise LauncherError(f"hp_tuning must be random, grid, dgd, bayesian or false, not {hp!r}")
    return out


def run_seed(job: str, run: str) -> int:
    """A per-run seed that is recorded and reproducible: derived from the job and run names, so two launches
    of the same runspec draw different values while a rerun of one run can reuse its recorded seed."""
    digest = hashlib.sha256(f"{job}/{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1_000_000_000


def grid_points(hyperparameters) -> list[dict]:
    """The Cartesian product of every HP's values, in a stable order (HPs as declared, values as listed)."""
    names = [h.name for h in hyperparameters]
    return [dict(zip(names, combo)) for combo in itertools.product(*[list(h.values) for h in hyperparameters])]


def assign_hparams(hyperparameters, hp_tuning, seeds: list[int]) -> tuple[list[dict], list[str]]:
    """One HP assignment per run (len(seeds) runs) and notes for the user."""
    hyperparameters = list(hyperparameters or [])
    notes: list[str] = []
    if not hp_tuning or not hyperparameters:
        if hp_tuning and not hyperparameters:
            notes.append(f"hp_tuning is {hp_tuning} but the runspec has no hyperparameters: every run is alike")
        tuned = {h.name: h.tuned_value for h in hyperparameters}
        return [dict(tuned) for _ in seeds], notes
    if hp_tuning == "random":
        # Each run draws every HP from its own RNG seeded with the run's seed: recorded, reproducible.
        out = []
        for seed in seeds:
            rng = random.Random(seed)
            out.append({h.name: rng.choice(list(h.values)) for h in hyperparameters})
        return out, notes
    points = grid_points(hyperparameters)
    if len(seeds) != len(points):
        notes.append(f"grid has {len(points)} points and total_runs is {len(seeds)}: "
                     + ("points are cycled" if len(seeds) > len(points) else "only the first points run"))
    return [dict(points[i % len(points)]) for i in range(len(seeds))], notes


def build_plan(*, job: str, workspace: str, target: str, backend: str, settings: dict, parents: list[str],
               hyperparameters=(), experiment_path: str = "../results", runspec: str = "",
               overrides: dict | None = None, code_key: str = "", run_command: list[str] | None = None,
               working_dir: str = ".", datastore: str | None = None) -> JobPlan:
    """Spread settings['total_runs'] children round-robin over the parents (one per compute node)."""
    total, nodes = settings["total_runs"], settings["compute_nodes"]
    if len(parents) != nodes:
        raise ValueError(f"{len(parents)} parent names for {nodes} compute nodes")
    names: list[tuple[str, str, int]] = []
    per_parent = [0] * nodes
    for i in range(total):
        node = i % nodes
        per_parent[node] += 1
        names.append((f"{parents[node]}.{per_parent[node]}", parents[node], node))
    seeds = [run_seed(job, name) for name, _, _ in names]
    search = None
    if settings["hp_tuning"] in ADAPTIVE_HP_TUNING and list(hyperparameters or []):
        from launcher.hpsearch.space import SearchSpace

        search = SearchSpace.from_hyperparameters(settings["hp_tuning"], run_seed(job, "search"),
                                                  hyperparameters).to_dict()
        hparams = [{} for _ in seeds]
        notes = [f"hp_tuning {settings['hp_tuning']}: each run pulls its values when it starts, from the results "
                 "completed so far"]
    else:
        hparams, notes = assign_hparams(hyperparameters, settings["hp_tuning"], seeds)
    children = [ChildPlan(name=name, parent=parent, index=i + 1, node=node, hparams=hparams[i], seed=seeds[i])
                for i, (name, parent, node) in enumerate(names)]
    return JobPlan(job=job, workspace=workspace, target=target, backend=backend,
                   hp_tuning=settings["hp_tuning"], total_runs=total, compute_nodes=nodes,
                   runs_per_node=settings["runs_per_node"], parents=list(parents), children=children,
                   experiment_path=experiment_path, runspec=runspec, overrides=dict(overrides or {}),
                   code_key=code_key, run_command=run_command, working_dir=working_dir, datastore=datastore,
                   notes=notes, search=search)
