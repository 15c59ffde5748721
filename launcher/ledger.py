"""jobs.md: the ledger of launched jobs, a Markdown table in the repository, one row per job.

Parse, upsert by job number, render deterministically; commit and push only the ledger file, retrying on a push
race by re-applying the upserts to the remote's newest version. The user's working tree, index and branches are
never touched: commits are built with git plumbing (a temporary index, commit-tree) on top of the fetched remote
branch and pushed by sha, so a push from a PR merge checkout or a dirty tree works the same.

Rows are sorted by job number, newest first. A row is replaced as a whole on upsert, except that an incoming row
without a description keeps the description already in the file (so hand edits survive status updates).
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from launcher.diagnostics import ERROR, Diagnostic, LauncherError, did_you_mean
from launcher.jobs.numbering import JOB_NAME_RE

#: Header cells, in order; the first column is the job name.
COLUMNS = ("job", "launched (UTC)", "runspec", "content hash", "commit", "target", "runs", "hp_tuning", "status",
           "best hpmax", "description", "origin")
#: LedgerRow fields, one per column, same order.
FIELDS = ("job", "launched", "runspec", "content_hash", "commit", "target", "runs", "hp_tuning", "status",
          "best_hpmax", "description", "origin")
SHORT_HASH = 12
HEADING = "# Jobs"
NOTE = "Written by runspec-launcher; edit descriptions freely, rows are upserted by job number."
DEFAULT_PREAMBLE = f"{HEADING}\n\n{NOTE}\n\n"
#: A row in one of these states is not refreshed any more.
FINAL_STATUSES = frozenset({"completed", "succeeded", "failed", "cancelled", "canceled", "lost", "removed",
                            "error", "killed", "aborted", "terminated", "deleted", "done"})
COMMIT_SUFFIX = " [skip ci]"  # a ledger commit is data, not code: no workflow needs to run for it

_HEX_RE = re.compile(r"^[0-9a-f]{13,}$")
_LINK_RE = re.compile(r"^\[(.*)\]\((.*)\)$")
_DELIM_CELL_RE = re.compile(r"^:?-{1,}:?$")


# -- rows ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LedgerRow:
    job: str
    launched: str = ""  # "2025-05-01 12:34" (UTC)
    runspec: str = ""  # path relative to the ledger's folder; rendered as a link
    content_hash: str = ""
    commit: str = ""
    target: str = ""
    runs: str = ""  # "20 (5 × 4)": total runs (nodes × runs per node)
    hp_tuning: str = ""
    status: str = ""
    best_hpmax: str = ""
    description: str = ""
    origin: str = ""  # "PR #12", "dispatch by @alice", "local: bob"

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            value = "" if value is None else str(value)
            if name in ("content_hash", "commit") and _HEX_RE.match(value.lower()):
                value = value[:SHORT_HASH]  # the ledger shows short hashes; keep the row equal to what is written
            object.__setattr__(self, name, value.strip())
        if not JOB_NAME_RE.match(self.job):
            raise ValueError(f"job must be a job name like 'job12', not {self.job!r}")

    @property
    def number(self) -> int:
        return int(self.job[3:])

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "row") -> "LedgerRow":
        """A row from the JSON a launch writes; unknown or missing keys are a LauncherError."""
        if not isinstance(data, dict):
            raise LauncherError(f"{source}: a ledger row must be a JSON object, not {type(data).__name__}")
        unknown = [k for k in data if k not in FIELDS]
        if unknown:
            raise LauncherError(f"{source}: unknown ledger field '{unknown[0]}'",
                                hint=did_you_mean(unknown[0], FIELDS) or f"fields: {', '.join(FIELDS)}")
        if "job" not in data:
            raise LauncherError(f"{source}: a ledger row needs 'job' (e.g. \"job12\")")
        try:
            return cls(**{k: ("" if v is None else v) for k, v in data.items()})
        except ValueError as exc:
            raise LauncherError(f"{source}: {exc}") from None

    def is_final(self) -> bool:
        return bool(FINAL_STATUSES.intersection(re.findall(r"[a-z]+", self.status.lower())))


def format_runs(total_runs: int, nodes: int | None = None, runs_per_node: int | None = None) -> str:
    """'20 (5 × 4)' or just '20'."""
    if nodes and runs_per_node:
        return f"{total_runs} ({nodes} × {runs_per_node})"
    return str(total_runs)


def format_hpmax(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        from launcher.report.numbers import fmt  # one number format: the runs table's, the comment's

        return fmt(float(value))
    return str(value)


def format_launched(when=None) -> str:
    """'2025-05-01 12:34' in UTC, from a datetime, epoch seconds or now."""
    from datetime import datetime, timezone

    if when is None:
        when = datetime.now(timezone.utc)
    elif isinstance(when, (int, float)):
        when = datetime.fromtimestamp(when, timezone.utc)
    elif when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M")


def default_origin(env: dict | None = None) -> str:
    """Where a launch came from, for the origin column: 'PR #12', 'dispatch by @alice', 'push by @bob', 'local: bob'."""
    import getpass
    import json

    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        event, actor = env.get("GITHUB_EVENT_NAME", ""), env.get("GITHUB_ACTOR", "")
        if event.startswith("pull_request"):
            number = ""
            try:
                with open(env.get("GITHUB_EVENT_PATH", ""), encoding="utf-8") as fh:
                    number = str(json.load(fh).get("pull_request", {}).get("number", ""))
            except (OSError, ValueError, AttributeError):
                pass
            return f"PR #{number}" if number else "PR"
        if event == "workflow_dispatch":
            return f"dispatch by @{actor}" if actor else "dispatch"
        return f"{event or 'workflow'} by @{actor}" if actor else (event or "workflow")
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"local: {user}"


# -- the table -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ledger:
    rows: tuple[LedgerRow, ...] = ()
    preamble: str = DEFAULT_PREAMBLE  # everything above the table, as written
    postamble: str = ""  # everything below it, as written

    def get(self, job: str) -> LedgerRow | None:
        for row in self.rows:
            if row.job == job:
                return row
        return None

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows]}


class LedgerError(LauncherError):
    """The file is not a ledger this launcher can update; it is left as it is."""

    def __init__(self, file: str, line: int, message: str, hint: str, code: str) -> None:
        self.file, self.line = file, line
        where = f"{file}:{line}" if line else file
        # The message carries file:line itself (callers print it as is); the Diagnostic is for JSON reporters.
        super().__init__(f"{where}: {message} (the ledger was left unchanged)", hint=hint)
        self.code = code
        self.diagnostic = Diagnostic(code, ERROR, message, file, line, 0, hint=hint)


def escape_cell(value: str) -> str:
    """Cell text: '|' -> '\\|', line breaks -> '<br>' (a table row is one line)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("|", "\\|").replace("\n", "<br>")


