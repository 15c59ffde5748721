"""The agent: runs one child run on a node, with nothing but the store.

    python -m launcher.agent --store STORE JOB RUN [--work DIR] [--node NAME]

1. reads jobs/<job>/plan.json and the run's record, marks the run running (node, host, pid, start);
2. gets the job's code tree on this node (code/<sha256>.zip fetched, verified and unpacked once per job per node,
   read-only: launcher/shared_code.py) and makes <work>/<run>/code an overlay of it (symlinks; real folders only
   for working_dir and the results folder beside it, so a run's folder holds only what it writes);
3. (adaptive searches: pulls the run's values first, see launcher/hpsearch/assign.py) writes
   launched_job_spec.yaml and, when HPs were chosen, downloaded_hp_config.yaml
   (`hyperparameter-runset: {name: value}`, the rl_nexus contract) into the project's working_dir there;
4. runs `python -m launcher run launched_job_spec.yaml --seed N --run-name RUN --project CODE [--hp-config FILE]
   [--set K=V…]` (which runs the project's run_command when one is configured) with cwd CODE/<working_dir>, so
   `../results` is the results folder beside the working dir, with XT_RUN_NAME, XT_DATA_DIR ($datastore: the
   agent's own XT_DATA_DIR when the node sets one, else the local target's datastore folder) and
   LAUNCHER_XT_METRICS (where the drop-in xtlib.run appends what the run logs);
5. every few seconds mirrors changed files under ../results to runs/<run>/mirrored/, copies console.txt,
   metrics.jsonl and summary.json beside run.json, refreshes the heartbeat and latest metrics, and stops the
   run when jobs/<job>/cancel appears; once more at the end;
6. writes the final state: completed (exit 0), failed (other exit codes, with the console tail) or cancelled.

The local backend calls run_child() in threads of its supervisor; on Azure Batch each task runs this module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from launcher.jobs import records as R
from launcher.layout import XT_METRICS_ENV
from launcher.package import RUN_OUTPUT_NAMES
from launcher.shared_code import content_sha256, job_tree, remove_tree, run_tree

DEFAULT_MIRROR_INTERVAL = 3.0
HP_FILE = "downloaded_hp_config.yaml"  # rl_nexus's name for a run's HP values
XT_METRICS_FILE = "xt_metrics.jsonl"  # what the run logged through the drop-in xtlib.run (beside run.json)
# Files copied beside run.json (besides mirrored/), so monitoring finds them even when experiment_path is
# outside ../results.
_RESULT_FILES = ("metrics.jsonl", "summary.json", "repro_spec.yaml")


def open_store(url: str):
    """A store from a folder path (local store) or an https:// blob container URL (Azure)."""
    from launcher.store import open_store as _open

    return _open(url if "://" in url else Path(url).resolve())


class _Mirror:
    """Uploads the files under a folder that changed since the last pass (size or mtime)."""

    def __init__(self, store, root: Path, prefix: str) -> None:
        self.store, self.root, self.prefix = store, root, prefix
        self.seen: dict[str, tuple[int, int]] = {}
        self.uploaded_bytes = 0

    def sync(self) -> int:
        if not self.root.is_dir():
            return 0
        count = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for fname in files:
                path = Path(dirpath) / fname
                try:
                    st = path.stat()
                except FileNotFoundError:  # written and removed between walk and stat
                    continue
                rel = path.relative_to(self.root).as_posix()
                stamp = (st.st_size, st.st_mtime_ns)
                if self.seen.get(rel) == stamp:
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                self.store.write_bytes(f"{self.prefix}{rel}", data)
                self.seen[rel] = stamp
                self.uploaded_bytes += len(data)
                count += 1
        return count

    def sync_named(self, names) -> None:
        """Upload the named files directly under the folder that changed since the last pass."""
        for name in names:
            path = self.root / name
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_size, st.st_mtime_ns)
            if self.seen.get(name) != stamp:
                self.store.write_bytes(self.prefix + name, path.read_bytes())
                self.seen[name] = stamp


