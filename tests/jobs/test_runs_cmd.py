"""`launcher runs`: several jobs, --columns, --filter, --sort that must match, metric order, one number format."""

from __future__ import annotations

import pytest

from launcher.diagnostics import UsageError
from launcher.jobs.runquery import Filter, apply_filters, check_field
from launcher.report.numbers import fmt
from jobs_project import tiny_runspec

HPS = "hyperparameters:\n  - name: &lr\n      ordered_tuning_values: [0.1, 0.3, 0.5]\n      tuned_value: 0.3\n"


@pytest.fixture(scope="module")
def two_jobs(module_project):
    # the tests only read the launched job(s): launched once for the module
    project = module_project
    project.write("runspecs/a.yaml", tiny_runspec(hp_tuning="grid", total_runs=3, per_node=3, hyperparameters=HPS,
                                                   stage_extra="      learning_rate: *lr\n"))
    project.write("runspecs/b.yaml", tiny_runspec(description="second", total_runs=2, per_node=2))
    project.cli("launch", "runspecs/a.yaml", check=True)
    project.cli("launch", "runspecs/b.yaml", check=True)
    return project


def test_runs_of_several_jobs_with_chosen_columns_filters_and_sort(two_jobs):
    p = two_jobs
    both = p.json("runs", "job1", "job2")
    assert both["jobs"] == ["job1", "job2"] and len(both["runs"]) == 5
    assert len(p.json("runs", "--all", "--last", "4")["runs"]) == 4
    text = p.cli("runs", "job1", "job2", check=True).stdout.splitlines()
    assert text[0].split()[:2] == ["job", "run"]  # runs of several jobs say whose they are
    # metric columns in the stage's order: the objective (rew) first, then win, then the hours
    head = p.cli("runs", "job2", check=True).stdout.splitlines()[0].split()
    assert head[4:7] == ["s1-rew", "s1-win", "s1-hrs"]

    out = p.json("runs", "job1", "--columns", "run,lr,hpmax", "--filter", "hparams.lr>0.2", "--sort", "lr",
                 "--reverse")
    assert out["columns"] == ["run", "lr", "hpmax"]
    assert [row[1] for row in out["rows"]] == [0.5, 0.3]
    table = p.cli("runs", "job1", "--columns", "lr,run", check=True).stdout.splitlines()
    assert table[0].split() == ["lr", "run"]
    assert p.json("runs", "job1", "job2", "--filter", "status=completed", "--filter", "lr=0.1")["runs"][0][
        "hparams"] == {"lr": 0.1}


def test_a_sort_or_column_that_matches_nothing_is_an_error_with_did_you_mean(two_jobs):
    proc = two_jobs.cli("runs", "job1", "--sort", "hpmxa")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--sort 'hpmxa' matches no column" in proc.stderr and "did you mean 'hpmax'" in proc.stderr
    proc = two_jobs.cli("runs", "job1", "--columns", "run,s1-rwe")
    assert proc.returncode == 2 and "did you mean 's1-rew'" in proc.stderr
    proc = two_jobs.cli("runs", "job1", "--filter", "lr>>1")
    assert proc.returncode == 2 and "> needs a number" in proc.stderr
    proc = two_jobs.cli("runs")
    assert proc.returncode == 2 and "--all" in proc.stderr


def test_the_same_hpmax_reads_the_same_in_the_table_the_ledger_and_status(two_jobs):
    p = two_jobs
    best = p.json("status", "job1")["best_hpmax"]
    assert isinstance(best, float)
    shown = fmt(best)
    assert f"best hpmax {shown}" in p.cli("status", "job1", check=True).stdout
    row = next(line for line in (p.root / "jobs.md").read_text().splitlines() if line.startswith("| job1 "))
    assert f"| {shown} |" in row
    assert shown in p.cli("runs", "job1", "--sort", "hpmax", check=True).stdout


def test_filters():
    runs = [{"run": "run1.1", "status": "completed", "hpmax": 0.5, "hparams": {"lr": 0.1, "opt": "adam"},
             "metrics": {"s1-rew": 0.2}},
            {"run": "run1.2", "status": "failed", "hpmax": None, "hparams": {"lr": 0.3, "opt": "sgd"},
             "metrics": {}, "reason": "ValueError: bad lr"}]
    pick = lambda *e: [r["run"] for r in apply_filters(runs, list(e))]  # noqa: E731
    assert pick("hparams.lr>0.1") == ["run1.2"]
    assert pick("lr<=0.1") == ["run1.1"]
    assert pick("status!=failed") == ["run1.1"]
    assert pick("opt=sgd") == ["run1.2"]
    assert pick("hpmax>0") == ["run1.1"]  # a run without a value never passes an order test
    assert pick("reason~BAD") == ["run1.2"]
    assert pick("metrics.s1-rew>=0.2", "status=completed") == ["run1.1"]
    with pytest.raises(UsageError, match="FIELD OP VALUE"):
        Filter.parse("lr")
    with pytest.raises(UsageError, match="matches no column") as err:
        apply_filters(runs, ["hparams.lrr>1"])
    assert err.value.hint == "did you mean 'hparams.lr'?"
    check_field("metrics.hpmax", runs, "--sort")


def test_one_number_format():
    assert fmt(-0.155596) == "-0.1556" and fmt(-0.6482497309042877) == "-0.64825" and fmt(0.00007) == "0.00007"
    assert fmt(4) == "4" and fmt(1.0) == "1" and fmt(-0.000001) == "-1e-06" and fmt(None) == ""