def unescape_cell(text: str) -> str:
    return text.replace("<br>", "\n").replace("\\|", "|")


def _split_row(line: str) -> list[str]:
    """Cells of a table line; a '|' preceded by a backslash is part of the cell."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells, current, i = [], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            current.append("\\|")
            i += 2
            continue
        if ch == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    cells.append("".join(current).strip())
    return cells


def _is_table_line(line: str) -> bool:
    return line.lstrip(" ").startswith("|") and len(line) - len(line.lstrip(" ")) < 4


def _runspec_from_cell(cell: str) -> str:
    m = _LINK_RE.match(cell)
    if m and unquote(m.group(2)) == m.group(1):
        return m.group(1)
    return cell  # hand-written text (or a link with its own label): kept as written


def _runspec_cell(value: str) -> str:
    if not value or value.startswith("["):
        return value
    return f"[{value}]({quote(value, safe='/._-~')})"


def parse_ledger(text: str | Path, *, file: str = "jobs.md") -> Ledger:
    """The ledger in text (or in the file at a Path: an empty ledger when it does not exist).

    LedgerError (file:line, hint) when it cannot be updated safely."""
    if isinstance(text, Path):
        return read_ledger(text)
    if not text.strip():
        return Ledger()
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _is_table_line(line)), None)
    if start is None:
        raise LedgerError(file, 0, "no ledger table found (a header row '| job | launched (UTC) | ...' is missing)",
                          "this file is not a runspec-launcher ledger: move it away, or set [tool.launcher] "
                          "ledger to another file name", "LG101")
    header = [c.lower() for c in _split_row(lines[start])]
    header = [" ".join(c.split()) for c in header]
    expected = [c.lower() for c in COLUMNS]  # case and spacing of the header are free
    if header != expected:
        if len(header) != len(COLUMNS):
            what = f"the header has {len(header)} columns, expected {len(COLUMNS)}"
        else:
            bad = next(i for i, (a, b) in enumerate(zip(header, expected)) if a != b)
            what = f"header column {bad + 1} is '{header[bad]}', expected '{COLUMNS[bad]}'"
        raise LedgerError(file, start + 1, what, "the header must be: | " + " | ".join(COLUMNS) + " |", "LG102")
    if start + 1 >= len(lines) or not _is_table_line(lines[start + 1]) or not all(
            _DELIM_CELL_RE.match(c) for c in _split_row(lines[start + 1])):
        raise LedgerError(file, start + 2, "the line under the header must be the delimiter row '|---|---|...'",
                          "restore the delimiter row: | " + " | ".join("---" for _ in COLUMNS) + " |", "LG103")
    rows: list[LedgerRow] = []
    seen: dict[str, int] = {}
    end = start + 2
    while end < len(lines) and _is_table_line(lines[end]):
        lineno = end + 1
        cells = _split_row(lines[end])
        if len(cells) != len(COLUMNS):
            raise LedgerError(file, lineno, f"the row has {len(cells)} cells, expected {len(COLUMNS)}",
                              "a '|' inside a cell must be written '\\|'; every row needs one cell per column",
                              "LG104")
        if not JOB_NAME_RE.match(cells[0]):
            raise LedgerError(file, lineno, f"the first cell is '{cells[0]}', not a job name like 'job12'",
                              "the first column holds the job name; fix or remove this row", "LG105")
        if cells[0] in seen:
            raise LedgerError(file, lineno, f"{cells[0]} is listed twice (first on line {seen[cells[0]]})",
                              "keep one row per job: delete one of them", "LG106")
        seen[cells[0]] = lineno
        values = [unescape_cell(c) for c in cells]
        values[FIELDS.index("runspec")] = _runspec_from_cell(values[FIELDS.index("runspec")])
        rows.append(LedgerRow(**dict(zip(FIELDS, values))))
        end += 1
    return Ledger(rows=tuple(rows), preamble="".join(lines[:start]), postamble="".join(lines[end:]))


def render(ledger: Ledger) -> str:
    """The file text: preamble, header, delimiter, one line per row (in ledger order), postamble."""
    out = [ledger.preamble,
           "| " + " | ".join(COLUMNS) + " |\n",
           "|" + "|".join("---" for _ in COLUMNS) + "|\n"]
    for row in ledger.rows:
        values = [getattr(row, f) for f in FIELDS]
        values[FIELDS.index("runspec")] = _runspec_cell(row.runspec)
        out.append("| " + " | ".join(escape_cell(v) for v in values) + " |\n")
    out.append(ledger.postamble)
    return "".join(out)


def with_summary(row: LedgerRow, summary: dict) -> LedgerRow:
    """row with the status and best hpmax of a job summary (launcher.jobs.status.job_summary)."""
    status = summary.get("status")
    if not status or status == "unknown":
        return row
    return dataclasses.replace(row, status=str(status),
                               best_hpmax=format_hpmax(summary.get("best_hpmax")) or row.best_hpmax)


def _sorted(rows: Iterable[LedgerRow]) -> tuple[LedgerRow, ...]:
    return tuple(sorted(rows, key=lambda r: r.number, reverse=True))


def upsert(ledger: Ledger, row: LedgerRow) -> Ledger:
    """A new ledger with row in place of the one with its job number (or added); newest job first."""
    old = ledger.get(row.job)
    if old is not None and not row.description and old.description:
        row = dataclasses.replace(row, description=old.description)
    rows = [r for r in ledger.rows if r.job != row.job] + [row]
    return dataclasses.replace(ledger, rows=_sorted(rows))


def _same_hash(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return bool(a) and bool(b) and min(len(a), len(b)) >= 7 and (a.startswith(b) or b.startswith(a))


def find_launched(ledger: Ledger, content_hash: str, commit: str, target: str) -> LedgerRow | None:
    """The newest row that launched this content at this commit on this target (hashes compared by prefix)."""
    for row in sorted(ledger.rows, key=lambda r: r.number, reverse=True):
        if row.target == target and _same_hash(row.content_hash, content_hash) and _same_hash(row.commit, commit):
            return row
    return None


def read_ledger(path: str | Path, *, display: str | None = None) -> Ledger:
    """The ledger file at path; an empty ledger when the file does not exist."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Ledger()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LauncherError(f"cannot read the ledger {display or path}: {reason}",
                            hint="the ledger is a UTF-8 Markdown file (jobs.md); name it with --ledger FILE or "
                                 "[tool.launcher] ledger") from None
    return parse_ledger(text, file=display or str(path))


