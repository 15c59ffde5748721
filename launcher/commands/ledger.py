"""`launcher ledger push|refresh|show`: the jobs.md ledger in the repository."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from launcher.commands._options import add_format, add_project

HELP = "push rows to the jobs.md ledger, refresh job statuses in it, or show it"
DESCRIPTION = """\
The jobs.md ledger: one row per launched job, upserted by job number (see docs/ledger.md).

  push     commit the ledger file alone and push it to the remote's default branch (or --branch), retrying
           when someone else pushed first. With --row-json FILE (the row a launch wrote with
           --ledger-row-out) it upserts those rows; without, it pushes the rows of your local jobs.md that
           differ from your last commit (--all: every row). Your working tree and branches are not touched.
  refresh  ask the job store for the status and best hpmax of every job whose row is not final yet
           (queued, running, ...) and rewrite those cells; --push commits the result on the remote instead.
  record   the workflow's record step: the row of a launch, built from trusted inputs (the runspec path, the
           payload checked out at the event's head commit, the target and origin), with only the job number,
           launch time, status and best hpmax taken from the launch result; then pushed as `push` does.
  show     the ledger's rows (text or JSON).

Examples:
  launcher launch runspecs/x.yaml --ledger-row-out row.json && launcher ledger push --row-json row.json
  launcher ledger refresh --push --format json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ledger_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    push = sub.add_parser("push", help="commit and push ledger rows (retries on a push race, never forces)",
                          description="Commit only the ledger file on top of the remote branch and push it.")
    _common(push)
    push.add_argument("--row-json", dest="row_json", action="append", default=[], metavar="FILE",
                      help="a ledger row as JSON (an object or a list of them; '-' reads stdin); repeatable")
    push.add_argument("--all", action="store_true",
                      help="without --row-json: push every row of the local ledger, not only the changed ones")
    _push_options(push)
    push.set_defaults(_action=_run_push)

    refresh = sub.add_parser("refresh", help="update status and best hpmax of unfinished jobs from the store",
                             description="Rewrite the status and best hpmax cells of rows that are not final.")
    _common(refresh)
    refresh.add_argument("--store", default=None, metavar="DIR",
                         help="read every job from this store folder (default: each row's target's store)")
    refresh.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    refresh.add_argument("--json-out", default=None, metavar="FILE",
                         help="also write the result as JSON to FILE (the rows that changed: `launcher comment "
                              "--finished FILE` shows the jobs that ended on their pull requests)")
    refresh.add_argument("--push", action="store_true",
                         help="refresh the ledger on the remote branch and push it, instead of the local file")
    _push_options(refresh)
    refresh.set_defaults(_action=_run_refresh)

    record = sub.add_parser("record", help="push the row of a launch, built from trusted inputs (CI record step)",
                            description="Build a launch's row from the runspec at the payload checkout's commit "
                                        "and push it; the launch result gives only job, launch time, status and "
                                        "best hpmax.")
    _common(record)
    record.add_argument("--row-json", required=True, metavar="FILE",
                        help="the row the launch wrote (--ledger-row-out); read as untrusted data")
    record.add_argument("--payload", required=True, metavar="DIR",
                        help="a checkout of the launched commit (the record job makes it itself)")
    record.add_argument("--runspec", required=True, metavar="PATH", help="the runspec, relative to the payload")
    record.add_argument("--target", required=True, metavar="NAME", help="the compute target it was launched on")
    record.add_argument("--origin", default="", metavar="TEXT", help="the origin column (e.g. 'PR #12')")
    _push_options(record)
    record.set_defaults(_action=_run_record)

    show = sub.add_parser("show", help="print the ledger's rows", description="Print the ledger's rows.")
    _common(show)
    show.set_defaults(_action=_run_show)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", default=None, metavar="FILE",
                   help="the ledger file (default: [tool.launcher] ledger, i.e. jobs.md in the project)")
    add_project(p)
    add_format(p)


def _push_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--remote", default="origin", help="git remote to push to (default: origin)")
    p.add_argument("--branch", default=None,
                   help="branch that holds the ledger (default: the remote's default branch)")
    p.add_argument("--message", default=None, help="commit message (default: 'ledger: record job12 [skip ci]')")
    p.add_argument("--retries", type=int, default=5, metavar="N",
                   help="attempts after a rejected push (default: 5, with jittered backoff)")


def run(args: argparse.Namespace) -> int:
    return args._action(args)


# -- shared -------------------------------------------------------------------------------------------------------
def _context(args):
    """(config, ledger path, repo-relative display name)."""
    import os

    from launcher.config import load_config

    cfg = load_config(project=args.project)
    path = Path(args.ledger).resolve() if args.ledger else cfg.ledger_path
    try:
        display = os.path.relpath(path)
    except ValueError:
        display = str(path)
    return cfg, path, display


