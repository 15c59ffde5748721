"""The table model of jobs.md: rows, parsing, rendering, upsert, and the locked rewrite of a local ledger file.

Rows are sorted by job number, newest first. A row is replaced as a whole on upsert, except that an incoming row
without a description keeps the description already in the file (so hand edits survive status updates).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
_LINK_RE = re.compile(r"^\[(.*)\]\((.*)\)$", re.DOTALL)
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
            value = value.replace("\r\n", "\n").replace("\r", "\n")  # one line break, as the file keeps it
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
    """Cell text, one line whatever the value holds; unescape_cell gives the value back exactly.

    '\\' -> '\\\\', '|' -> '\\|', a literal '<br>' -> '\\<br>', a line break -> '<br>'. Only '\\n' (and '\\r',
    which rows never hold) ends a line of the file: Markdown's line endings, not str.splitlines()'s."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return (value.replace("\\", "\\\\").replace("|", "\\|").replace("<br>", "\\<br>")
            .replace("\n", "<br>"))


def unescape_cell(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\<br>", i):
            out.append("<br>")
            i += 5
        elif text.startswith("<br>", i):
            out.append("\n")
            i += 4
        elif text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "\\|":
            out.append(text[i + 1])
            i += 2
        else:  # any other backslash is text (a hand-written 'C:\\data')
            out.append(text[i])
            i += 1
    return "".join(out)


def _split_row(line: str) -> list[str]:
    """Cells of a table line; an escaped '|' (or an escaped backslash) is part of the cell."""
    body = line.strip(" \t\r\n")
    if body.startswith("|"):
        body = body[1:]
    cells, current, i, closed = [], [], 0, False
    while i < len(body):
        ch = body[i]
        closed = False
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "\\|":
            current.append(body[i:i + 2])
            i += 2
            continue
        if ch == "|":
            cells.append("".join(current).strip())
            current, closed = [], True
        else:
            current.append(ch)
        i += 1
    if not closed:  # no closing '|': the last cell runs to the end of the line
        cells.append("".join(current).strip())
    return cells


def _lines(text: str) -> list[str]:
    """The file's lines, ending at '\\n' only: U+2028, '\\v', '\\x85' and the like inside a cell are text."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


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
    lines = _lines(text)
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


class LedgerConflict(LauncherError):
    """A row would replace the row of another launch: refused, the ledger left as it was."""


def same_launch(a: LedgerRow, b: LedgerRow) -> bool:
    """Rows of one launch: the same job, content hash, commit and launch time (the identity of a row)."""
    return (a.job, a.content_hash, a.commit, a.launched) == (b.job, b.content_hash, b.commit, b.launched)


def upsert(ledger: Ledger, row: LedgerRow) -> Ledger:
    """A new ledger with row added, or in place of the row of the same launch; newest job first.

    A row with the job number of another launch (another content hash, commit or launch time) is a
    LedgerConflict: job numbers never repeat within a ledger, and a row is only updated by its own launch."""
    old = ledger.get(row.job)
    if old is not None and not same_launch(old, row):
        raise LedgerConflict(
            f"{row.job} is already in the ledger for another launch ({_identity(old)}); this row is {_identity(row)}",
            hint="a row is only ever updated by the launch that wrote it, and job numbers never repeat: a launch "
                 "numbers its job above every job of the ledger it reads, so this one read an older ledger (or a "
                 "forged row); launch again from the current default branch")
    if old is not None and not row.description and old.description:
        row = dataclasses.replace(row, description=old.description)
    rows = [r for r in ledger.rows if r.job != row.job] + [row]
    return dataclasses.replace(ledger, rows=_sorted(rows))


def _identity(row: LedgerRow) -> str:
    return (f"{row.runspec or 'no runspec'}, content {row.content_hash or '-'}, commit {row.commit or '-'}, "
            f"launched {row.launched or '-'}")


def highest_job(ledger: Ledger) -> int:
    """The highest job number the ledger holds (0 for none): a new launch numbers its job above it."""
    return max((r.number for r in ledger.rows), default=0)


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
    from launcher.fsutil import exclusive_lock

    path = Path(path)
    lock_dir = Path(lock_dir) if lock_dir is not None else path.parent
    with exclusive_lock(lock_dir / "ledger.lock", mode=0o644):
        ledger = read_ledger(path, display=display)
        new = update(ledger)
        if new == ledger:
            return new, False
        write_ledger(path, new)
        return new, True