def write_ledger(path: str | Path, ledger: Ledger) -> None:
    from launcher.store.local import atomic_write

    atomic_write(Path(path), render(ledger).encode("utf-8"), durable=True)


def update_ledger_file(path: str | Path, update: Callable[[Ledger], Ledger], *,
                       lock_dir: str | Path | None = None, display: str | None = None) -> tuple[Ledger, bool]:
    """Read, update and atomically rewrite a local ledger file under an exclusive lock; (new ledger, written).

    Local launches and refreshes on one machine take the same lock (lock_dir/ledger.lock, by default in the
    store folder, which is git-ignored), so none of their rows is lost. An unparseable file is left alone."""
    import fcntl

    path = Path(path)
    lock_dir = Path(lock_dir) if lock_dir is not None else path.parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        ledger = read_ledger(path, display=display)
        new = update(ledger)
        if new == ledger:
            return new, False
        write_ledger(path, new)
        return new, True
    finally:
        os.close(fd)  # releases the lock


# -- refresh ---------------------------------------------------------------------------------------------------
@dataclass
class RowRefresh:
    job: str
    status: tuple[str, str]  # (before, after)
    best_hpmax: tuple[str, str]
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.status[0] != self.status[1] or self.best_hpmax[0] != self.best_hpmax[1]

    def to_dict(self) -> dict:
        return {"job": self.job, "changed": self.changed, "status_before": self.status[0],
                "status": self.status[1], "best_hpmax_before": self.best_hpmax[0], "best_hpmax": self.best_hpmax[1],
                "note": self.note}