def _emit(args, result, text: str) -> None:
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(text)


def _retry_notice(args):
    """A line on stderr per lost push race, only for a person at a terminal (CI logs get the final result)."""
    if not sys.stderr.isatty():
        return None
    total = args.retries + 1

    def notice(attempt: int, wait: float) -> None:
        sys.stderr.write(f"ledger: someone pushed first; attempt {attempt}/{total} in {wait:.1f} s\n")

    return notice


def _push_text(res) -> str:
    where = f"{res.remote}/{res.branch}:{res.ledger}"
    if not res.changed:
        what = f" ({', '.join(res.jobs)})" if res.jobs else ""
        return f"{where} already up to date{what}; nothing pushed\n"
    tries = f" after {res.attempts} attempts" if res.attempts > 1 else ""
    out = f"pushed {', '.join(res.jobs) or 'ledger'} to {where} as {res.commit[:12]}{tries}\n"
    if res.checkout_updated:
        out += "your checkout was fast-forwarded to it\n"
    return out


# -- push ---------------------------------------------------------------------------------------------------------
def _read_json(name: str):
    from launcher.diagnostics import LauncherError

    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LauncherError(f"cannot read row file {name}: {getattr(exc, 'strerror', None) or exc}",
                            hint="give the file that `launcher launch --ledger-row-out FILE` wrote") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LauncherError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
                            hint="the file must hold a ledger row object (launcher launch --ledger-row-out)") \
            from None


def _read_rows(files: list[str]):
    from launcher.ledger import LedgerRow

    rows = []
    for name in files:
        data = _read_json(name)
        for i, item in enumerate(data if isinstance(data, list) else [data]):
            rows.append(LedgerRow.from_dict(item, source=name if not isinstance(data, list) else f"{name}[{i}]"))
    return rows


def _run_push(args) -> int:
    from launcher import gitutil
    from launcher import ledger as L

    if args.retries < 0:
        from launcher.diagnostics import UsageError

        raise UsageError("--retries must be 0 or more")
    cfg, path, display = _context(args)
    root = gitutil.repo_root(cfg.project_dir)
    rel = L.repo_relative(root, path)
    if args.row_json:
        rows = _read_rows(args.row_json)
    else:
        local = L.read_ledger(path, display=display)
        rows = list(local.rows) if args.all else L.rows_changed_locally(root, rel, local)
        if not rows:
            res = L.PushResult(remote=args.remote, branch=args.branch or "", ledger=rel, jobs=[], changed=False,
                               notes=[f"{display} has no rows that differ from your last commit (--all pushes all)"])
            _emit(args, res, f"{display}: no changed rows to push (--all pushes every row)\n")
            return 0
    res = L.push_ledger(root, rel, rows, remote=args.remote, branch=args.branch, message=args.message,
                        retries=args.retries, on_retry=_retry_notice(args))
    _emit(args, res, _push_text(res))
    return 0


def _run_record(args) -> int:
    from launcher import gitutil
    from launcher import ledger as L
    from launcher.ledger.record import trusted_row

    cfg, path, _display = _context(args)
    root = gitutil.repo_root(cfg.project_dir)
    rel = L.repo_relative(root, path)
    claimed = _read_json(args.row_json)
    row = trusted_row(claimed, payload_dir=Path(args.payload), runspec=args.runspec, target=args.target,
                      origin=args.origin, ledger_rel=rel, source=args.row_json)
    res = L.push_ledger(root, rel, [row], remote=args.remote, branch=args.branch, message=args.message,
                        retries=args.retries, on_retry=_retry_notice(args))
    _emit(args, res, _push_text(res))
    return 0


# -- refresh ------------------------------------------------------------------------------------------------------
@dataclass
class RefreshReport:
    ledger: str
    checked: list = field(default_factory=list)  # RowRefresh
    written: bool = False
    dry_run: bool = False
    push: object = None  # PushResult

    def to_dict(self) -> dict:
        return {"ledger": self.ledger, "rows": [c.to_dict() for c in self.checked],
                "changed": [c.job for c in self.checked if c.changed], "written": self.written,
                "dry_run": self.dry_run, "push": self.push.to_dict() if self.push else None}

    def text(self) -> str:
        out = []
        for c in self.checked:
            if c.note:
                out.append(f"{c.job}: {c.note}")
            elif c.changed:
                hp = f", best hpmax {c.best_hpmax[1]}" if c.best_hpmax[1] else ""
                out.append(f"{c.job}: {c.status[0] or '-'} -> {c.status[1]}{hp}")
            else:
                out.append(f"{c.job}: {c.status[1]} (unchanged)")
        changed = sum(1 for c in self.checked if c.changed)
        tail = f"{len(self.checked)} unfinished row(s) checked, {changed} changed"
        if self.dry_run:
            tail += "; dry run, nothing written"
        elif self.push is not None:
            tail += "; " + _push_text(self.push).strip()
        elif self.written:
            tail += f"; wrote {self.ledger}"
        return "\n".join(out + [tail]) + "\n"


