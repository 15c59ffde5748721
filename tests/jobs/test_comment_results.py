"""The pull request shows results: a local job followed to its end, its comment rendered with the top runs by
hpmax and a Mermaid chart of the objective, the chart checked by Mermaid's own parser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from launcher.report.mermaid import xychart
from jobs_project import REPO, tiny_runspec

PARSER = REPO / ".venv" / "mermaid" / "parse.mjs"
HPS = "hyperparameters:\n  - name: &lr\n      ordered_tuning_values: [0.05, 0.3, 0.9]\n      tuned_value: 0.3\n"


def mermaid_parse(*diagrams: str) -> list[dict]:
    """Mermaid's parse() on each diagram (tools/mermaid, installed by `make test`)."""
    if not PARSER.is_file() or not shutil.which("node"):
        pytest.fail("Mermaid's parser is not installed: run `make .venv/mermaid/.installed` (make test does)")
    proc = subprocess.run(["node", str(PARSER)], input=json.dumps(list(diagrams)), capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(proc.stdout)


def mermaid_blocks(body: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", body, flags=re.S)


def test_a_followed_job_ends_with_its_results_and_chart_in_the_comment(project, tmp_path):
    project.write("runspecs/hp.yaml", tiny_runspec(hp_tuning="grid", total_runs=3, per_node=3, iters=1000,
                                                    report=100, hyperparameters=HPS,
                                                    stage_extra="      learning_rate: *lr\n"))
    launch = project.cli("launch", "runspecs/hp.yaml", "--format", "json", check=True)  # follows to the end
    launch_json = tmp_path / "launch.json"
    launch_json.write_text(launch.stdout)
    result = json.loads(launch.stdout)
    assert result["results"]["status"] == "completed" and len(result["results"]["top"]) == 3
    body = project.cli("comment", "--runspec", "runspecs/hp.yaml", "--launch-json", launch_json, check=True).stdout
    assert "### `runspecs/hp.yaml`: launched as **job1**, completed" in body
    runs = project.json("runs", "job1", "--sort", "hpmax", "--reverse")["runs"]
    from launcher.report.numbers import fmt

    # the top-runs table: best first, the one number format, the HP column
    table = [line for line in body.splitlines() if re.match(r"^\| [123] \|", line)]
    assert [line.split("|")[2].strip() for line in table] == [f"`{r['run']}`" for r in runs]
    assert [line.split("|")[3].strip() for line in table] == [fmt(r["hpmax"]) for r in runs]
    assert f"best hpmax **{fmt(runs[0]['hpmax'])}**" in body and "| `lr` |" in body
    (chart,) = mermaid_blocks(body)
    assert chart.startswith("xychart-beta\n") and chart.count("\n  line [") == 3  # mean, max, min
    assert mermaid_parse(chart) == [{"ok": True, "type": "xychart"}]
    assert "launcher logs job1" not in body and "launcher plot job1" in body
    assert "Spot" not in body  # a local target has no Spot nodes
    # the same results read later from the store (`launcher comment --job`, as the ledger refresh does)
    later = project.cli("comment", "--job", "job1", check=True).stdout
    assert mermaid_blocks(later) == [chart] and "runspecs/hp.yaml" in later


def test_the_parser_rejects_a_broken_chart_and_labels_cannot_break_out():
    broken = "xychart-beta\n  x-axis \"iters\" [1, 2\n  line [0.1, 0.2]\n"
    hostile = xychart(title='job1: "rew"\n```', x_label="it\"ers", xs=[1.0, 2.5], y_label="r`e`w",
                      series=[[0.1, float("1e-7")], [0.2, 0.3]])
    assert [r["ok"] for r in mermaid_parse(broken, hostile)] == [False, True]
    assert "```" not in hostile and '"it\'ers"' in hostile


def test_a_running_job_shows_no_results_and_a_failed_run_shows_its_reason():
    from launcher.report.comment import CommentInput, render_comment

    launch = {"job": "job3", "status": "launched", "target": "local", "backend": "local", "runs": ["run9.1"],
              "low_priority": True}
    body = render_comment(CommentInput(runspec="r.yaml", launch=launch))
    assert "Results" not in body and "launcher logs run9.1" in body and "Spot" not in body
    results = {"job": "job3", "status": "failed", "summary": {"status": "failed", "runs_done": 1, "runs_total": 1,
                                                                "runs_failed": 1, "best_hpmax": None},
               "top": [], "failures": [{"run": "run9.1", "status": "failed",
                                        "reason": "ComponentError: no model at `x` @admin"}], "chart": None}
    body = render_comment(CommentInput(runspec="r.yaml", launch=launch, results=results))
    assert "launched as **job3**, failed" in body and "best hpmax **n/a**" in body
    # inert even inside the code span: the mention is broken by a word joiner (a pasted copy mentions nobody)
    assert "- `run9.1` `failed`: `ComponentError: no model at 'x' @\u2060admin`" in body


def test_the_ledger_refresh_puts_a_finished_jobs_results_on_its_pull_request(project, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "github"))
    from gh_helpers import FakeGitHub

    project.write("runspecs/t.yaml", tiny_runspec(total_runs=2, per_node=2))
    project.cli("launch", "runspecs/t.yaml", "--detach", "--origin", "PR #5", check=True)
    project.wait("job1")
    text = project.cli("ledger", "refresh", "--json-out", tmp_path / "refresh.json", check=True).stdout
    assert "job1: " in text and "completed" in text  # the log keeps its text; the JSON goes to the file
    assert "job1" in json.loads((tmp_path / "refresh.json").read_text())["changed"]
    fake = FakeGitHub().start()
    try:
        env = {"GITHUB_API_URL": fake.url, "GITHUB_TOKEN": fake.token, "GITHUB_REPOSITORY": fake.repo,
               "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
        out = project.cli("comment", "--finished", tmp_path / "refresh.json", "--post", env=env, check=True).stdout
        assert "job1: comment created (PR #5)" in out
        (comment,) = fake.comments[5]
        assert "**job1**, completed" in comment["body"] and "best hpmax **" in comment["body"]
        (chart,) = mermaid_blocks(comment["body"])
        assert mermaid_parse(chart)[0]["ok"]
        assert comment["body"] in (tmp_path / "summary.md").read_text()  # the step summary gets the same
        again = project.cli("comment", "--finished", tmp_path / "refresh.json", "--post", env=env, check=True)
        assert "job1: comment unchanged" in again.stdout or "job1: comment updated" in again.stdout
        assert len(fake.comments[5]) == 1
    finally:
        fake.stop()


def test_ledger_origins_link_to_the_pull_request_or_the_workflow_run():
    from launcher.commands.comment import pr_of_origin
    from launcher.github import origin_link

    env = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r",
           "GITHUB_RUN_ID": "77"}
    assert origin_link("PR #12", env) == "[PR #12](https://github.com/o/r/pull/12)"
    assert origin_link("dispatch by @al", env) == "[dispatch by @al](https://github.com/o/r/actions/runs/77)"
    assert origin_link("local: bob", {}) == "local: bob"
    assert pr_of_origin(origin_link("PR #12", env)) == 12 and pr_of_origin("PR #3") == 3
    assert pr_of_origin("dispatch by @al") is None