def read_tail(path: Path, lines: int = R.CONSOLE_TAIL_LINES, max_bytes: int = 16384) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def latest_metrics(metrics_path: Path) -> tuple[dict, int | None]:
    """XT-style names of the latest value of every metric per stage (s1-rew, s1-hrs, …) and the last iteration.

    Each metrics.jsonl line is one report: {"stage": 1, "iteration": 5000, "hours": 0.06, "<metric>": value}."""
    out: dict = {}
    iters = None
    rows = _metric_rows(metrics_path) if isinstance(metrics_path, Path) else \
        [r for p in metrics_path for r in _metric_rows(p)]
    for row in rows:
        if "metrics" not in row and ("hparams" in row or "tags" in row or "event" in row):
            continue  # the drop-in xtlib's other records
        stage = row.get("stage", 1)
        # XT names a staged metric '<stage>-<name>' (s1-rew); one logged without a stage (hpmax) keeps its name
        prefix = None if stage is None else stage if isinstance(stage, str) else f"s{stage}"
        for key in ("iteration", "iters", "iter", "step"):
            if isinstance(row.get(key), int):
                iters = row[key]
                break
        values = dict(row["metrics"]) if isinstance(row.get("metrics"), dict) else {
            k: v for k, v in row.items() if k not in ("stage", "iteration", "iters", "iter", "step", "time", "hours")}
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}-{key}" if prefix else key] = value
            elif value is None:  # a period without data: the column exists, in its defined place
                out.setdefault(f"{prefix}-{key}" if prefix else key, None)
        if prefix and isinstance(row.get("hours"), (int, float)):
            out[f"{prefix}-hrs"] = row["hours"]
    # Insertion order is the stages' order and, in each, the order the stage defined its metrics (objective
    # first); run.json is written with sorted keys, so the agent keeps this order as metric_order.
    return {k: v for k, v in out.items() if v is not None}, iters


def last_stage(exp_dir: Path) -> int | None:
    """The stage number of the run's latest report (with `iters`, how far it has got)."""
    rows = _metric_rows(exp_dir / "metrics.jsonl")
    stage = rows[-1].get("stage") if rows else None
    return stage if isinstance(stage, int) and not isinstance(stage, bool) else None


def build_argv(plan: dict, child: dict, *, has_hp_file: bool, code_dir: Path | None = None) -> list[str]:
    """`launcher run` on the launched runspec. It runs the project's run_command itself when one is configured
    (the snapshot carries the project's pyproject.toml), so both paths get the seed, HPs and overrides."""
    argv = [sys.executable, "-m", "launcher", "run", "launched_job_spec.yaml", "--seed", str(child["seed"]),
            "--run-name", child["name"]]
    if code_dir is not None:  # the snapshot's own config, never a pyproject.toml found above the work folder
        argv += ["--project", str(code_dir)]
    if has_hp_file:
        argv += ["--hp-config", HP_FILE]
    for key, value in (plan.get("overrides") or {}).items():
        argv += ["--set", f"{key}={value}"]
    return argv


def verify_content_addressed(key: str, data: bytes) -> None:
    """code/<sha256>.zip must hash to its name: a blob changed after upload is never unpacked or run."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != content_sha256(key):
        raise RuntimeError(f"code snapshot {key} was changed after upload (its sha256 is {actual}): not running it")


def _own_file(path: Path, data: bytes) -> None:
    """Write a file of the run into its overlay: a symlink to the shared tree there is replaced, never written
    through (the tree is read-only, and other runs of the job use it)."""
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _resolve_prctl():
    """libc's prctl, looked up once here in the parent: the child between fork and exec must not import or load
    anything (another thread may hold the import lock at fork time)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        prctl.restype = ctypes.c_int
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL: list = []  # [prctl or None], resolved on first use (ctypes is not needed to import this module)