def refresh_ledger(ledger: Ledger, summary: Callable[[LedgerRow], dict | None]) -> tuple[Ledger, list[RowRefresh]]:
    """Ask summary(row) -> {status, best_hpmax} (or None: unknown) for every row not final; update those rows.

    Only the status and best hpmax cells change; everything else of the row (hand edits too) stays."""
    results: list[RowRefresh] = []
    rows = []
    for row in ledger.rows:
        if row.is_final():
            rows.append(row)
            continue
        try:
            info = summary(row)
        except LauncherError as exc:
            info, note = None, exc.message
        else:
            note = ""
        if not info or info.get("status") in (None, "", "unknown"):
            results.append(RowRefresh(row.job, (row.status, row.status), (row.best_hpmax, row.best_hpmax),
                                      note or "not found in the store"))
            rows.append(row)
            continue
        new = with_summary(row, info)
        results.append(RowRefresh(row.job, (row.status, new.status), (row.best_hpmax, new.best_hpmax)))
        rows.append(new)
    return dataclasses.replace(ledger, rows=tuple(rows)), results


# -- commit and push -------------------------------------------------------------------------------------------
@dataclass
class PushResult:
    remote: str
    branch: str
    ledger: str  # path inside the repository
    jobs: list[str]
    changed: bool  # False: the remote ledger already had these rows, nothing was pushed
    commit: str = ""  # the pushed commit
    base: str = ""  # the remote tip it was built on
    attempts: int = 0
    checkout_updated: bool = False  # the local branch was fast-forwarded to the pushed commit
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_message(jobs: list[str], verb: str = "record") -> str:
    shown = ", ".join(jobs[:8]) + (f" and {len(jobs) - 8} more" if len(jobs) > 8 else "")
    return f"ledger: {verb} {shown or 'jobs'}{COMMIT_SUFFIX}"


def push_ledger(repo_dir: str | Path, ledger_path: str | Path, rows_to_upsert: Iterable[LedgerRow], *,
                remote: str = "origin", branch: str | None = None, message: str | None = None, retries: int = 5,
                backoff: float = 0.2, on_retry: Callable[[int, float], None] | None = None) -> PushResult:
    """Upsert rows into the remote branch's ledger, commit only that file, push; retry on a push race."""
    rows = list(rows_to_upsert)

    def update(ledger: Ledger) -> Ledger:
        for row in rows:
            ledger = upsert(ledger, row)
        return ledger

    jobs = [r.job for r in rows]
    return push_ledger_update(repo_dir, ledger_path, update, jobs=jobs, remote=remote, branch=branch,
                              message=message or default_message(jobs), retries=retries, backoff=backoff,
                              on_retry=on_retry)


