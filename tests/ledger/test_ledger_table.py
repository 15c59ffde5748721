"""jobs.md as data: parse, render, upsert, find_launched, refresh (no git here)."""

from __future__ import annotations

import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import ledger as L
from launcher.diagnostics import LauncherError


def row(n: int, **kw) -> L.LedgerRow:
    base = dict(job=f"job{n}", launched="2025-05-01 12:00", runspec="runspecs/demo.yaml",
                content_hash="0123456789abcdef0123", commit="fedcba9876543210fedc", target="local",
                runs=L.format_runs(20, 5, 4), hp_tuning="grid", status="queued", best_hpmax="",
                description=f"run {n}", origin="local: alice")
    base.update(kw)
    return L.LedgerRow(**base)


def ledger_text(*rows: L.LedgerRow) -> str:
    ledger = L.Ledger()
    for r in rows:
        ledger = L.upsert(ledger, r)
    return L.render(ledger)


def test_rendered_ledger_has_heading_note_and_fixed_columns():
    text = ledger_text(row(1))
    lines = text.splitlines()
    assert lines[0] == "# Jobs"
    assert "edit descriptions freely, rows are upserted by job number" in lines[2]
    assert lines[4] == ("| job | launched (UTC) | runspec | content hash | commit | target | runs | hp_tuning | "
                        "status | best hpmax | description | origin |")
    assert lines[5] == "|" + "|".join(["---"] * 12) + "|"
    assert lines[6] == ("| job1 | 2025-05-01 12:00 | [runspecs/demo.yaml](runspecs/demo.yaml) | 0123456789ab | "
                        "fedcba987654 | local | 20 (5 × 4) | grid | queued |  | run 1 | local: alice |")


def test_round_trip_of_a_written_ledger_is_exact():
    text = ledger_text(row(1), row(2, description="a | b\nsecond line", runspec="runspecs/with space.yaml"),
                       row(10, best_hpmax="0.93", status="completed"))
    assert L.render(L.parse_ledger(text)) == text
    parsed = L.parse_ledger(text)
    assert parsed.get("job2").description == "a | b\nsecond line"
    assert parsed.get("job2").runspec == "runspecs/with space.yaml"
    assert "[runspecs/with space.yaml](runspecs/with%20space.yaml)" in text


def test_rows_are_sorted_newest_first_and_upsert_replaces_by_job_number():
    ledger = L.Ledger()
    for n in (3, 12, 1, 7):
        ledger = L.upsert(ledger, row(n))
    assert [r.job for r in ledger.rows] == ["job12", "job7", "job3", "job1"]
    ledger = L.upsert(ledger, row(7, status="running", description="better description"))
    assert [r.job for r in ledger.rows] == ["job12", "job7", "job3", "job1"]
    assert ledger.get("job7").status == "running"
    assert ledger.get("job7").description == "better description"
    assert sum(1 for r in ledger.rows if r.job == "job7") == 1


def test_upsert_without_description_keeps_the_hand_edited_one():
    text = ledger_text(row(4, description="original"))
    edited = text.replace("| original |", "| hand-written notes: lr too high |")
    ledger = L.upsert(L.parse_ledger(edited), row(4, description="", status="completed"))
    assert ledger.get("job4").description == "hand-written notes: lr too high"
    assert ledger.get("job4").status == "completed"


def test_hand_edits_in_other_rows_and_around_the_table_survive_an_upsert():
    text = ledger_text(row(1), row(2))
    text = text.replace("| run 1 |", "| my *notes* on job 1 |")
    text = text.replace("# Jobs\n", "# Jobs of the maze team\n") + "\nSee also the wiki.\n"
    new = L.render(L.upsert(L.parse_ledger(text), row(3)))
    assert "| my *notes* on job 1 |" in new
    assert new.startswith("# Jobs of the maze team\n")
    assert new.endswith("\nSee also the wiki.\n")
    assert [r.job for r in L.parse_ledger(new).rows] == ["job3", "job2", "job1"]


def test_hand_formatted_table_is_read():
    text = ("# Jobs\n\n"
            "|Job|Launched (UTC)|Runspec|Content Hash|Commit|Target|Runs|HP_Tuning|Status|Best HPMax|Description|Origin\n"
            "|:--|---|---|---|---|---|---|---|---|---|---|--:|\n"
            "|job5|2025-01-01 00:00|runspecs/a.yaml|abc|def|local|1|none|running||pipe \\| inside|PR #3\n")
    ledger = L.parse_ledger(text)
    r = ledger.get("job5")
    assert r.runspec == "runspecs/a.yaml" and r.description == "pipe | inside" and r.origin == "PR #3"


