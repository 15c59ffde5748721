"""`launcher changed`: real git repositories, real event payloads, GitHub's output files."""

from __future__ import annotations

import json

import pytest

from gh_helpers import pull_request_event, read_outputs, runspec_text

from launcher.github import matrix_id

PYPROJECT = """\
[tool.launcher.targets.local]
backend = "local"

[tool.launcher.targets.azb-cpu]
backend = "azure-batch"
"""


@pytest.fixture
def repo(make_repo):
    r = make_repo()
    r.write("pyproject.toml", PYPROJECT)
    r.write("runspecs/old.yaml", runspec_text(enabled=1, target="azb-cpu"))
    r.write("runspecs/gone.yaml", runspec_text())
    r.write("README.md", "hello\n")
    r.base = r.commit("base")
    r.git("checkout", "-q", "-b", "feature")
    return r


def write_event(tmp_path, payload: dict):
    p = tmp_path / "event.json"
    p.write_text(json.dumps(payload))
    return p


def changed_json(run_cli, repo, *args):
    code, out, err = run_cli("changed", *args, "--format", "json", cwd=repo.path)
    assert code == 0, err
    return json.loads(out)


def test_pull_request_lists_added_and_modified_runspecs_not_deleted_or_other_files(run_cli, repo, tmp_path,
                                                                                 actions_env):
    repo.write("runspecs/new.yml", runspec_text(enabled=1, target="local"))
    repo.write("runspecs/old.yaml", runspec_text(enabled=1, target="azb-cpu", iterations=9))
    repo.write("runspecs/notes.txt", "not a runspec\n")
    repo.write("elsewhere/x.yaml", runspec_text())
    (repo.path / "runspecs/gone.yaml").unlink()
    repo.write("README.md", "changed\n")
    head = repo.commit("feature")
    # main moves on after the branch point: base...head must use the merge base, not main's tip
    repo.git("checkout", "-q", "main")
    repo.write("runspecs/main_only.yaml", runspec_text())
    base_tip = repo.commit("main moves")
    repo.git("checkout", "-q", "feature")

    event = write_event(tmp_path, pull_request_event(12, base_tip, head))
    data = changed_json(run_cli, repo, "--event-path", event, "--event-name", "pull_request")
    assert data["runspecs"] == ["runspecs/new.yml", "runspecs/old.yaml"]
    assert data["launch"] == ["runspecs/new.yml", "runspecs/old.yaml"]
    assert data["fork"] is False
    assert data["pr"] == 12
    assert data["origin"] == "PR #12"
    by_path = {i["runspec"]: i for i in data["items"]}
    assert by_path["runspecs/new.yml"]["backend"] == "local"
    assert by_path["runspecs/old.yaml"] == {"runspec": "runspecs/old.yaml", "id": matrix_id("runspecs/old.yaml"),
                                            "launch": True, "target": "azb-cpu", "backend": "azure-batch"}


def test_github_format_writes_matrices_split_by_backend_and_a_summary(run_cli, repo, tmp_path, actions_env):
    repo.write("runspecs/new.yml", runspec_text(enabled=1, target="local"))
    repo.write("runspecs/old.yaml", runspec_text(enabled=1, target="azb-cpu", iterations=9))
    repo.write("runspecs/quiet.yaml", runspec_text(enabled=0))
    head = repo.commit("feature")
    event = write_event(tmp_path, pull_request_event(3, repo.base, head))
    code, out, err = run_cli("changed", "--event-path", event, "--format", "github", cwd=repo.path)
    assert code == 0, err
    outputs = read_outputs(actions_env["GITHUB_OUTPUT"])
    matrix = json.loads(outputs["matrix"])["include"]
    assert [m["runspec"] for m in matrix] == ["runspecs/new.yml", "runspecs/old.yaml", "runspecs/quiet.yaml"]
    assert [m["runspec"] for m in json.loads(outputs["launch_matrix"])["include"]] == ["runspecs/old.yaml"]
    assert [m["runspec"] for m in json.loads(outputs["local_matrix"])["include"]] == ["runspecs/new.yml"]
    assert len(json.loads(outputs["record_matrix"])["include"]) == 2
    assert outputs["any"] == outputs["any_launch"] == outputs["any_remote"] == outputs["any_local"] == "true"
    assert outputs["fork"] == "false" and outputs["pr"] == "3" and outputs["origin"] == "PR #3"
    assert json.loads(outputs["files"]) == [m["runspec"] for m in matrix]
    summary = actions_env["GITHUB_STEP_SUMMARY"].read_text()
    assert "| `runspecs/old.yaml` | yes | azb-cpu (azure-batch) |" in summary
    assert "| `runspecs/quiet.yaml` | no |" in summary