def die_with_parent_preexec():
    """A preexec_fn that makes the child get SIGKILL when the thread that started it dies, so a run's process
    never outlives its agent (a preempted Batch task, a killed supervisor). None where prctl does not exist:
    there the run is stopped by the agent's own cancel handling only."""
    if not _PRCTL:
        _PRCTL.append(_resolve_prctl())
    prctl, parent = _PRCTL[0], os.getpid()
    if prctl is None:
        return None
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the agent died between fork and prctl: nobody would send the signal
            os.kill(os.getpid(), kill)

    return preexec


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_child(store, job: str, run: str, *, work_root: Path, node: str | None = None,
              cancel_event: threading.Event | None = None, mirror_interval: float = DEFAULT_MIRROR_INTERVAL,
              poll: float = 0.1, plan: dict | None = None, launched_spec: bytes | None = None,
              code_root: Path | None = None, spawn=None, remove=remove_tree) -> dict:
    """Run one child run to its end; returns its final run record (also written to the store).

    code_root: where the job's shared code trees live on this node (default <work_root>/.code); spawn: starts
    the run's process (a fork server's, launcher/forkserver.py; default a fresh interpreter); remove: how a
    completed run's folder goes (the supervisor's removes it in the background)."""
    cancel_event = cancel_event or threading.Event()
    plan = plan or store.read_json(R.job_key(job, "plan.json"))
    if not plan:
        raise RuntimeError(f"{job} has no plan in the store")
    child = next((c for c in plan["children"] if c["name"] == run), None)
    if child is None:
        raise RuntimeError(f"{run} is not a run of {job}")
    key = R.run_key(run)
    rec = store.read_json(key) or R.new_run_record(run=run, job=job, workspace=plan["workspace"],
                                                   parent=child["parent"], index=child["index"],
                                                   node=f"node{child['node']}", hparams=child["hparams"],
                                                   seed=child["seed"])
    if rec.get("status") in R.FINAL_STATES:  # cancelled while it waited for a slot
        return rec
    if cancel_event.is_set() or store.exists(R.job_key(job, "cancel")):
        rec.update(status=R.CANCELLED, ended=R.now_iso(), error="cancelled before it started")
        store.write_json(key, rec)
        return rec

    rec.update(status=R.RUNNING, started=R.now_iso(), host=R.hostname(), agent_pid=os.getpid(),
               node=node or rec.get("node"), heartbeat=R.now_iso())
    store.write_json(key, rec)
    workdir = Path(work_root) / run
    code_dir = workdir / "code"
    # Runs start in working_dir of the unpacked snapshot (rl_nexus/ of an rl_nexus checkout); XT mirrored
    # ../results from there (mirror-files: "results/**" beside the working dir).
    run_dir = code_dir / plan.get("working_dir", ".")
    results_dir = run_dir.parent / "results"
    console = workdir / "console.txt"
    xt_metrics = workdir / XT_METRICS_FILE
    proc = None
    cancelled = False
    try:
        if plan.get("search") and not child.get("hparams"):  # an adaptive search: take the next assignment
            from launcher.hpsearch.assign import pull_assignment

            child = dict(child, hparams=pull_assignment(store, plan, run))
            rec["hparams"] = child["hparams"]
            store.write_json(key, rec)
        if workdir.exists():  # a retried run starts clean
            shutil.rmtree(workdir)
        tree = job_tree(Path(code_root) if code_root else Path(work_root) / ".code", job, plan["code_key"], store)
        working_dir = Path(plan.get("working_dir", ".")).as_posix()
        if not (tree / working_dir).is_dir():
            raise RuntimeError(f"working_dir {plan.get('working_dir')!r} is not a folder of the code snapshot")
        # Real folders where the run writes: its working dir and ../results beside it (inside the code tree
        # unless working_dir is the top); everything else links to the shared, read-only tree.
        writable = [working_dir] + ([(Path(working_dir).parent / "results").as_posix()] if working_dir != "." else [])
        run_tree(tree, code_dir, writable)
        for name in RUN_OUTPUT_NAMES:  # rl_nexus writes these in its working dir, even when the snapshot has them
            if (run_dir / name).is_symlink():
                (run_dir / name).unlink()
        results_dir.mkdir(parents=True, exist_ok=True)
        spec_bytes = launched_spec if launched_spec is not None else store.read_bytes(
            R.job_key(job, "launched_job_spec.yaml"))
        if spec_bytes is None:
            raise RuntimeError(f"{job} has no launched_job_spec.yaml in the store")
        _own_file(run_dir / "launched_job_spec.yaml", spec_bytes)
        has_hp = bool(child["hparams"]) and bool(plan.get("hp_tuning"))
        if has_hp:
            from launcher.runtime.hpconfig import render_hp_config

            _own_file(run_dir / HP_FILE, render_hp_config(child["hparams"]).encode("utf-8"))
        argv = build_argv(plan, child, has_hp_file=has_hp, code_dir=code_dir)
        env = dict(os.environ, PYTHONUNBUFFERED="1", LAUNCHER_JOB=job, LAUNCHER_RUN=run,
                   XT_RUN_NAME=run)  # XT_RUN_NAME: an rl_nexus run.py executes instead of launching again
        env[XT_METRICS_ENV] = str(xt_metrics)  # what the run logs through xtlib.run
        # $datastore: what the node provides (XT_DATA_DIR in the agent's environment: the Azure node's mount),
        # else the folder the launch recorded for a local target.
        data_dir = os.environ.get("XT_DATA_DIR") or plan.get("datastore")
        if data_dir:
            env["XT_DATA_DIR"] = data_dir
        proc = (spawn or start_process)(argv, cwd=run_dir, env=env, console=console)
        rec.update(pid=proc.pid, command=argv)
        store.write_json(key, rec)

        exp_dir = (run_dir / plan.get("experiment_path", "../results")).resolve()
        mirror = _Mirror(store, results_dir, R.run_key(run, "mirrored/"))
        console_mirror = _Mirror(store, workdir, R.run_key(run, ""))
        extras = _Mirror(store, exp_dir, R.run_key(run, ""))

        def publish(final: bool, completed: bool = False) -> None:
            mirror.sync()
            console_mirror.sync_named(("console.txt", XT_METRICS_FILE))
            extras.sync_named(_RESULT_FILES)
            metrics, iters = latest_metrics([exp_dir / "metrics.jsonl", xt_metrics])
            rec.update(metrics=metrics, metric_order=list(metrics), iters=iters, stage=last_stage(exp_dir),
                       heartbeat=R.now_iso(), console_tail=read_tail(console))
            if final:
                # Only a completed run has an hpmax: it is the last stage's lifetime objective, which a run that
                # was cancelled or crashed never computed (its last raw report is not that number).
                hpmax = final_hpmax(exp_dir, console) if completed else None
                if hpmax is None and completed and _is_number(metrics.get("hpmax")):
                    hpmax = metrics["hpmax"]  # logged through xtlib.run, as under XT
                rec["hpmax"] = hpmax
                if not completed:
                    rec["reason"] = failure_reason(exp_dir, console)
            store.write_json(key, rec)

        next_tick = time.monotonic() + mirror_interval
        while True:
            try:  # wakes as soon as the run ends (a short run must not wait out a polling interval)
                proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel_event.is_set():
                cancelled = True
                _kill_group(proc)
                break
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + mirror_interval
                if store.exists(R.job_key(job, "cancel")):
                    cancelled = True
                    _kill_group(proc)
                    break
                publish(final=False)
        rc = proc.wait()
        if rc != 0 and not cancelled and (cancel_event.is_set() or store.exists(R.job_key(job, "cancel"))):
            cancelled = True  # killed by `launcher cancel` (or the supervisor stopping) before we noticed
        publish(final=True, completed=rc == 0 and not cancelled)
        if cancelled:
            rec.update(status=R.CANCELLED, error="cancelled by `launcher cancel`")
        elif rc == 0:
            rec.update(status=R.COMPLETED)
        else:
            rec.update(status=R.FAILED, error=f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}")
        rec.update(exit_code=rc, ended=R.now_iso())
    except Exception as exc:  # noqa: BLE001 - any failure of this run is recorded, the job goes on
        if proc is not None and proc.poll() is None:
            _kill_group(proc)
        rec.update(status=R.FAILED, ended=R.now_iso(), error=f"agent: {exc}",
                   console_tail=read_tail(console) or f"agent: {exc}")
    store.write_json(key, rec)
    if rec["status"] == R.COMPLETED:
        # Everything worth keeping is in the store now; a failed run's folder stays for a post-mortem.
        remove(workdir)
    return rec