def push_ledger_update(repo_dir: str | Path, ledger_path: str | Path, update: Callable[[Ledger], Ledger], *,
                       jobs: list[str], remote: str = "origin", branch: str | None = None, message: str = "",
                       retries: int = 5, backoff: float = 0.2,
                       on_retry: Callable[[int, float], None] | None = None) -> PushResult:
    """The retry loop: fetch the branch, apply update() to its ledger, commit on top, push without force.

    A rejected push (someone pushed in between) starts over from the new remote tip, up to `retries` more times
    with jittered exponential backoff; any other failure stops at once. on_retry(next_attempt, wait_seconds)
    lets a command show progress (this module prints nothing)."""
    from launcher import gitutil

    root = gitutil.repo_root(repo_dir)
    rel = repo_relative(root, ledger_path)
    if gitutil.git(["remote", "get-url", remote], root, check=False).returncode != 0:
        raise LauncherError(f"git remote '{remote}' is not configured in {root}",
                            hint="pass --remote NAME, or add it: git remote add origin URL")
    branch = branch or default_branch(root, remote)
    identity = gitutil.identity_config(root)
    result = PushResult(remote=remote, branch=branch, ledger=rel, jobs=list(jobs), changed=False)
    # A private ref per call: concurrent pushes from one clone never fight over refs/remotes/<remote>/<branch>.
    scratch = f"refs/launcher/ledger-{os.getpid()}-{random.getrandbits(32):08x}"
    try:
        for attempt in range(1, retries + 2):
            result.attempts = attempt
            started = time.monotonic()
            tip = _fetch_tip(root, remote, branch, scratch)
            before = _show(root, tip, rel)
            ledger = parse_ledger(before, file=f"{rel} on {remote}/{branch}") if before is not None else Ledger()
            text = render(update(ledger))
            if text == before:
                result.base, result.changed = tip, False
                result.notes.append(f"{remote}/{branch}:{rel} already has these rows; nothing to push")
                return result
            commit = _commit_file(root, tip, rel, text, message or default_message(jobs), identity)
            if _push(root, remote, commit, branch):
                result.changed, result.commit, result.base = True, commit, tip
                result.checkout_updated = _fast_forward_checkout(root, branch, tip, commit, rel)
                return result
            if attempt <= retries:
                # "Full jitter" in a window that doubles per attempt, measured in units of how long one attempt
                # took here: pushers that lost the same race then spread over several attempt-lengths and stop
                # colliding in lockstep, on a fast laptop and on a loaded CI runner alike.
                unit = max(backoff, time.monotonic() - started)
                wait = random.uniform(0.1, 1.0) * min(10.0, unit * 2 ** attempt)
                if on_retry is not None:
                    on_retry(attempt + 1, wait)
                time.sleep(wait)
    finally:
        gitutil.git(["update-ref", "-d", scratch], root, check=False)
    raise LauncherError(f"could not push the ledger to {remote}/{branch}: the branch moved on every one of "
                        f"{retries + 1} attempts",
                        hint="other launches are writing the ledger at the same time; run the same "
                             "`launcher ledger push` again, or serialise ledger writes (a workflow concurrency "
                             "group 'ledger')")


