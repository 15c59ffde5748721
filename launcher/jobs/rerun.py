"""`launcher rerun RUN`: a run's repro_spec.yaml launched again as a one-run job (XT's `xt rerun`), on the
original job's code.

repro_spec.yaml is the run's runspec made explicit (defaults merged, replacements and HP values applied, the
drawn randint seeds written in), without its launcher section. A rerun gives it a launcher section of one run
on one node (on the original target unless --target), so the same run happens again, with its seeds and
hyperparameter values, under a new job number.

The code is the original job's: its content-addressed snapshot (code/<sha256>.zip, checked against its name),
copied into the rerun target's store when that is another store, with the original plan's working_dir and
run command; the runspec is checked against the components of that snapshot, not of the working tree. So the
current commit, and whether the tree is clean, play no part, and the job records the original commit.

What the ledger shows: the runspec cell names the original job's runspec (at the commit cell's commit, the
original one), the origin says `rerun of RUN (JOB)` and where the repro spec is stored; the job record keeps
the same as `rerun_of`. The rerun's runspec file itself is written under the store folder (reruns/RUN.yaml),
never into the code.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.jobs import records as R

RERUN_DIR = "reruns"  # under the store folder: never code, never a dirty tree


@dataclass
class Rerun:
    path: Path  # the rerun's runspec file
    origin: str  # the ledger's origin cell
    record: dict  # the original run's record
    code: object  # launcher.launch.StoredCode
    component_roots: list[Path]  # the original snapshot's, unpacked (valid inside prepared())


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


def stored_snapshot(store, job_record: dict, *, job: str):
    """The job's code snapshot from the store, as a Snapshot (commit and dirty files from the job's record)."""
    from launcher.agent import verify_content_addressed
    from launcher.package import CODE_PREFIX, Snapshot

    key = job_record.get("code_key") or ""
    data = store.read_bytes(key) if key.startswith(CODE_PREFIX) else None
    if data is None:
        raise LauncherError(f"{job}'s code snapshot ({key or 'none recorded'}) is not in the store",
                            hint="a rerun runs the original job's code; without it, launch the runspec again")
    try:
        verify_content_addressed(key, data)
    except RuntimeError as exc:
        raise LauncherError(f"{job}: {exc}") from None
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = [i for i in zf.infolist() if not i.is_dir()]
    return Snapshot(zip_bytes=data, sha256=key[len(CODE_PREFIX):-len(".zip")], file_count=len(files),
                    byte_count=sum(i.file_size for i in files), commit=job_record.get("commit") or "",
                    dirty=bool(job_record.get("dirty")), dirty_files=list(job_record.get("dirty_files") or []),
                    files=[i.filename for i in files])


def snapshot_component_roots(config, code_dir: Path) -> list[Path]:
    """The component roots of the unpacked snapshot: its own pyproject.toml's, else the project's roots at the
    same places in it."""
    from launcher.config import load_config

    if (code_dir / "pyproject.toml").is_file():
        try:
            return list(load_config(project=code_dir, warn=False).project_component_roots)
        except LauncherError:
            pass
    roots = []
    for root in config.project_component_roots:
        with contextlib.suppress(ValueError):
            inside = code_dir / Path(root).resolve().relative_to(Path(config.project_dir).resolve())
            if inside.is_dir():
                roots.append(inside)
    return roots


@contextlib.contextmanager
def prepared(config, run: str, *, target: str | None = None):
    """The Rerun of `run`, its snapshot unpacked in a temporary folder for as long as the block lasts."""
    from launcher.backends import store_for
    from launcher.fsutil import atomic_write
    from launcher.launch import StoredCode
    from launcher.package import extract_snapshot

    name = run.split("/")[-1]
    if "." not in name:
        raise LauncherError(f"{run} is a parent run; rerun one of its child runs (e.g. {name}.1)",
                            hint=f"`launcher status` lists a job's parents; `launcher runs JOB` its runs", exit_code=2)
    store, tgt = store_for(config, name)
    record = store.read_json(R.run_key(name))
    if record is None:
        raise LauncherError(f"no run '{name}'", hint="`launcher runs JOB` lists a job's runs")
    repro_key = R.run_key(name, "repro_spec.yaml")
    repro = store.read_text(repro_key)
    if repro is None:
        raise LauncherError(f"{name} has no repro_spec.yaml in the store (it is {record.get('status')})",
                            hint="a run writes it when it starts; rerun a run that got that far")
    job = record.get("job", "")
    job_record = store.read_json(R.job_key(job, "job.json")) or {}
    chosen = target or job_record.get("target") or tgt.name
    config.target(chosen)  # an unknown target is an error with did-you-mean before anything is written
    snapshot = stored_snapshot(store, job_record, job=job)
    plan = store.read_json(R.job_key(job, "plan.json")) or {}
    where = f"store of {tgt.name}: {repro_key}"
    code = StoredCode(snapshot=snapshot, working_dir=plan.get("working_dir") or config.working_dir,
                      run_command=plan.get("run_command") if plan else config.run_command,
                      record={"runspec": job_record.get("runspec") or "",
                              "rerun_of": {"run": name, "job": job, "target": tgt.name, "repro_spec": repro_key,
                                           "code_key": snapshot.key, "commit": snapshot.commit}})
    with tempfile.TemporaryDirectory(prefix="launcher-rerun-") as tmp:
        code_dir = Path(tmp) / "code"
        extract_snapshot(snapshot.zip_bytes, code_dir)
        path = Path(config.store_dir) / RERUN_DIR / f"{name}.yaml"
        atomic_write(path, rerun_spec_text(repro, target=chosen, run=name, job=job))
        yield Rerun(path=path, origin=f"rerun of {name} ({job}), its repro_spec.yaml ({where})", record=record,
                    code=code, component_roots=snapshot_component_roots(config, code_dir))
