"""`launcher comment`: the body, and --post against a fake GitHub REST API on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from launcher.report.comment import COMMENT_LIMIT, CommentInput, marker, render_comment

LAUNCH = {
    "job": "job12", "target": "azb-cpu", "nodes": 5, "runs_per_node": 4, "total_runs": 20,
    "low_priority": True, "code_files": 42, "runs": ["ws1/run527", "ws1/run528"],
    "status": "submitted", "already_launched": False,
    "cost_estimate": {"total": 1.23, "currency": "USD", "basis": "5 × Standard_D2s_v3 Spot, 1 h"},
}
SMOKE = {"status": "passed", "seconds": 4.2,
         "stages": [{"name": "train", "status": "ok", "iterations": 3, "metrics": {"hpmax": 0.5}}],
         "console_tail": "iteration 3 reward 0.5"}
LINT = {"diagnostics": [
    {"code": "RS301", "severity": "warning", "message": "max_iterations is large", "file": "runspecs/x.yaml",
     "line": 14, "col": 7, "hint": "cut it for a first try"},
    {"code": "RS001", "severity": "info", "message": "fine", "file": "runspecs/x.yaml"},
]}


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_body_has_marker_facts_smoke_warnings_links_and_next_commands():
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch=LAUNCH, smoke=SMOKE, lint=LINT,
                                       run_url="https://gh.invalid/run/1", ledger_url="https://gh.invalid/jobs.md"))
    assert body.startswith("<!-- runspec-launcher: runspecs/x.yaml -->\n")
    assert "launched as **job12**" in body
    for fact in ("| Target | azb-cpu |", "| Nodes × runs per node | 5 × 4 |", "| Total runs | 20 |",
                 "| Nodes | Spot (low priority, may be preempted) |", "| Code files uploaded | 42 |",
                 "| Estimated cost | 1.23 USD (5 × Standard_D2s_v3 Spot, 1 h) |"):
        assert fact in body
    assert "`ws1/run527`, `ws1/run528`" in body
    assert "**Smoke run:** passed in 4.2 s" in body and "| train | ok | 3 | hpmax=0.5 |" in body
    assert "`runspecs/x.yaml:14` RS301 warning: max_iterations is large — cut it for a first try" in body
    assert "fine" not in body  # info findings are not warnings
    assert "[ledger row](https://gh.invalid/jobs.md)" in body and "[workflow run](https://gh.invalid/run/1)" in body
    assert "launcher status job12" in body and "launcher cancel job12" in body


def test_dedicated_nodes_and_already_launched():
    launch = {**LAUNCH, "low_priority": False, "already_launched": True}
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch=launch))
    assert "already launched as **job12**" in body and "| Nodes | dedicated |" in body


def test_not_launched_and_failed_states_say_what_to_do_next():
    body = render_comment(CommentInput(runspec="r/x.yaml", smoke={"status": "failed", "error": "boom"}))
    assert "smoke run failed" in body and "launcher smoke r/x.yaml" in body and "boom" in body
    body = render_comment(CommentInput(runspec="r/x.yaml", launch={"error": "quota exceeded"}))
    assert "launch failed" in body and "quota exceeded" in body and "never launches twice" in body
    body = render_comment(CommentInput(runspec="r/x.yaml", launch_skipped="dry run"))
    assert "not launched" in body and "dry run" in body


def test_huge_inputs_stay_under_githubs_limit_and_keep_the_marker():
    launch = {**LAUNCH, "runs": [f"ws1/run{i}" for i in range(20_000)]}
    lint = {"diagnostics": [{"severity": "warning", "message": "w" * 300 + str(i), "file": "f"}
                            for i in range(2_000)]}
    smoke = {**SMOKE, "console_tail": "x" * 500_000, "summary": "s" * 100_000}
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch=launch, smoke=smoke, lint=lint))
    assert len(body) < COMMENT_LIMIT
    assert body.startswith(marker("runspecs/x.yaml"))
    assert "launcher cancel job12" in body  # the next commands survive the shrinking


def test_marker_cannot_close_the_html_comment_early():
    assert "-->" not in marker("runspecs/a-->b.yaml")[:-4]


def test_cli_prints_the_body_without_post(run_cli, tmp_path, actions_env):
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml",
                             "--launch-json", write(tmp_path, "launch.json", LAUNCH),
                             "--smoke-json", write(tmp_path, "smoke.json", SMOKE),
                             "--lint-json", write(tmp_path, "lint.json", LINT))
    assert code == 0, err
    assert out.startswith(marker("runspecs/x.yaml")) and "job12" in out


def test_cli_missing_launch_file_means_not_launched(run_cli, tmp_path, actions_env):
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", tmp_path / "none.json")
    assert code == 0, err
    assert "produced no result" in out


def test_cli_broken_smoke_json_is_a_clear_error(run_cli, tmp_path):
    p = tmp_path / "smoke.json"
    p.write_text("{")
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--smoke-json", p)
    assert code == 1 and "cannot read the smoke JSON" in err and "Traceback" not in err


@pytest.mark.parametrize("content", ["", "{", "[1, 2]"])
def test_an_unreadable_launch_result_is_a_failed_launch_not_a_failed_comment(run_cli, tmp_path, content):
    # a shell redirect (`> launch.json`) of a launch that failed leaves an empty file: the PR must still hear why
    p = tmp_path / "launch.json"
    p.write_text(content)
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", p)
    assert code == 0, err
    assert "launch failed" in out and "**Launch error:**" in out and "**How to fix:**" in out


def test_a_launch_job_that_failed_before_any_result_gets_a_failed_comment(run_cli, tmp_path):
    missing = tmp_path / "launch.json"
    code, out, _ = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", missing,
                           "--launch-job-result", "failure skipped")
    assert code == 0 and "launch failed" in out and "launch job failed before" in out
    code, out, _ = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", missing,
                           "--launch-job-result", "skipped success")
    assert code == 0 and "validated, not launched" in out and "launch failed" not in out


def test_a_failed_launch_result_says_what_failed_and_how_to_fix_it():
    failed = {"status": "failed", "runspec": "runspecs/x.yaml", "target": "azb-cpu",
              "error": "target 'azb-cpu': vm_size is missing", "hint": "add vm_size = \"Standard_D2s_v3\""}
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch=failed))
    assert "### `runspecs/x.yaml`: launch failed" in body
    assert "**Launch error:** target 'azb-cpu': vm_size is missing" in body
    assert "**How to fix:** add vm_size" in body and "Code files uploaded" not in body


def test_an_already_launched_result_claims_no_upload():
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch={**LAUNCH, "status": "exists"}))
    assert "already launched as **job12**" in body and "Code files uploaded" not in body


@pytest.fixture
def api_env(fake_github, monkeypatch, actions_env):
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake_github.repo)
    return fake_github


@pytest.mark.slow
def test_post_creates_then_updates_exactly_one_comment_and_leaves_others_alone(run_cli, tmp_path, api_env,
                                                                              actions_env):
    fake = api_env
    # 150 comments before ours: finding it needs the second page
    for i in range(150):
        fake.add_comment(12, f"chatter {i}", "alice")
    impostor = fake.add_comment(12, marker("runspecs/x.yaml") + "\nI pasted the marker", "mallory")
    other_runspec = fake.add_comment(12, marker("runspecs/y.yaml") + "\nanother runspec", "github-actions[bot]")

    launch = write(tmp_path, "launch.json", LAUNCH)
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", launch, "--post",
                             "--pr", "12", "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    assert first["action"] == "created" and first["pr"] == 12

    launch2 = write(tmp_path, "launch2.json", {**LAUNCH, "status": "running"})
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", launch2, "--post",
                             "--pr", "12", "--format", "json")
    assert code == 0, err
    second = json.loads(out)
    assert second["action"] == "updated" and second["comment_id"] == first["comment_id"]

    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--launch-json", launch2, "--post",
                             "--pr", "12", "--format", "json")
    assert json.loads(out)["action"] == "unchanged"

    ours = [c for c in fake.comments[12] if c["body"].startswith(marker("runspecs/x.yaml"))
            and c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and "| Status | running |" in ours[0]["body"]
    assert impostor["body"].endswith("I pasted the marker")  # untouched
    assert other_runspec["body"].endswith("another runspec")
    assert len(fake.comments[12]) == 153
    assert sum(1 for m, _ in fake.calls if m == "POST") == 1
    assert "| Status | running |" in actions_env["GITHUB_STEP_SUMMARY"].read_text()  # --post also summarises


@pytest.mark.slow
def test_post_removes_a_duplicate_left_by_two_racing_runs(run_cli, tmp_path, api_env):
    fake = api_env
    a = fake.add_comment(5, marker("runspecs/x.yaml") + "\nfirst", "github-actions[bot]")
    fake.add_comment(5, marker("runspecs/x.yaml") + "\nsecond", "github-actions[bot]")
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--post", "--pr", "5",
                             "--launch-json", write(tmp_path, "l.json", LAUNCH), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["comment_id"] == a["id"]
    assert [c["id"] for c in fake.comments[5]] == [a["id"]]


@pytest.mark.slow
def test_dispatch_comments_on_the_open_pr_of_its_branch_or_skips(run_cli, tmp_path, api_env, monkeypatch):
    fake = api_env
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/feature", "inputs": {"runspec": "runspecs/x.yaml"},
                                 "repository": {"full_name": fake.repo}, "sender": {"login": "carol"}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "workflow_dispatch")
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--post", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["action"] == "skipped"
    fake.pulls.append({"number": 33, "head": {"ref": "feature"}})
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--post", "--format", "json")
    assert json.loads(out)["action"] == "created" and json.loads(out)["pr"] == 33


@pytest.mark.slow
def test_post_with_a_bad_token_is_a_clear_error(run_cli, tmp_path, api_env, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--post", "--pr", "1")
    assert code == 1 and "HTTP 401" in err and "pull-requests: write" in err and "Traceback" not in err


def test_post_without_a_token_says_what_to_set(run_cli, monkeypatch, actions_env):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    code, out, err = run_cli("comment", "--runspec", "runspecs/x.yaml", "--post", "--pr", "1")
    assert code == 1 and "GITHUB_TOKEN is not set" in err


def test_text_from_artifacts_renders_inert():
    """Issue 13, item 5: smoke.json, lint.json and a local launch's launch.json are written where the pull
    request's code ran; nothing in them may become a live link, image, HTML or @mention in the bot's comment."""
    evil = "[verify your account](https://phish.example.invalid) ![x](https://t.example.invalid/p.png) " \
           "<img src=x onerror=alert(1)> @maintainers www.example.invalid `code` | cell"
    smoke = {"result": "failed", "summary": evil, "failing_stage": evil, "error": evil,
             "stages": [{"component": evil, "status": evil, "metrics": {"k": evil}}]}
    lint = {"diagnostics": [{"severity": "warning", "message": evil, "hint": evil, "code": evil, "file": evil}]}
    launch = {"status": "launched", "job": "job3](https://phish.example.invalid)", "target": evil,
              "runs": [evil], "error": evil}
    body = render_comment(CommentInput(runspec="runspecs/x.yaml", launch=launch, smoke=smoke, lint=lint))
    import re

    outside_code = "".join(body.split("```")[0::2])  # fenced blocks and code spans are inert by Markdown's rules
    text = re.sub(r"`[^`\n]*`", "", outside_code.replace("\\`", ""))
    assert not re.search(r"(?<!\\)\]\(", text) and not re.search(r"(?<!\\)!\[", text)
    assert not re.search(r"(?<!\\)<img", text)
    assert "://" not in outside_code and "www." not in outside_code and "@maintainers" not in outside_code
    assert "job3" not in body  # not a job name: never put into a heading or a command


def test_the_token_never_follows_a_link_header_off_the_api(fake_github):
    """Issue 13, item 10: GitHubAPI.paged sent the token to whatever URL the Link header named."""
    from gh_helpers import FakeGitHub

    from launcher.diagnostics import LauncherError
    from launcher.github import GitHubAPI

    elsewhere = FakeGitHub(token="other").start()
    try:
        for i in range(150):
            fake_github.add_comment(5, f"c{i}", "someone")
        api = GitHubAPI("octo/exp", "t0ken", api_url=fake_github.url)
        assert len(api.issue_comments(5)) == 150  # pages on the API itself are followed
        fake_github.link_base = elsewhere.url
        with pytest.raises(LauncherError, match="not following it with the token"):
            api.issue_comments(5)
        assert elsewhere.calls == []
        fake_github.link_base = fake_github.url.replace("127.0.0.1", "localhost")  # another host name
        with pytest.raises(LauncherError, match="not following it"):
            api.issue_comments(5)
    finally:
        elsewhere.stop()