def start_process(argv: list[str], *, cwd: Path, env: dict, console: Path) -> subprocess.Popen:
    """The run's process, a fresh interpreter: its own session (cancel kills the whole group) and, on Linux,
    death with its agent (the parent-death signal fires when the thread that forked it ends, and run_child waits
    for the run in that thread)."""
    with open(console, "wb") as out:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, preexec_fn=die_with_parent_preexec())


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _metric_rows(path: Path) -> list[dict]:
    """The reports in a metrics.jsonl, one dict a line; [] when the file is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if isinstance(row, dict):
            rows.append(row)
    return rows


_HPMAX_LINE = re.compile(r"^Objective .*\(hpmax\):\s*(\S+)\s*$")


def final_hpmax(exp_dir: Path, console: Path):
    """A completed run's hpmax: summary.json's (launcher run), else the last `hpmax` an rl_nexus run logged
    (its finish_run logs {x_axis: x, "hpmax": value} and prints "Objective ... (hpmax):  value"), else None.

    Never the raw last value of some metric: hpmax is a stage's lifetime objective, negated when lower is
    better, which only the run itself knows how to compute."""
    summary = _read_json(exp_dir / "summary.json") or {}
    if _is_number(summary.get("hpmax")):
        return summary["hpmax"]
    for row in reversed(_metric_rows(exp_dir / "metrics.jsonl")):
        values = row["metrics"] if isinstance(row.get("metrics"), dict) else row
        if _is_number(values.get("hpmax")):
            return values["hpmax"]
    for line in reversed(read_tail(console, lines=200).splitlines()):
        match = _HPMAX_LINE.match(line.strip())
        if match:
            try:
                return float(match.group(1))
            except ValueError:
                return None
    return None


def failure_reason(exp_dir: Path, console: Path) -> str:
    """One line saying why a run did not complete: summary.json's error (type, message, where), else the last
    exception line of the console (`ValueError: bad lr`), else ''."""
    error = (_read_json(exp_dir / "summary.json") or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        head = f"{error['type']}: {error['message']}" if error.get("type") else str(error["message"])
        return head + (f" ({error['location']})" if error.get("location") else "")
    for line in reversed(read_tail(console, lines=60).splitlines()):
        text = line.strip()
        if _EXCEPTION_LINE.match(text):
            return text
    return ""


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b:?.*$")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="store folder or blob container URL")
    parser.add_argument("--work", default=".", help="folder for run folders (default: current folder)")
    parser.add_argument("--node", default=None, help="node name recorded with the run")
    parser.add_argument("--mirror-interval", type=float, default=DEFAULT_MIRROR_INTERVAL)
    parser.add_argument("job")
    parser.add_argument("run")
    args = parser.parse_args(argv)
    store = open_store(args.store)
    stop = threading.Event()
    # Batch terminates tasks with SIGTERM: record the run as cancelled rather than lost.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rec = run_child(store, args.job, args.run, work_root=Path(args.work), node=args.node, cancel_event=stop,
                    mirror_interval=args.mirror_interval)
    print(f"{args.run}: {rec['status']}" + (f" ({rec['error']})" if rec.get("error") else ""))
    return 0 if rec["status"] == R.COMPLETED else 1


if __name__ == "__main__":
    raise SystemExit(main())