def test_fork_pull_request_never_gets_a_launch_matrix(run_cli, repo, tmp_path, actions_env):
    repo.write("runspecs/new.yml", runspec_text(enabled=1, target="azb-cpu"))
    head = repo.commit("feature")
    event = write_event(tmp_path, pull_request_event(7, repo.base, head, fork=True))
    code, out, err = run_cli("changed", "--event-path", event, "--format", "github", cwd=repo.path)
    assert code == 0, err
    outputs = read_outputs(actions_env["GITHUB_OUTPUT"])
    assert outputs["fork"] == "true"
    assert outputs["any"] == "true"
    assert outputs["any_launch"] == outputs["any_remote"] == outputs["any_local"] == "false"
    assert json.loads(outputs["launch_matrix"]) == {"include": []}
    assert "comes from a fork" in actions_env["GITHUB_STEP_SUMMARY"].read_text()


def test_fork_whose_repository_was_deleted_counts_as_a_fork(run_cli, repo, tmp_path):
    head = repo.commit("feature")
    payload = pull_request_event(8, repo.base, head)
    payload["pull_request"]["head"]["repo"] = None
    data = changed_json(run_cli, repo, "--event-path", write_event(tmp_path, payload))
    assert data["fork"] is True


def test_no_runspec_changed_gives_empty_outputs(run_cli, repo, tmp_path, actions_env):
    repo.write("README.md", "docs only\n")
    head = repo.commit("docs")
    event = write_event(tmp_path, pull_request_event(4, repo.base, head))
    code, out, err = run_cli("changed", "--event-path", event, "--format", "github", cwd=repo.path)
    assert code == 0, err
    assert "no runspec changed" in out
    outputs = read_outputs(actions_env["GITHUB_OUTPUT"])
    assert outputs["any"] == "false" and outputs["files"] == "[]"


def test_push_uses_before_after_and_names_the_pusher(run_cli, repo, tmp_path):
    repo.git("checkout", "-q", "main")
    repo.write("runspecs/pushed.yaml", runspec_text())
    after = repo.commit("push")
    payload = {"ref": "refs/heads/main", "before": repo.base, "after": after,
               "repository": {"full_name": "octo/exp", "default_branch": "main"},
               "pusher": {"name": "bob"}, "sender": {"login": "bob"}, "commits": []}
    data = changed_json(run_cli, repo, "--event-path", write_event(tmp_path, payload), "--event-name", "push")
    assert data["runspecs"] == ["runspecs/pushed.yaml"]
    assert data["origin"] == "push by @bob" and data["pr"] is None


def test_push_validates_but_launches_only_when_asked(run_cli, repo, tmp_path, actions_env, monkeypatch):
    # a merge commit is new code to the idempotency check: launching on push would launch merged runspecs again
    repo.git("checkout", "-q", "main")
    repo.write("runspecs/pushed.yaml", runspec_text(enabled=1, target="azb-cpu"))
    after = repo.commit("push")
    event = write_event(tmp_path, {"ref": "refs/heads/main", "before": repo.base, "after": after,
                                   "repository": {"full_name": "octo/exp"}, "sender": {"login": "bob"}})
    code, out, err = run_cli("changed", "--event-path", event, "--event-name", "push", "--format", "github",
                             cwd=repo.path)
    assert code == 0, err
    outputs = read_outputs(actions_env["GITHUB_OUTPUT"])
    assert outputs["any"] == "true" and outputs["any_launch"] == "false"
    assert "Nothing launches on this event" in actions_env["GITHUB_STEP_SUMMARY"].read_text()
    monkeypatch.setenv("LAUNCHER_LAUNCH_ON_PUSH", "true")
    data = changed_json(run_cli, repo, "--event-path", event, "--event-name", "push")
    assert data["held"] == "" and data["launch"] == ["runspecs/pushed.yaml"]