@pytest.mark.parametrize("mutate, line, code, words", [
    (lambda t: t.replace("| job | launched (UTC) |", "| job | launched |"), 5, "LG102", "expected"),
    (lambda t: t.replace("| job | launched (UTC) |", "| job | when |"), 5, "LG102", "'when'"),
    (lambda t: t.replace("|---|---|", "| x | y |", 1), 6, "LG103", "delimiter"),
    (lambda t: t.replace("| run 2 |", "| run | 2 |"), 7, "LG104", "13 cells"),
    (lambda t: t.replace("| job1 |", "| 1 |"), 8, "LG105", "'1'"),
    (lambda t: t.replace("| job1 |", "| job2 |"), 8, "LG106", "first on line 7"),
])
def test_unparseable_ledgers_report_file_line_and_hint(mutate, line, code, words):
    text = mutate(ledger_text(row(1), row(2)))
    with pytest.raises(L.LedgerError) as info:
        L.parse_ledger(text, file="jobs.md")
    err = info.value
    assert err.line == line and err.code == code
    assert err.message.startswith(f"jobs.md:{line}: ")
    assert words in err.message
    assert err.hint
    assert isinstance(err, LauncherError) and err.exit_code == 1


def test_a_file_without_a_table_is_refused_and_an_empty_one_is_a_new_ledger():
    with pytest.raises(L.LedgerError, match="no ledger table"):
        L.parse_ledger("# My notes\n\nnothing here\n")
    assert L.parse_ledger("").rows == ()
    assert L.parse_ledger("\n  \n").rows == ()


def test_write_ledger_is_atomic_and_read_back(tmp_path):
    path = tmp_path / "jobs.md"
    assert L.read_ledger(path).rows == ()
    ledger = L.upsert(L.Ledger(), row(1))
    L.write_ledger(path, ledger)
    assert L.read_ledger(path) == ledger
    assert L.parse_ledger(path) == ledger  # a Path is read as a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.md"]


def test_row_from_dict_checks_fields():
    r = L.LedgerRow.from_dict({"job": "job9", "best_hpmax": 0.5, "runs": 20, "commit": "a" * 40})
    assert r.best_hpmax == "0.5" and r.runs == "20" and r.commit == "a" * 12
    with pytest.raises(LauncherError, match="unknown ledger field 'stauts'") as info:
        L.LedgerRow.from_dict({"job": "job9", "stauts": "queued"})
    assert "status" in info.value.hint
    with pytest.raises(LauncherError, match="needs 'job'"):
        L.LedgerRow.from_dict({"status": "queued"})
    with pytest.raises(LauncherError, match="job name"):
        L.LedgerRow.from_dict({"job": "12"})


def test_find_launched_matches_content_commit_and_target_by_prefix():
    full_hash, full_commit = "0123456789abcdef0123" + "0" * 44, "fedcba9876543210fedc" + "1" * 20
    ledger = L.upsert(L.upsert(L.Ledger(), row(1)), row(2, target="azb-cpu"))
    assert L.find_launched(ledger, full_hash, full_commit, "local").job == "job1"
    assert L.find_launched(ledger, full_hash, full_commit, "azb-cpu").job == "job2"
    assert L.find_launched(ledger, full_hash, "9" * 40, "local") is None
    assert L.find_launched(ledger, "ffff" + full_hash[4:], full_commit, "local") is None
    assert L.find_launched(ledger, "", "", "local") is None
    newer = L.upsert(ledger, row(5))
    assert L.find_launched(newer, full_hash, full_commit, "local").job == "job5"


def test_refresh_updates_only_unfinished_rows_and_only_their_status_cells():
    ledger = L.Ledger()
    for r in (row(1, status="completed", best_hpmax="0.1"), row(2, status="running", description="mine"),
              row(3, status="queued"), row(4, status="submitted")):
        ledger = L.upsert(ledger, r)
    asked = []

    def summary(r):
        asked.append(r.job)
        return {"job2": {"status": "completed", "best_hpmax": 0.912345678},
                "job3": {"status": "queued", "best_hpmax": None},
                "job4": {"status": "unknown", "best_hpmax": None}}[r.job]

    new, changes = L.refresh_ledger(ledger, summary)
    assert sorted(asked) == ["job2", "job3", "job4"]
    assert new.get("job2").status == "completed" and new.get("job2").best_hpmax == "0.91235"  # the one number format (five decimals)
    assert new.get("job2").description == "mine"
    assert new.get("job1") == ledger.get("job1")
    by_job = {c.job: c for c in changes}
    assert by_job["job2"].changed and not by_job["job3"].changed
    assert by_job["job4"].note == "not found in the store" and new.get("job4").status == "submitted"


