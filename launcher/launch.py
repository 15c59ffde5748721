"""`launcher launch`: validate + lint -> plan -> snapshot -> upload -> submit -> record.

One function, launch(), returns a LaunchResult; it reports progress through an optional on_event callback
(the CLI prints XT's launch line from those events) and never prints by itself.

Failure rules: nothing is allocated before the runspec, the target and the code are known good; a launch that
fails before the backend took the job (e.g. a quota refusal) deletes the job's records again, so no job record,
no ledger row and nothing orphaned stays (its numbers stay used); the ledger row is written only after the
backend accepted the job, and if that write fails the job is cancelled and its record marked `removed`.

Idempotency: the same content + commit on the same target is launched once. Checked against the ledger and
against the store's index (index/launched/<content_hash>-<commit12>-<target> -> job), which a stale ledger copy
(a pull request's checkout) cannot miss.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from launcher.diagnostics import Diagnostic, LauncherError
from launcher.jobs import records as R
from launcher.layout import local_datastore

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
    low_priority: bool = False  # Spot nodes (job_launcher.low_priority)
    hold: bool = False  # keep the pool after the job (job_launcher.hold)
    cost_estimate: dict | None = None  # upper bound of the nodes' cost; None when the target has no prices
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
    results: dict | None = None  # launcher.results.job.job_results() after following: what the PR comment shows

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
        out["nodes"] = self.compute_nodes  # the name the PR comment reads
        out["exit_code"] = self.exit_code()
        return out


def failure_dict(runspec: str, target: str | None, exc: BaseException) -> dict:
    """The launch result of a launch that raised: what failed and how to fix it, for the PR comment."""
    from launcher.diagnostics import missing_extra

    error = exc if isinstance(exc, LauncherError) else missing_extra(exc)
    if error is not None:
        message, hint = error.message, error.hint
        diagnostics = [d.to_dict() for d in error.diagnostics]
    elif isinstance(exc, KeyboardInterrupt):
        message, hint, diagnostics = "the launch was interrupted", "launch again; a launch never runs twice", []
    else:
        message = f"internal error: {type(exc).__name__}: {exc}".strip().rstrip(":")
        hint, diagnostics = "this is a bug in the launcher; the workflow log has the details", []
    return {"status": "failed", "runspec": runspec, "target": target or "", "error": message, "hint": hint,
            "diagnostics": diagnostics, "exit_code": getattr(error, "exit_code", 1) if error else 3}


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
    from launcher.runspec.resolve import parse_override_value

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

    from launcher.runspec.api import resolve_file

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


@dataclass
class StoredCode:
    """The code of an earlier job, for a rerun: its snapshot as the store holds it (commit and dirty files as that
    job recorded them), where its runs started in it, and what its job record should add (runspec, rerun_of)."""
    snapshot: object  # launcher.package.Snapshot
    working_dir: str = "."
    run_command: list[str] | None = None
    record: dict = field(default_factory=dict)


def launch(runspec: str | Path, *, config, target: str | None = None, overrides: dict[str, str] | None = None,
           component_roots: list | None = None, force: bool = False, allow_dirty: bool = False,
           origin: str | None = None, known_jobs: str | Path | None = None,
           on_event: Callable[[str, object], None] | None = None, code: StoredCode | None = None) -> LaunchResult:
    """code: run that stored code instead of a snapshot of the project's working tree (a rerun)."""
    from launcher.backends import get_backend
    from launcher.jobs.numbering import next_job_name, next_run_names
    from launcher.jobs.plan import build_plan, launcher_settings, stage_iterations
    from launcher.package import build_snapshot, upload_snapshot
    from launcher.runspec.api import check_files, resolve_file

    emit = on_event or (lambda kind, value: None)
    overrides = dict(overrides or {})
    path = Path(runspec)
    if not path.is_file():
        raise LauncherError(f"runspec not found: {runspec}", hint="give the path of a runspec .yaml file")
    shown = _display_path(path, config.project_dir)
    roots = config.roots_with(component_roots or [])

    # 1. validate + lint: errors stop, warnings are shown
    check = check_files([path], component_roots=roots, do_lint=True, target_names=set(config.targets),
                        require_components=True)
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
    result.low_priority, result.hold = settings["low_priority"], settings["hold"]
    if not settings["enabled"]:
        result.status = DISABLED
        result.message = (f"the job_launcher section of {shown} is not enabled: nothing to launch "
                          "(set job_launcher.enabled: 1, or run it here with `launcher run`)")
        return result

    # 2. target and code
    target_name = target or settings["compute_target"]
    tgt = config.target(target_name)
    result.target, result.backend, result.workspace = tgt.name, tgt.backend, config.workspace
    refuse_local_with_token(tgt)
    if code is None:
        snapshot = build_snapshot(config.project_dir, extras=config.code_extras, allow_dirty=allow_dirty,
                                  exclude=snapshot_excludes(config), run_outputs=run_output_paths(config))
        check_run_command_script(config, snapshot)
        working_dir, run_command = config.working_dir, config.run_command
    else:
        snapshot, working_dir, run_command = code.snapshot, code.working_dir, code.run_command
    dirty = list(snapshot.dirty_files)
    result.code_files, result.commit, result.dirty = snapshot.file_count, snapshot.commit, bool(dirty)
    result.code_key = snapshot.key
    from launcher import ledger as L

    from launcher.github import origin_link

    result.origin = origin_link(origin or L.default_origin())  # in Actions: a link to the PR or the workflow run
    backend = get_backend(tgt, config=config)
    store = backend.store
    # Limits the service would refuse only after records exist (runs_per_node vs the VM size): before anything.
    backend.preflight(compute_nodes=settings["compute_nodes"], runs_per_node=settings["runs_per_node"],
                      low_priority=settings["low_priority"])
    result.cost_estimate = backend.cost_estimate(compute_nodes=settings["compute_nodes"],
                                                 low_priority=settings["low_priority"])

    # 3. idempotency: the same content + commit on the same target is launched once. The ledger may be a stale
    # copy (a pull request's checkout lacks the rows the default branch got since), so the store's index counts
    # too; a job whose launch failed (record `removed`) counts in neither.
    ledger = L.read_ledger(config.ledger_path, display=_display_path(config.ledger_path, config.project_dir))
    if known_jobs is not None:
        # Another ledger whose jobs count too (the default branch's, read in place by the CI launch: never copied
        # over the checkout's file, which may be a symlink the pull request committed).
        known = L.read_ledger(Path(known_jobs), display=str(known_jobs))
        ledger = L.Ledger(rows=tuple(sorted({**{r.job: r for r in ledger.rows}, **{r.job: r for r in known.rows}}
                                            .values(), key=lambda r: r.number, reverse=True)))
    if not force:
        existing = _already_launched(L, ledger, store, resolved.content_hash, snapshot.commit, tgt.name, config)
        if existing is not None:
            job, row = existing
            row = _with_current_status(L, store, row)
            result.status = EXISTS
            result.job = job
            result.ledger_row = row.to_dict() if row is not None else None
            result.message = (f"{shown} (this content at commit {snapshot.commit[:12] or '-'}) was already launched "
                              f"on {tgt.name} as {job}: nothing launched (--force launches it again)")
            return result
    if result.cost_estimate:
        emit("cost", result.cost_estimate)

    # 4. allocate names, record, upload, submit
    # Above every job of the ledger at hand: a fresh store (a CI runner, another laptop) never reuses a number.
    result.job = next_job_name(store, above=L.highest_job(ledger))
    emit("job", result.job)
    emit("target", tgt.name)
    result.parents = next_run_names(store, config.workspace, settings["compute_nodes"])
    emit("parents", len(result.parents))
    experiment_path = resolved.data.get("experiment_path") or "../results"
    plan = build_plan(job=result.job, workspace=config.workspace, target=tgt.name, backend=tgt.backend,
                      settings=settings, parents=result.parents, hyperparameters=resolved.hyperparameters,
                      experiment_path=str(experiment_path), runspec=shown, overrides=overrides,
                      code_key=snapshot.key, run_command=run_command, working_dir=working_dir,
                      datastore=str(local_datastore(config.project_dir, config.layout)) if tgt.backend == "local"
                      else None)
    result.runs = [c.name for c in plan.children]
    result.notes = list(plan.notes)
    if snapshot.untracked:
        shown = ", ".join(snapshot.untracked[:10]) + (f" and {len(snapshot.untracked) - 10} more"
                                                      if len(snapshot.untracked) > 10 else "")
        result.notes.append(f"warning: untracked files not packed (git add them to ship them): {shown}")
    job_record = {
        "job": result.job, "status": R.SUBMITTING, "created": R.now_iso(), "runspec": shown,
        "description": resolved.description, "target": tgt.name, "backend": tgt.backend,
        "workspace": config.workspace, "content_hash": resolved.content_hash, "commit": snapshot.commit,
        "dirty": bool(dirty), "dirty_files": dirty, "code_key": snapshot.key,
        "code_files": snapshot.file_count, "overrides": overrides, "origin": result.origin, "user": _user(),
        "hp_tuning": settings["hp_tuning"], "total_runs": settings["total_runs"],
        "compute_nodes": settings["compute_nodes"], "runs_per_node": settings["runs_per_node"],
        "low_priority": settings["low_priority"], "hold": settings["hold"],
        "parents": result.parents, "runs": result.runs, "experiment_path": str(experiment_path),
        "stage_iterations": stage_iterations(resolved.data),
    }
    if result.cost_estimate:
        job_record["cost_estimate"] = result.cost_estimate
    if code is not None:
        job_record.update(code.record)
    index_key = launched_index_key(resolved.content_hash, snapshot.commit, tgt.name)
    submitted = False
    store.write_json(R.job_key(result.job, "job.json"), job_record)
    try:
        store.write_text(R.job_key(result.job, "launched_job_spec.yaml"),
                         _launched_spec_text(resolved, path, overrides, roots))
        store.write_json(R.job_key(result.job, "plan.json"), plan.to_dict())
        _key, result.uploaded_bytes = upload_snapshot(store, snapshot)
        emit("upload", (snapshot.file_count, result.uploaded_bytes))
        for name in result.parent_runs:
            emit("run", name)
        from launcher.jobs import summary as job_counts

        job_counts.start(store, result.job, job_record)  # before any run record: every change is counted
        backend.record_queued(plan)
        # Queued before submit: once submitted, the job (its supervisor) owns job.json and may finish at once.
        job_record["status"] = R.QUEUED
        job_record["submitted"] = R.now_iso()
        store.write_json(R.job_key(result.job, "job.json"), job_record)
        backend.submit(plan)
        submitted = True
        emit("submitted", result.job)
        store.write_json(index_key, {"job": result.job, "launched": R.now_iso(), "content_hash":
                                     resolved.content_hash, "commit": snapshot.commit, "target": tgt.name})
        row = _ledger_row(L, config, result.job, job_record, launched=L.format_launched())
        _upsert_ledger(L, config, row)
        result.ledger_row = row.to_dict()
    except BaseException as exc:
        _remove_job(backend, store, plan, job_record, exc, submitted=submitted, index_key=index_key)
        raise
    result.status = LAUNCHED
    result.message = f"{result.job} submitted to {tgt.name}"
    return result