def test_push_of_a_new_branch_lists_the_pushed_commits_files(run_cli, repo, tmp_path):
    repo.write("runspecs/fresh.yaml", runspec_text())
    after = repo.commit("new branch")
    payload = {"ref": "refs/heads/feature", "before": "0" * 40, "after": after, "created": True,
               "repository": {"full_name": "octo/exp"}, "sender": {"login": "bob"},
               "commits": [{"added": ["runspecs/fresh.yaml"], "modified": ["README.md"], "removed": []}]}
    data = changed_json(run_cli, repo, "--event-path", write_event(tmp_path, payload), "--event-name", "push")
    assert data["runspecs"] == ["runspecs/fresh.yaml"]
    # without commit details: every runspec of the branch
    payload["commits"] = []
    data = changed_json(run_cli, repo, "--event-path", write_event(tmp_path, payload), "--event-name", "push")
    assert data["runspecs"] == ["runspecs/fresh.yaml", "runspecs/gone.yaml", "runspecs/old.yaml"]


def test_workflow_dispatch_takes_the_named_runspec_and_target_override(run_cli, repo, tmp_path):
    payload = {"ref": "refs/heads/feature", "inputs": {"runspec": "runspecs/old.yaml", "target": "local"},
               "repository": {"full_name": "octo/exp", "default_branch": "main"}, "sender": {"login": "carol"}}
    data = changed_json(run_cli, repo, "--event-path", write_event(tmp_path, payload),
                        "--event-name", "workflow_dispatch")
    assert data["runspecs"] == ["runspecs/old.yaml"]
    assert data["items"][0]["target"] == "local" and data["items"][0]["backend"] == "local"
    assert data["origin"] == "dispatch by @carol" and data["branch"] == "feature"


@pytest.mark.parametrize("bad, message", [
    ("runspecs/missing.yaml", "does not exist"),
    ("../etc/passwd.yaml", "without '..'"),
    ("/abs/runspecs/x.yaml", "without '..'"),
    ("README.md", "not a .yaml/.yml file under runspecs/"),
])
def test_workflow_dispatch_with_a_bad_runspec_is_a_clear_error(run_cli, repo, tmp_path, bad, message):
    payload = {"inputs": {"runspec": bad}, "repository": {"full_name": "octo/exp"}, "sender": {"login": "c"}}
    code, out, err = run_cli("changed", "--event-path", write_event(tmp_path, payload),
                             "--event-name", "workflow_dispatch", cwd=repo.path)
    assert code == 1
    assert message in err and "Traceback" not in err
    assert out == ""


def test_missing_runspec_suggests_the_nearest(run_cli, repo):
    code, out, err = run_cli("changed", "--runspec", "runspecs/odl.yaml", cwd=repo.path)
    assert code == 1 and "did you mean 'runspecs/old.yaml'" in err


def test_explicit_base_and_head(run_cli, repo):
    repo.write("runspecs/b.yaml", runspec_text())
    head = repo.commit("b")
    data = changed_json(run_cli, repo, "--base", repo.base, "--head", head)
    assert data["runspecs"] == ["runspecs/b.yaml"] and data["origin"] == "local"


def test_a_revision_never_becomes_a_git_option(run_cli, repo, tmp_path):
    code, out, err = run_cli("changed", "--base=--output=pwned", "--head", "HEAD", cwd=repo.path)
    assert code == 1 and "is not a commit" in err
    assert not (repo.path / "pwned").exists()


def test_without_an_event_it_explains_what_to_pass(run_cli, repo, actions_env):
    code, out, err = run_cli("changed", cwd=repo.path)
    assert code == 2 and "GITHUB_EVENT_PATH" in err and "--base" in err


def test_unknown_base_commit_says_to_fetch(run_cli, repo, tmp_path):
    event = write_event(tmp_path, pull_request_event(5, "f" * 40, repo.git("rev-parse", "HEAD")))
    code, out, err = run_cli("changed", "--event-path", event, cwd=repo.path)
    assert code == 1 and "fetch-depth: 0" in err and "Traceback" not in err


def test_bad_event_payload_is_a_clear_error(run_cli, repo, tmp_path):
    p = tmp_path / "event.json"
    p.write_text("{not json")
    code, out, err = run_cli("changed", "--event-path", p, cwd=repo.path)
    assert code == 1 and "not valid JSON" in err


def test_renamed_runspec_is_listed_at_its_new_path(run_cli, repo):
    repo.git("mv", "runspecs/old.yaml", "runspecs/renamed.yaml")
    head = repo.commit("rename")
    data = changed_json(run_cli, repo, "--base", repo.base, "--head", head)
    assert data["runspecs"] == ["runspecs/renamed.yaml"]