_UPSERT_CHILD = """
import sys, time
from pathlib import Path
from launcher import ledger as L
path, lock_dir, n, go = sys.argv[1:]
while not Path(go).exists():
    time.sleep(0.001)
L.update_ledger_file(Path(path), lambda led: L.upsert(led, L.LedgerRow(job="job" + n, status="queued")),
                     lock_dir=Path(lock_dir))
"""


def test_concurrent_local_upserts_keep_every_row(tmp_path):
    path, go = tmp_path / "jobs.md", tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    children = [subprocess.Popen([sys.executable, "-c", _UPSERT_CHILD, str(path), str(tmp_path / "locks"), str(n),
                                  str(go)], env=env, stderr=subprocess.PIPE, text=True) for n in range(1, 9)]
    go.touch()
    for child in children:
        assert child.wait(timeout=60) == 0, child.stderr.read()
    assert [r.job for r in L.read_ledger(path).rows] == [f"job{n}" for n in range(8, 0, -1)]
    unchanged, written = L.update_ledger_file(path, lambda led: led, lock_dir=tmp_path / "locks")
    assert not written and len(unchanged.rows) == 8


# Any Unicode (every line separator str.splitlines() knows included), and the fragments the escaping is about.
_FRAGMENTS = ["|", "\\", "\\|", "<br>", "\\<br>", "\n", "\r", "\r\n", "\u2028", "\u2029", "\v", "\f", "\x1c",
              "\x1d", "\x1e", "\x85", "[", "](", ")", "%", " ", "\t"]
_cell_text = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=8).map("".join)
_path_text = st.lists(st.sampled_from(_FRAGMENTS + ["/", "runspecs/", ".yaml", "ä", "a b"]) | st.text(max_size=6),
                      max_size=8).map("".join).filter(lambda p: not p.startswith("["))


@settings(max_examples=300, deadline=None)
@given(description=_cell_text, origin=_cell_text, status=_cell_text, runspec=_path_text, n=st.integers(1, 10**6))
def test_any_unicode_text_and_path_survives_render_and_parse(description, origin, status, runspec, n):
    r = row(n, description=description, origin=origin, status=status, runspec=runspec)
    text = ledger_text(r)
    assert L.render(L.parse_ledger(text)) == text
    assert L.parse_ledger(text).get(f"job{n}") == r  # exactly the row (its values as a row keeps them: stripped)
    again = L.upsert(L.parse_ledger(text), row(n + 1))  # and the file stays updatable
    assert L.parse_ledger(L.render(again)).get(f"job{n}") == r


def test_a_line_separator_in_a_description_does_not_break_the_ledger():
    """Issue 13, item 3: parse split lines with str.splitlines(), which also breaks at U+2028 and friends; a
    runspec with description "a\u2028b" then stopped every launch, push and refresh (`the row has 11 cells`)."""
    for sep in ("\u2028", "\u2029", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85"):
        text = ledger_text(row(1, description=f"a{sep}b"), row(2))
        ledger = L.parse_ledger(text)
        assert ledger.get("job1").description == f"a{sep}b"
        assert L.render(L.upsert(ledger, row(3))).count("\n") == text.count("\n") + 1


def test_upsert_refuses_a_row_of_another_launch_and_leaves_the_ledger_alone():
    ledger = L.upsert(L.Ledger(), row(1))
    for other in (row(1, content_hash="9" * 20), row(1, commit="1" * 20), row(1, launched="2025-05-02 08:00")):
        with pytest.raises(L.LedgerConflict, match="job1 is already in the ledger for another launch"):
            L.upsert(ledger, other)
    assert ledger.get("job1") == row(1)
    assert L.same_launch(row(1), row(1, status="completed", description="edited"))
    assert L.highest_job(L.upsert(ledger, row(40))) == 40 and L.highest_job(L.Ledger()) == 0


def test_a_ledger_that_is_not_a_readable_text_file_is_an_error_with_a_hint(tmp_path):
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00| job |")
    for name in ("folder.md", "binary.md"):
        with pytest.raises(LauncherError, match=f"cannot read the ledger {name}") as caught:
            L.read_ledger(tmp_path / name, display=name)
        assert "--ledger FILE" in caught.value.hint
    assert L.read_ledger(tmp_path / "missing.md") == L.Ledger()  # no file yet: an empty ledger