def check_run_command_script(config, snapshot) -> None:
    """Refuse, before anything is allocated, a launch whose run command starts a script the snapshot lacks
    (every run of the job would fail with "can't open file"): untracked, or beside another working_dir."""
    script = config.layout.script_in_snapshot()
    if script is None or script in snapshot.files:
        return
    near = [f for f in snapshot.files if f.rsplit("/", 1)[-1] == script.rsplit("/", 1)[-1]]
    hint = (f"the snapshot has {near[0]}: set working_dir so that the run command finds it"
            if near else f"commit {script} (git add), or fix run_command / working_dir in [tool.launcher]")
    raise LauncherError(f"run_command starts {config.layout.script()} in working_dir '{config.working_dir}', but "
                        f"the code snapshot has no {script}: every run would fail", hint=hint)


#: Set to 1 to allow a local-backend launch in a GitHub Actions job that can mint an OIDC token.
ALLOW_LOCAL_WITH_TOKEN_ENV = "LAUNCHER_ALLOW_LOCAL_WITH_TOKEN"


def refuse_local_with_token(tgt, env=None) -> None:
    """The local backend runs the payload's code on this machine: never in a job that holds an OIDC token
    (ACTIONS_ID_TOKEN_REQUEST_URL is set only with `permissions: id-token: write`), where that code could
    mint the token and act as the workflow's Azure identity. Defence in depth: the workflow's launch-local
    job has no token to begin with."""
    env = os.environ if env is None else env
    if tgt.backend != "local" or not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        return
    if env.get(ALLOW_LOCAL_WITH_TOKEN_ENV) == "1":
        return
    raise LauncherError(
        f"refusing to launch on the local target '{tgt.name}' in a job that can request a GitHub OIDC token "
        "(ACTIONS_ID_TOKEN_REQUEST_URL is set): the runspec's code would run here, next to that token",
        hint="launch local targets from a job without `id-token: write` (the workflow's launch-local job), or, "
             f"if this machine holds nothing to protect, set {ALLOW_LOCAL_WITH_TOKEN_ENV}=1")


