"""`launcher rerun RUN`: a run's repro_spec.yaml launched again as a one-run job (XT's `xt rerun`).

repro_spec.yaml is the run's runspec made explicit (defaults merged, replacements and HP values applied, the
drawn randint seeds written in), without its launcher section. A rerun gives it a launcher section of one run
on one node (on the original target unless --target), so the same run happens again, with its seeds and
hyperparameter values, under a new job number; the ledger's origin says what it reruns.
"""

from __future__ import annotations

from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.jobs import records as R

RERUN_DIR = "reruns"  # under the store folder: never code, never a dirty tree


def rerun_spec_text(repro_text: str, *, target: str, run: str, job: str) -> str:
    import yaml

    from launcher.runtime.executor import dump_yaml

    try:
        data = yaml.safe_load(repro_text)
    except yaml.YAMLError as exc:
        raise LauncherError(f"{run}: its repro_spec.yaml is not valid YAML ({exc})") from None
    if not isinstance(data, dict) or "component" not in data:
        raise LauncherError(f"{run}: its repro_spec.yaml is not a runspec")
    data.pop("job_launcher", None)
    data["job_launcher"] = {"component": "job_launchers/XT", "enabled": 1, "hp_tuning": False, "total_runs": 1,
                            "compute_nodes": 1, "runs_per_node": 1, "compute_target": target}
    head = f"# launcher rerun {run}: the repro_spec.yaml of {run} ({job}), as one run\n"
    return head + dump_yaml(data)


def prepare_rerun(config, run: str, *, target: str | None = None) -> tuple[Path, str, dict]:
    """(the rerun's runspec file, the origin for the ledger, the original run's record)."""
    from launcher.backends import store_for
    from launcher.fsutil import atomic_write

    name = run.split("/")[-1]
    if "." not in name:
        raise LauncherError(f"{run} is a parent run; rerun one of its child runs (e.g. {name}.1)",
                            hint=f"`launcher status` lists a job's parents; `launcher runs JOB` its runs", exit_code=2)
    store, tgt = store_for(config, name)
    record = store.read_json(R.run_key(name))
    if record is None:
        raise LauncherError(f"no run '{name}'", hint="`launcher runs JOB` lists a job's runs")
    repro = store.read_text(R.run_key(name, "repro_spec.yaml"))
    if repro is None:
        raise LauncherError(f"{name} has no repro_spec.yaml in the store (it is {record.get('status')})",
                            hint="a run writes it when it starts; rerun a run that got that far")
    job = record.get("job", "")
    job_record = store.read_json(R.job_key(job, "job.json")) or {}
    chosen = target or job_record.get("target") or tgt.name
    config.target(chosen)  # an unknown target is an error with did-you-mean before anything is written
    path = Path(config.store_dir) / RERUN_DIR / f"{name}.yaml"
    atomic_write(path, rerun_spec_text(repro, target=chosen, run=name, job=job))
    return path, f"rerun of {name} ({job})", record
