"""`launcher launch`: validate + lint -> plan -> snapshot -> upload -> submit -> record.

One function, launch(), returns a LaunchResult; it reports progress through an optional on_event callback
(the CLI prints XT's launch line from those events) and never prints by itself.

Failure rules: nothing is allocated before the runspec, the target and the code are known good; once a job
record exists, a failure marks it `removed` (and its runs cancelled) before the error propagates; the ledger
row is written only after the backend accepted the job, and if that write fails the job is cancelled.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from launcher.diagnostics import Diagnostic, LauncherError
from launcher.jobs import records as R

# Launch outcomes
LAUNCHED, EXISTS, INVALID, DISABLED = "launched", "exists", "invalid", "disabled"


@dataclass
class LaunchResult:
    status: str  # launched | exists | invalid | disabled
    runspec: str
    job: str = ""
    target: str = ""
    backend: str = ""
    workspace: str = ""
    parents: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    hp_tuning: str | bool = False
    total_runs: int = 0
    compute_nodes: int = 0
    runs_per_node: int = 0
    code_files: int = 0
    code_key: str = ""
    uploaded_bytes: int = 0
    commit: str = ""
    dirty: bool = False
    content_hash: str = ""
    description: str = ""
    origin: str = ""
    message: str = ""
    notes: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    ledger_row: dict | None = None
    summary: dict | None = None  # the job's summary after following it
    run_records: list[dict] = field(default_factory=list)  # the runs after following

    @property
    def parent_runs(self) -> list[str]:
        return [f"{self.workspace}/{p}" for p in self.parents]

    def exit_code(self) -> int:
        if self.status in (INVALID, DISABLED):
            return 1
        if self.summary and self.summary.get("status") in (R.FAILED, R.CANCELLED):
            return 1
        return 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["diagnostics"] = [d.to_dict() for d in self.diagnostics]
        out["parent_runs"] = self.parent_runs
        out["exit_code"] = self.exit_code()
        return out


def _display_path(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def apply_overrides_text(text: str, overrides: dict[str, str]) -> str | None:
    """The runspec text with `--set` overrides written into its string_replacements section, or None when the
    section is not in block style (then the original text is recorded and the overrides travel as --set).

    A text edit keeps comments, anchors and the hyperparameters section exactly as written."""
    if not overrides:
        return text
    from launcher.spec.resolve import parse_override_value

    def scalar(value: str) -> str:
        import json

        return json.dumps(value) if isinstance(parse_override_value(value), str) else value

    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    header = next((i for i, line in enumerate(lines) if re.match(r"^string_replacements:\s*(#.*)?$", line)), None)
    if header is None:
        if any(line.startswith("string_replacements:") for line in lines):
            return None  # flow style: {…}
        lines.append("string_replacements:  # added by launcher launch --set\n")
        header = len(lines) - 1
    end = header + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t", "#"))):
        end += 1
    indent = next((re.match(r"^(\s+)\S", lines[i]).group(1) for i in range(header + 1, end)
                   if re.match(r"^\s+[^\s#]", lines[i])), "  ")
    for key, value in overrides.items():
        new = f"{indent}{key}: {scalar(value)}  # --set\n"
        pattern = re.compile(r"^\s+" + re.escape(key) + r"\s*:")
        for i in range(header + 1, end):
            if pattern.match(lines[i]):
                lines[i] = new
                break
        else:
            lines.insert(header + 1, new)
            end += 1
    return "".join(lines)


def _launched_spec_text(resolved, path: Path, overrides: dict, roots) -> str:
    """The runspec as launched, with the overrides applied when that provably gives the same resolved spec."""
    text = resolved.source_text
    if not overrides:
        return text
    edited = apply_overrides_text(text, overrides)
    if edited is None:
        return text
    import tempfile

    from launcher.spec.api import resolve_file

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(edited, encoding="utf-8")
        try:
            again = resolve_file(probe, component_roots=roots, seed=resolved.seed)
        except LauncherError:
            return text
    return edited if again.data == resolved.data else text


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def launch(runspec: str | Path, *, config, target: str | None = None, overrides: dict[str, str] | None = None,
           component_roots: list | None = None, force: bool = False, allow_dirty: bool = False,
           origin: str | None = None, on_event: Callable[[str, object], None] | None = None) -> LaunchResult:
    from launcher.backends import get_backend
    from launcher.jobs.numbering import next_job_name, next_run_names
    from launcher.jobs.plan import build_plan, launcher_settings
    from launcher.package import build_snapshot, upload_snapshot
    from launcher.spec.api import check_files, resolve_file

    emit = on_event or (lambda kind, value: None)
    overrides = dict(overrides or {})
    path = Path(runspec)
    if not path.is_file():
        raise LauncherError(f"runspec not found: {runspec}", hint="give the path of a runspec .yaml file")
    shown = _display_path(path, config.project_dir)
    roots = config.roots_with(component_roots or [])

    # 1. validate + lint: errors stop, warnings are shown
    check = check_files([path], component_roots=roots, do_lint=True, target_names=set(config.targets))
    result = LaunchResult(status=INVALID, runspec=shown, diagnostics=list(check.diagnostics))
    if check.errors:
        result.message = f"{shown} has {len(check.errors)} error(s): nothing launched"
        return result
    if check.diagnostics:
        emit("diagnostics", list(check.diagnostics))
    resolved = resolve_file(path, component_roots=roots, overrides=overrides)
    settings = launcher_settings(resolved.data)
    result.content_hash, result.description = resolved.content_hash, resolved.description
    result.hp_tuning, result.total_runs = settings["hp_tuning"], settings["total_runs"]
    result.compute_nodes, result.runs_per_node = settings["compute_nodes"], settings["runs_per_node"]
    if not settings["enabled"]:
        result.status = DISABLED
        result.message = (f"the job_launcher section of {shown} is not enabled: nothing to launch "
                          "(set job_launcher.enabled: 1, or run it here with `launcher run`)")
        return result

    # 2. target and code
    target_name = target or settings["compute_target"]
    tgt = config.target(target_name)
    result.target, result.backend, result.workspace = tgt.name, tgt.backend, config.workspace
    snapshot = build_snapshot(config.project_dir, extras=config.code_extras, allow_dirty=True)
    # The ledger is the launcher's own output: a jobs.md written by the last launch is not a code change.
    # (Nor is the temp file of a concurrent launch writing it right now.)
    ledger_rel = Path(os.path.relpath(config.ledger_path, config.project_dir))
    ledger_tmp = (ledger_rel.parent / f".tmp-{ledger_rel.name}.").as_posix().lstrip("./") if \
        ledger_rel.parent != Path(".") else f".tmp-{ledger_rel.name}."
    dirty = [f for f in snapshot.dirty_files if f != ledger_rel.as_posix() and not f.startswith(ledger_tmp)]
    if dirty and not allow_dirty:
        shown_files = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        raise LauncherError(f"the working tree has uncommitted changes: {shown_files}",
                            hint="commit (or git-ignore) them so the job runs code that a commit names, "
                                 "or pass --allow-dirty to launch anyway (the job records the dirty files)")
    result.code_files, result.commit, result.dirty = snapshot.file_count, snapshot.commit, bool(dirty)
    result.code_key = snapshot.key
    from launcher import ledger as L

    result.origin = origin or L.default_origin()

    # 3. idempotency: the same content + commit on the same target is launched once
    if not force:
        existing = L.find_launched(L.parse_ledger(config.ledger_path), resolved.content_hash, snapshot.commit,
                                   tgt.name)
        if existing is not None:
            result.status = EXISTS
            result.job = existing.job
            result.ledger_row = _row_dict(existing)
            result.message = (f"{shown} (this content at commit {snapshot.commit[:12] or '-'}) was already launched "
                              f"on {tgt.name} as {existing.job}: nothing launched (--force launches it again)")
            return result

    # 4. allocate names, record, upload, submit
    backend = get_backend(tgt, config=config)
    store = backend.store
    result.job = next_job_name(store)
    emit("job", result.job)
    emit("target", tgt.name)
    result.parents = next_run_names(store, config.workspace, settings["compute_nodes"])
    emit("parents", len(result.parents))
    experiment_path = resolved.data.get("experiment_path") or "../results"
    plan = build_plan(job=result.job, workspace=config.workspace, target=tgt.name, backend=tgt.backend,
                      settings=settings, parents=result.parents, hyperparameters=resolved.hyperparameters,
                      experiment_path=str(experiment_path), runspec=shown, overrides=overrides,
                      code_key=snapshot.key, run_command=config.run_command)
    result.runs = [c.name for c in plan.children]
    result.notes = list(plan.notes)
    job_record = {
        "job": result.job, "status": R.SUBMITTING, "created": R.now_iso(), "runspec": shown,
        "description": resolved.description, "target": tgt.name, "backend": tgt.backend,
        "workspace": config.workspace, "content_hash": resolved.content_hash, "commit": snapshot.commit,
        "dirty": bool(dirty), "dirty_files": dirty, "code_key": snapshot.key,
        "code_files": snapshot.file_count, "overrides": overrides, "origin": result.origin, "user": _user(),
        "hp_tuning": settings["hp_tuning"], "total_runs": settings["total_runs"],
        "compute_nodes": settings["compute_nodes"], "runs_per_node": settings["runs_per_node"],
        "parents": result.parents, "runs": result.runs, "experiment_path": str(experiment_path),
    }
    store.write_json(R.job_key(result.job, "job.json"), job_record)
    try:
        store.write_text(R.job_key(result.job, "launched_job_spec.yaml"),
                         _launched_spec_text(resolved, path, overrides, roots))
        store.write_json(R.job_key(result.job, "plan.json"), plan.to_dict())
        _key, result.uploaded_bytes = upload_snapshot(store, snapshot)
        emit("upload", snapshot.file_count)
        for name in result.parent_runs:
            emit("run", name)
        backend.record_queued(plan)
        # Queued before submit: once submitted, the job (its supervisor) owns job.json and may finish at once.
        job_record["status"] = R.QUEUED
        job_record["submitted"] = R.now_iso()
        store.write_json(R.job_key(result.job, "job.json"), job_record)
        backend.submit(plan)
        emit("submitted", result.job)
        row = _ledger_row(L, result, config)
        _upsert_ledger(L, config, row)
        result.ledger_row = _row_dict(row)
    except BaseException as exc:
        _remove_job(backend, store, result.job, job_record, exc)
        raise
    result.status = LAUNCHED
    result.message = f"{result.job} submitted to {tgt.name}"
    return result


def _remove_job(backend, store, job: str, job_record: dict, exc: BaseException) -> None:
    """A launch failed after the job record was written: no orphan may stay behind."""
    from launcher.jobs.status import mark_unfinished

    try:
        if store.exists(R.job_key(job, "supervisor.json")) or job_record.get("status") != R.SUBMITTING:
            backend.request_cancel(job)
            backend._stop(job)
        job_record.update(status=R.REMOVED, ended=R.now_iso(),
                          error=f"launch failed: {getattr(exc, 'message', None) or exc!r}")
        store.write_json(R.job_key(job, "job.json"), job_record)
        mark_unfinished(store, job, R.CANCELLED, "the launch failed")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _ledger_row(L, result: LaunchResult, config):
    runspec = os.path.relpath(config.project_dir / result.runspec, config.ledger_path.parent)
    return L.LedgerRow(
        job=result.job, launched=L.format_launched(), runspec=Path(runspec).as_posix(),
        content_hash=result.content_hash, commit=result.commit, target=result.target,
        runs=L.format_runs(result.total_runs, result.compute_nodes, result.runs_per_node),
        hp_tuning=str(result.hp_tuning).lower() if result.hp_tuning is False else str(result.hp_tuning),
        status="submitted", description=result.description, origin=result.origin,
    )


def _upsert_ledger(L, config, row) -> None:
    """Read-modify-write of jobs.md under a lock, so concurrent launches from one machine keep every row."""
    import fcntl

    lock_dir = config.store_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        ledger = L.parse_ledger(config.ledger_path)
        L.write_ledger(config.ledger_path, L.upsert(ledger, row))
    finally:
        os.close(fd)


def _row_dict(row) -> dict:
    if hasattr(row, "to_dict"):
        return row.to_dict()
    return asdict(row)


def update_ledger_status(config, job: str, summary: dict) -> None:
    """After following a job to its end: its final status and best hpmax in its ledger row."""
    from launcher import ledger as L

    import fcntl

    lock_dir = config.store_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        ledger = L.parse_ledger(config.ledger_path)
        row = ledger.get(job)
        if row is None:
            return
        L.write_ledger(config.ledger_path, L.upsert(ledger, L.with_summary(row, summary)))
    finally:
        os.close(fd)