def run_output_paths(config) -> list[str]:
    """The files rl_nexus and XT write into the working dir of a local run (package.RUN_OUTPUT_NAMES), as
    project-relative paths: untracked, they never make the tree dirty."""
    import posixpath

    from launcher.package import RUN_OUTPUT_NAMES

    return [posixpath.normpath(posixpath.join(config.working_dir, n)) for n in RUN_OUTPUT_NAMES]


def snapshot_excludes(config) -> list[str]:
    """Globs the code snapshot leaves out: the ledger (the launcher's own output, rewritten by every launch),
    the temp files of a ledger write in progress, and the store folder."""
    import glob

    rel = Path(os.path.relpath(config.ledger_path, config.project_dir)).as_posix()
    folder, _, name = rel.rpartition("/")
    prefix = glob.escape(f"{folder}/") if folder else ""
    from launcher.store.local import TMP_PREFIX

    # ledger.write_ledger writes through a temp file named .tmp-<name>.<random>.tmp (the store's reserved prefix);
    # '.<name>.*.tmp' is the plain atomic-write spelling, should the ledger ever use that.
    globs = [glob.escape(rel), f"{prefix}{glob.escape(TMP_PREFIX + name)}.*", f"{prefix}.{glob.escape(name)}.*.tmp"]
    # The store folder (when it is inside the project) holds the launcher's own records, never code.
    store_rel = os.path.relpath(config.store_dir, config.project_dir)
    if not store_rel.startswith(".."):
        globs.append(glob.escape(Path(store_rel).as_posix()) + "/*")
    return globs