def repo_relative(root: Path, ledger_path: str | Path) -> str:
    """The ledger's path inside the repository at root ('/'-separated); a LauncherError outside it."""
    p = Path(ledger_path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            raise LauncherError(f"ledger {p} is outside the repository {root}") from None
    if ".." in p.parts:
        raise LauncherError(f"ledger path {p} must stay inside the repository")
    return p.as_posix()


def default_branch(root: Path, remote: str) -> str:
    """The remote's default branch (what its HEAD points to): the ledger lives there."""
    from launcher import gitutil

    proc = gitutil.git(["symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD"], root, check=False)
    if proc.returncode == 0 and proc.stdout.strip().startswith(remote + "/"):
        return proc.stdout.strip()[len(remote) + 1:]
    proc = gitutil.git(["ls-remote", "--symref", remote, "HEAD"], root, check=False)
    m = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", proc.stdout, re.MULTILINE)
    if m:
        return m.group(1)
    raise LauncherError(f"cannot tell the default branch of remote '{remote}'",
                        hint="name the branch that holds the ledger: --branch main")


def _fetch_tip(root: Path, remote: str, branch: str, scratch: str) -> str:
    from launcher import gitutil

    proc = gitutil.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
                        f"+refs/heads/{branch}:{scratch}"], root, check=False)
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr:
            raise LauncherError(f"branch '{branch}' does not exist on remote '{remote}'",
                                hint=f"push it first (git push {remote} HEAD:{branch}) or name another with --branch")
        raise gitutil.GitError(["git", "fetch", remote, branch], proc.returncode, proc.stderr,
                               hint="check the remote's URL and your access to it")
    return gitutil.git_out(["rev-parse", scratch], root)


def _show(root: Path, commit: str, rel: str) -> str | None:
    from launcher import gitutil

    proc = gitutil.git(["cat-file", "blob", f"{commit}:{rel}"], root, check=False, text=False)
    return proc.stdout.decode("utf-8") if proc.returncode == 0 else None


def _commit_file(root: Path, parent: str, rel: str, text: str, message: str, identity: list[str]) -> str:
    """A commit on top of parent that changes only rel, built in a temporary index (no checkout, no hooks)."""
    from launcher import gitutil

    blob = gitutil.git_out(["hash-object", "-w", "--stdin"], root, input=text.encode("utf-8"))
    with tempfile.TemporaryDirectory(prefix="launcher-ledger-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        gitutil.git(["read-tree", parent], root, env=env)
        gitutil.git(["update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"], root, env=env)
        tree = gitutil.git_out(["write-tree"], root, env=env)
    return gitutil.git_out(["commit-tree", tree, "-p", parent, "-m", message], root, config=identity)


_RETRYABLE = ("fetch first", "non-fast-forward", "stale info", "cannot lock ref", "failed to update ref",
              "incorrect old value", "but expected", "failed to lock")


def _push(root: Path, remote: str, commit: str, branch: str) -> bool:
    """True when pushed; False when the remote moved (retry); GitError for anything else."""
    from launcher import gitutil

    proc = gitutil.git(["push", "--porcelain", remote, f"{commit}:refs/heads/{branch}"], root, check=False)
    if proc.returncode == 0:
        return True
    said = proc.stdout + proc.stderr
    if ("[rejected]" in said or "[remote rejected]" in said) and any(s in said for s in _RETRYABLE):
        return False
    hint = "check your push access to the branch"
    if "protected branch" in said or "GH006" in said or "rule" in said.lower():
        hint = ("the branch is protected: let the launcher's token bypass the rule, or keep the ledger on an "
                "unprotected branch (--branch)")
    raise gitutil.GitError(["git", "push", remote, f"{commit[:12]}:refs/heads/{branch}"], proc.returncode,
                           proc.stderr or proc.stdout, hint=hint)


def _fast_forward_checkout(root: Path, branch: str, base: str, commit: str, rel: str) -> bool:
    """Bring the user's checkout along when that is a pure fast-forward of the ledger file, else leave it."""
    from launcher import gitutil

    if gitutil.current_branch(root) != branch or gitutil.head_commit(root) != base:
        return False
    if gitutil.git(["diff", "--quiet", "HEAD", "--", rel], root, check=False).returncode != 0:
        return False  # local edits to the ledger: never overwrite them
    if (root / rel).exists() and gitutil.git(["ls-files", "--error-unmatch", "--", rel], root,
                                             check=False).returncode != 0:
        return False  # an untracked ledger file would block the merge
    return gitutil.git(["merge", "--ff-only", "--quiet", commit], root, check=False).returncode == 0


def rows_changed_locally(root: Path, rel: str, local: Ledger) -> list[LedgerRow]:
    """Rows of the working copy's ledger that differ from (or are missing in) the committed version at HEAD."""
    from launcher import gitutil

    head = gitutil.head_commit(root)
    committed_text = _show(root, head, rel) if head else None
    committed = parse_ledger(committed_text, file=f"{rel} at HEAD") if committed_text else Ledger()
    return [row for row in local.rows if committed.get(row.job) != row]