def test_a_runspec_without_compute_target_is_routed_where_launch_will_run_it(run_cli, repo, tmp_path, actions_env):
    # job_launchers/XT's default compute_target decides, as it does for `launch`: the built-in default (azb-cpu,
    # as in rl_nexus), or the project's own XT.yaml on its component roots.
    text = runspec_text(enabled=1).replace("  compute_target: local\n", "")
    assert "compute_target" not in text
    repo.write("runspecs/default_target.yaml", text)
    head = repo.commit("no target")
    event = write_event(tmp_path, pull_request_event(3, repo.base, head))
    data = changed_json(run_cli, repo, "--event-path", event, "--event-name", "pull_request")
    entry = next(i for i in data["items"] if i["runspec"] == "runspecs/default_target.yaml")
    assert (entry["launch"], entry["target"], entry["backend"]) == (True, "azb-cpu", "azure-batch")

    repo.write("pyproject.toml", '[tool.launcher]\ncomponent_roots = ["components"]\n\n' + PYPROJECT)
    repo.write("components/job_launchers/XT/XT.yaml", "component: job_launchers/XT\nenabled: 0\n"
               "compute_target: local\ntotal_runs: 1\ncompute_nodes: 1\nruns_per_node: 1\n")
    head = repo.commit("the project's own launcher defaults")
    event = write_event(tmp_path, pull_request_event(3, repo.base, head))
    data = changed_json(run_cli, repo, "--event-path", event, "--event-name", "pull_request")
    entry = next(i for i in data["items"] if i["runspec"] == "runspecs/default_target.yaml")
    assert (entry["launch"], entry["target"], entry["backend"]) == (True, "local", "local")


def test_matrix_ids_are_unique_per_path():
    """Issue 13, item 8: 'a b.yaml' and 'a-b.yaml' (or 'ä.yaml' and 'ö.yaml') had one id."""
    pairs = [("runspecs/a b.yaml", "runspecs/a-b.yaml"), ("runspecs/ä.yaml", "runspecs/ö.yaml")]
    for a, b in pairs:
        assert matrix_id(a) != matrix_id(b)
        assert matrix_id(a) == matrix_id(a)
    import re

    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", matrix_id(p)) for pair in pairs for p in pair)
    assert matrix_id("runspecs/a b.yaml").startswith("runspecs-a-b.yaml-")


@pytest.mark.parametrize("name", ["runspecs/a\n::error title=Approved::ok.yaml", "runspecs/x\r.yaml",
                                  "runspecs/\u202eevil.yaml", "runspecs/a\u2028b.yaml"])
def test_a_changed_path_with_control_characters_is_refused_with_an_annotation(run_cli, repo, tmp_path, name,
                                                                               actions_env):
    """Issue 13, item 7: a newline in a file name printed a fake workflow command and split the file list."""
    base = repo.git("rev-parse", "HEAD").strip()
    repo.write(name, runspec_text())
    repo.write("runspecs/fine.yaml", runspec_text())
    head = repo.commit("odd name")
    event = write_event(tmp_path, pull_request_event(3, base, head))
    code, out, err = run_cli("changed", "--event-path", event, "--event-name", "pull_request", "--format", "github",
                             cwd=repo.path)
    assert code == 1 and "refusing changed paths" in err and "Traceback" not in err
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=unsafe file name::refusing the changed path")
    assert not any(line.startswith("::error title=Approved") for line in (out + err).splitlines())
    assert read_outputs(actions_env["GITHUB_OUTPUT"]) == {}  # no matrix: nothing validated or launched


def test_a_crafted_event_path_leaving_the_repository_is_refused(run_cli, repo, tmp_path):
    """Issue 13, item 10: a push event's commits listed runspecs/../../x.yaml and `changed` listed it."""
    (tmp_path / "x.yaml").write_text(runspec_text())
    after = repo.git("rev-parse", "HEAD").strip()
    rel = "runspecs/../" + "../" * (len(repo.path.relative_to(tmp_path).parts)) + "x.yaml"
    payload = {"ref": "refs/heads/f", "before": "0" * 40, "after": after, "repository": {"full_name": "octo/exp"},
               "commits": [{"added": [rel], "modified": []}]}
    code, _out, err = run_cli("changed", "--event-path", write_event(tmp_path, payload), "--event-name", "push",
                              "--format", "json", cwd=repo.path)
    assert code == 1 and "not a path inside the repository" in err, err