LAUNCHED_INDEX = "index/launched/"


def launched_index_key(content_hash: str, commit: str, target: str) -> str:
    """Store key of the index entry that names the job which launched this content at this commit on this
    target: one small object, so the check is one read, whatever the ledger copy at hand says."""
    return f"{LAUNCHED_INDEX}{content_hash}-{commit[:12] or 'nocommit'}-{target}"


def _job_status(store, job: str) -> str | None:
    """The status in the job's record; None when the store has no record of it."""
    record = store.read_json(R.job_key(job, "job.json"))
    return record.get("status") if isinstance(record, dict) else None


def _already_launched(L, ledger, store, content_hash: str, commit: str, target: str, config):
    """(job, ledger row or None) of an earlier launch of this content at this commit on this target, or None.

    A ledger row counts unless the store says its launch failed (`removed`); a store without the record (the
    fresh local store of a CI runner) does not overrule the ledger. An index entry counts when its job's
    record is in the same store and not `removed`."""
    row = L.find_launched(ledger, content_hash, commit, target)
    if row is not None and row.status != R.REMOVED and _job_status(store, row.job) != R.REMOVED:
        return row.job, row
    entry = store.read_json(launched_index_key(content_hash, commit, target))
    job = entry.get("job") if isinstance(entry, dict) else None
    if job and _job_status(store, job) not in (None, R.REMOVED):
        return job, _row_from_store(L, config, store, job)
    return None