def _summary_source(args, cfg):
    """row -> job summary, with one store per target (cached) and one summary per job (cached)."""
    from launcher.diagnostics import LauncherError, missing_extra
    from launcher.jobs.status import job_summary

    stores: dict[str, object] = {}
    summaries: dict[str, dict | None] = {}

    def store_for(target: str):
        if target not in stores:
            if args.store:
                from launcher.store import open_store

                stores[target] = open_store(args.store, project_dir=cfg.project_dir)
            else:
                from launcher.backends import open_store

                stores[target] = open_store(cfg.target(target or "local"), cfg)
        return stores[target]

    def summary(row):
        if row.job not in summaries:
            try:
                summaries[row.job] = job_summary(store_for(row.target), row.job)
            except LauncherError:
                raise
            except Exception as exc:  # a store we cannot read must not stop the other rows
                raise missing_extra(exc) or LauncherError(f"cannot read its status: {exc}") from None
        return summaries[row.job]

    return summary


def _run_refresh(args) -> int:
    from launcher import ledger as L

    cfg, path, display = _context(args)
    summary = _summary_source(args, cfg)
    report = RefreshReport(ledger=display, dry_run=args.dry_run)

    local_jobs: set[str] = set()

    def update(ledger):
        local_jobs.update(r.job for r in ledger.rows if r.target in cfg.targets and
                          cfg.targets[r.target].backend == "local")
        new, report.checked = L.refresh_ledger(ledger, summary)
        return new

    if args.push and not args.dry_run:
        from launcher import gitutil

        root = gitutil.repo_root(cfg.project_dir)
        report.push = L.push_ledger_update(root, L.repo_relative(root, path), update, jobs=[],
                                           remote=args.remote, branch=args.branch,
                                           message=args.message or L.default_message([], "refresh statuses of"),
                                           retries=args.retries, on_retry=_retry_notice(args))
        report.push.jobs = [c.job for c in report.checked if c.changed]
        report.written = report.push.changed
    elif args.dry_run:
        update(L.read_ledger(path, display=display))
    else:
        # the same lock as a local `launcher launch` that upserts its row meanwhile
        _new, report.written = L.update_ledger_file(path, update, lock_dir=cfg.store_dir / "locks",
                                                    display=display)
    _emit(args, report, report.text())
    if args.json_out:
        from launcher.fsutil import atomic_write

        atomic_write(args.json_out, json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    return _unreadable_rows(report, local_jobs)


L_NOT_FOUND = "not found in the store"  # launcher.ledger.refresh_ledger's note for a job the store lacks


def _unreadable_rows(report, local_jobs: set[str]) -> int:
    """Rows whose status could not be read fail the refresh (exit 1), each said on stderr and, in GitHub Actions,
    as an annotation: a scheduled refresh that silently refreshed nothing would look green for ever. The rows it
    could read are refreshed (and pushed) all the same."""
    # a local target's job lives in the store of the machine that launched it: not being here is no failure
    unread = [c for c in report.checked if c.note and not (c.job in local_jobs and c.note == L_NOT_FOUND)]
    if not unread:
        return 0
    from launcher.github import format_annotation

    for c in unread:
        sys.stderr.write(f"launcher: ledger refresh: {c.job}: {c.note}\n")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            sys.stdout.write(format_annotation("error", f"{c.job}: {c.note}", title="ledger refresh") + "\n")
    sys.stderr.write(f"  {len(unread)} row(s) could not be refreshed: give this job the settings and the "
                     "credential the launch had (docs/github.md, \"The ledger workflow\")\n")
    return 1


# -- show ---------------------------------------------------------------------------------------------------------
@dataclass
class ShowReport:
    ledger: str
    rows: list

    def to_dict(self) -> dict:
        return {"ledger": self.ledger, "rows": [r.to_dict() for r in self.rows]}


def _run_show(args) -> int:
    from launcher import ledger as L

    _cfg, path, display = _context(args)
    rows = list(L.read_ledger(path, display=display).rows)
    report = ShowReport(ledger=display, rows=rows)
    cols = ("job", "launched", "target", "runs", "status", "best_hpmax", "description")
    table = [cols] + [tuple(getattr(r, c).replace("\n", " ") for c in cols) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    text = "".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() + "\n" for line in table)
    if not rows:
        text = f"{display}: no jobs recorded yet\n"
    _emit(args, report, text)
    return 0
