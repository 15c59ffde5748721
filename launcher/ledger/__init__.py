"""jobs.md: the ledger of launched jobs, a Markdown table in the repository, one row per job.

table    the model: rows, parse, render, upsert (only ever by the same launch), the locked local file
push     commit only the ledger file on the remote branch and push it, retrying on a push race
refresh  status and best hpmax of unfinished jobs, from the store
"""

from launcher.ledger.push import (  # noqa: F401
    PushResult, default_branch, default_message, push_ledger, push_ledger_update, repo_relative,
    rows_changed_locally,
)
from launcher.ledger.refresh import RowRefresh, refresh_ledger  # noqa: F401
from launcher.ledger.table import (  # noqa: F401
    COLUMNS, COMMIT_SUFFIX, DEFAULT_PREAMBLE, FIELDS, FINAL_STATUSES, Ledger, LedgerConflict, LedgerError, LedgerRow,
    default_origin, escape_cell, find_launched, highest_job, same_launch, format_hpmax, format_launched, format_runs, parse_ledger, read_ledger, render,
    unescape_cell, update_ledger_file, upsert, with_summary, write_ledger,
)