def _with_current_status(L, store, row):
    """A ledger row (perhaps a stale copy's `submitted`) with the status the store has now, when it has one."""
    from launcher.jobs.status import job_summary

    if row is None or row.is_final() or not store.exists(R.job_key(row.job, "job.json")):
        return row
    try:
        return L.with_summary(row, job_summary(store, row.job))
    except (LauncherError, ValueError, TypeError, OSError):
        return row


def _row_from_store(L, config, store, job: str):
    """The ledger row of a job the ledger at hand lacks, rebuilt from its record and current summary, so that a
    CI step can still put it into the ledger (`--ledger-row-out`); None when the record is not readable."""
    from launcher.jobs.status import job_summary

    try:
        record = store.read_json(R.job_key(job, "job.json")) or {}
        created = R.parse_iso(record.get("created"))
        row = _ledger_row(L, config, job, record, launched=L.format_launched(created) if created else "")
        return L.with_summary(row, job_summary(store, job))
    except (LauncherError, ValueError, TypeError, OSError):
        return None


def _remove_job(backend, store, plan, job_record: dict, exc: BaseException, *, submitted: bool,
                index_key: str) -> None:
    """A launch failed after the job record was written: no orphan may stay behind.

    Refused by the backend (submit raised): nothing ran, so nothing of the job stays in the store, and
    `launcher jobs` does not show it. Failed after the backend took it (the ledger write): the job is stopped
    and its record kept, marked `removed`, its runs cancelled, since it did start."""
    from launcher.jobs.status import mark_unfinished

    job = plan.job
    try:
        if not submitted:
            # A supervisor that came up after all, or a Ctrl-C in the middle of a submission: stop it first.
            if store.exists(R.job_key(job, "supervisor.json")) or not isinstance(exc, Exception):
                backend.stop(job)
            backend.discard(plan)
            return
        entry = store.read_json(index_key) or {}
        if entry.get("job") == job:
            store.delete(index_key)
        backend.stop(job)
        job_record.update(status=R.REMOVED, ended=R.now_iso(),
                          error=f"launch failed: {getattr(exc, 'message', None) or exc!r}")
        store.write_json(R.job_key(job, "job.json"), job_record)
        mark_unfinished(store, job, R.CANCELLED, "the launch failed")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _ledger_row(L, config, job: str, record: dict, *, launched: str):
    """The ledger row of a job from its job record (job.json): the one place that maps record fields to columns,
    for a fresh launch and for a row rebuilt from the store alike."""
    runspec = os.path.relpath(config.project_dir / record.get("runspec", ""), config.ledger_path.parent)
    hp = record.get("hp_tuning", False)
    return L.LedgerRow(
        job=job, launched=launched, runspec=Path(runspec).as_posix(), content_hash=record.get("content_hash", ""),
        commit=record.get("commit", ""), target=record.get("target", ""),
        runs=L.format_runs(record.get("total_runs", 0), record.get("compute_nodes"), record.get("runs_per_node")),
        hp_tuning=str(hp).lower() if hp is False else str(hp), status="submitted",
        description=record.get("description", ""), origin=record.get("origin", ""))


def _upsert_ledger(L, config, row) -> None:
    """Read-modify-write of jobs.md under the ledger lock, so concurrent launches from one machine keep every row."""
    try:
        L.update_ledger_file(config.ledger_path, lambda ledger: L.upsert(ledger, row),
                             lock_dir=config.store_dir / "locks")
    except L.LedgerConflict as exc:
        raise L.LedgerConflict(f"{exc.message}; {row.job} was stopped and marked removed", hint=exc.hint) from None
    except OSError as exc:
        raise LauncherError(f"the ledger row of {row.job} could not be written ({exc.strerror or exc}: "
                            f"{exc.filename or config.ledger_path}); {row.job} was stopped and marked removed",
                            hint="make the ledger file and the store's locks/ folder writable, then launch again") \
            from None


def update_ledger_status(config, job: str, summary: dict) -> None:
    """After following a job to its end: its final status and best hpmax in its ledger row."""
    from launcher import ledger as L

    def update(ledger):
        row = ledger.get(job)
        return ledger if row is None else L.upsert(ledger, L.with_summary(row, summary))

    L.update_ledger_file(config.ledger_path, update, lock_dir=config.store_dir / "locks")
