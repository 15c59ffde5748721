"""`launcher init`: what it writes for each layout, that a second run changes nothing, the --dry-run diff,
--force, the merge into an existing pyproject.toml (comments and layout kept), the pin of the workflow caller,
--upgrade, and every bad input it refuses (exit 1, a clear message, nothing written)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launcher import tomlcompat
from tests.conftest import COMPAT, needs_shared

from adopt_helpers import git, make_rl_nexus, snapshot

CALLER = ".github/workflows/runspecs.yml"
BIN = Path(sys.executable).parent


def config_of(root: Path) -> dict:
    return tomlcompat.loads((root / "pyproject.toml").read_text())["tool"]["launcher"]


def caller_of(root: Path) -> dict:
    return yaml.safe_load((root / CALLER).read_text())


def test_rl_nexus_layout_gets_its_settings_the_caller_and_gitignore(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.1.0", annotated=False)
    sha = upstream.release("0.2.0")  # annotated: the pin is the commit, not the tag object
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    cfg = config_of(rl_nexus_repo)
    assert cfg["component_roots"] == ["rl_nexus/components"]
    assert (cfg["working_dir"], cfg["python_path"], cfg["run_command"]) == ("rl_nexus", ["."],
                                                                            "python run.py {runspec}")
    assert cfg["targets"] == {"local": {"backend": "local"}}
    text = (rl_nexus_repo / "pyproject.toml").read_text()
    assert "# [tool.launcher.targets.azb-cpu]" in text and '# backend = "azure-batch"' in text
    job = caller_of(rl_nexus_repo)["jobs"]["runspecs"]
    assert job["uses"] == f"runspec-launcher/runspec-launcher/.github/workflows/runspecs-reusable.yml@{sha}"
    assert f"@{sha} # v0.2.0" in (rl_nexus_repo / CALLER).read_text()
    assert job["with"]["launcher-package"] == "runspec-launcher==0.2.0"
    assert job["with"]["runspec-root"] == "rl_nexus/specs"
    assert set(caller_of(rl_nexus_repo)[True]["push"]["branches"]) == {"main"}
    ignored = (rl_nexus_repo / ".gitignore").read_text().splitlines()
    assert {"/.launcher/", "/results/", "/datastore/"} <= set(ignored)
    # it ends with the validation of the runspecs it found, the editor hint and the next commands
    assert "1 file checked: 0 errors" in out
    assert f"# yaml-language-server: $schema=https://raw.githubusercontent.com/runspec-launcher/runspec-launcher/{sha}/schemas/runspec.schema.json" in out
    assert "Next:\n  cd rl_nexus\n  launcher validate specs/*.yaml\n  launcher smoke specs/x.yaml\n" in out
    # what it wrote is what the launcher reads: validate passes from inside rl_nexus/, with no hand edits
    code, out, err = run_cli("validate", "specs/x.yaml", cwd=rl_nexus_repo / "rl_nexus")
    assert code == 0, out + err


def test_a_second_init_changes_nothing_and_needs_no_network(rl_nexus_repo, upstream, run_cli, monkeypatch):
    upstream.release("0.2.0")
    assert run_cli("init", cwd=rl_nexus_repo)[0] == 0
    before = snapshot(rl_nexus_repo)
    monkeypatch.setenv("LAUNCHER_UPSTREAM_URL", str(rl_nexus_repo / "no-such-upstream.git"))
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    assert snapshot(rl_nexus_repo) == before
    assert "nothing to change" in out and out.count("unchanged") == 3


def test_dry_run_prints_the_diff_and_writes_nothing(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.2.0")
    before = snapshot(rl_nexus_repo)
    code, out, err = run_cli("init", "--dry-run", cwd=rl_nexus_repo)
    assert code == 0, err
    assert snapshot(rl_nexus_repo) == before
    assert "+++ b/pyproject.toml" in out and "+++ b/.gitignore" in out and f"+++ b/{CALLER}" in out
    assert '\n+working_dir = "rl_nexus"' in out and "\n+/.launcher/\n" in out
    assert "dry run: nothing written (3 files would change)" in out
    code, out, _ = run_cli("init", "--dry-run", "--format", "json", cwd=rl_nexus_repo)
    doc = json.loads(out)
    assert doc["dry_run"] and {f["path"]: f["status"] for f in doc["files"]} == {
        "pyproject.toml": "create", ".gitignore": "create", CALLER: "create"}
    assert doc["diff"].count("+++ b/") == 3 and snapshot(rl_nexus_repo) == before


USER_PYPROJECT = """\
# The project's own notes, kept by init.
[project]
name = "my-agents"   # aligned comment
version = "1.2.3"
dependencies = [
    "torch>=2",  # trailing comma and indentation as written
]

[tool.black]
line-length = 100
"""


def test_merges_into_an_existing_pyproject_keeping_comments_and_layout(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.2.0")
    (rl_nexus_repo / "pyproject.toml").write_text(USER_PYPROJECT)
    (rl_nexus_repo / ".gitignore").write_text("*.pyc\nresults/\n")
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    text = (rl_nexus_repo / "pyproject.toml").read_text()
    assert text.startswith(USER_PYPROJECT)  # every byte of the user's file as it was, the table after it
    doc = tomlcompat.loads(text)
    assert doc["project"]["name"] == "my-agents" and doc["tool"]["black"] == {"line-length": 100}
    assert doc["tool"]["launcher"]["working_dir"] == "rl_nexus"
    ignored = (rl_nexus_repo / ".gitignore").read_text()
    assert ignored.startswith("*.pyc\nresults/\n") and ignored.count("results/") == 1  # not repeated
    assert "/.launcher/" in ignored
    before = snapshot(rl_nexus_repo)
    assert run_cli("init", cwd=rl_nexus_repo)[0] == 0 and snapshot(rl_nexus_repo) == before


PARTIAL = """\
[project]
name = "x"

[tool.launcher]
workspace = "mine"   # our workspace
ledger = "jobs.md"
"""


def test_settings_the_user_has_are_kept_unless_forced(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.2.0")
    (rl_nexus_repo / "pyproject.toml").write_text(PARTIAL)
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    text = (rl_nexus_repo / "pyproject.toml").read_text()
    assert 'workspace = "mine"   # our workspace' in text  # the user's value and comment, as written
    assert config_of(rl_nexus_repo)["component_roots"] == ["rl_nexus/components"]  # the missing ones added
    assert "kept         tool.launcher.workspace" in out
    code, out, err = run_cli("init", "--force", cwd=rl_nexus_repo)
    assert code == 0, err
    assert config_of(rl_nexus_repo)["workspace"] == "ws1"


def test_an_existing_caller_is_never_overwritten_without_force(rl_nexus_repo, upstream, run_cli):
    sha = upstream.release("0.2.0")
    mine = "name: mine\non: push\npermissions: {}\njobs: {}\n"
    (rl_nexus_repo / CALLER).parent.mkdir(parents=True)
    (rl_nexus_repo / CALLER).write_text(mine)
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    assert (rl_nexus_repo / CALLER).read_text() == mine
    assert "kept" in out and "--force replaces it" in out
    assert run_cli("init", "--force", cwd=rl_nexus_repo)[0] == 0
    assert sha in (rl_nexus_repo / CALLER).read_text()


def test_before_any_release_it_pins_the_default_branch_commit_and_installs_from_git(rl_nexus_repo, upstream,
                                                                                     run_cli):
    head = upstream.head()
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 0, err
    job = caller_of(rl_nexus_repo)["jobs"]["runspecs"]
    assert job["uses"].endswith(f"@{head}") and f"@{head} # commit" in (rl_nexus_repo / CALLER).read_text()
    assert job["with"]["launcher-package"] == (
        f"runspec-launcher @ git+https://github.com/runspec-launcher/runspec-launcher@{head}")
    assert "no release yet" in out


def test_ref_picks_a_release_or_a_commit(rl_nexus_repo, upstream, run_cli, monkeypatch):
    old = upstream.release("0.1.0")
    upstream.release("0.2.0")
    assert run_cli("init", "--ref", "v0.1.0", cwd=rl_nexus_repo)[0] == 0
    assert caller_of(rl_nexus_repo)["jobs"]["runspecs"]["uses"].endswith(old)
    # a full commit needs no network
    monkeypatch.setenv("LAUNCHER_UPSTREAM_URL", str(rl_nexus_repo / "offline.git"))
    commit = "ab" * 20
    assert run_cli("init", "--force", "--ref", commit, cwd=rl_nexus_repo)[0] == 0
    assert caller_of(rl_nexus_repo)["jobs"]["runspecs"]["uses"].endswith(commit)


def test_upgrade_repins_the_caller_and_keeps_the_rest(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.1.0")
    assert run_cli("init", cwd=rl_nexus_repo)[0] == 0
    path = rl_nexus_repo / CALLER
    path.write_text(path.read_text().replace("  pull_request:\n", "  pull_request:  # our comment\n"))
    before = path.read_text()
    new = upstream.release("0.3.0")
    code, out, err = run_cli("init", "--upgrade", cwd=rl_nexus_repo)
    assert code == 0, err
    after = path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 2 and len(before.splitlines()) == len(after.splitlines())
    assert changed[0][1].endswith(f"@{new} # v0.3.0")
    assert changed[1][1].strip() == 'launcher-package: "runspec-launcher==0.3.0"'
    assert "# our comment" in after
    assert "upgrade: v0.1.0 -> v0.3.0" in out
    assert "no change to the [tool.launcher] settings in between" in out  # HISTORY has none after 0.1.0
    code, out, _ = run_cli("init", "--upgrade", cwd=rl_nexus_repo)
    assert code == 0 and "already pinned to v0.3.0" in out and path.read_text() == after


def test_upgrade_from_a_commit_before_any_release_lists_the_config_changes_up_to_the_release(
        rl_nexus_repo, upstream, run_cli):
    from launcher.adopt.changes import HISTORY

    assert run_cli("init", cwd=rl_nexus_repo)[0] == 0  # no release yet: the default branch's commit
    upstream.release("0.1.0")
    code, out, err = run_cli("init", "--upgrade", "--format", "json", cwd=rl_nexus_repo)
    assert code == 0, err
    up = json.loads(out)["upgrade"]
    assert up["to"] == "0.1.0" and len(up["from"]) == 40
    assert [(c["version"], c["key"]) for c in up["config_changes"]] == [
        (c.version, c.key) for c in HISTORY if c.version == "0.1.0"]
    assert caller_of(rl_nexus_repo)["jobs"]["runspecs"]["with"]["launcher-package"] == "runspec-launcher==0.1.0"


def test_a_plain_project_gets_no_rl_nexus_settings(tmp_path, upstream, run_cli):
    upstream.release("0.2.0")
    root = tmp_path / "plain"
    (root / "components").mkdir(parents=True)
    (root / "runspecs").mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "runspecs" / "grid_search.yaml", root / "runspecs")
    git("init", "-q", "-b", "trunk", cwd=root)
    code, out, err = run_cli("init", cwd=root)
    assert code == 0, err
    cfg = config_of(root)
    assert cfg["component_roots"] == ["components"]
    assert not {"working_dir", "python_path", "run_command"} & set(cfg)
    wf = caller_of(root)
    assert wf["jobs"]["runspecs"]["with"]["runspec-root"] == "runspecs" and wf[True]["push"]["branches"] == ["trunk"]
    assert "launcher smoke runspecs/grid_search.yaml" in out and "cd " not in out.split("Next:")[1]


def test_invalid_runspecs_it_finds_fail_init_after_writing(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.2.0")
    (rl_nexus_repo / "rl_nexus" / "specs" / "bad.yaml").write_text("component: root/Root_Component\nnope: 1\n")
    code, out, err = run_cli("init", cwd=rl_nexus_repo)
    assert code == 1 and "bad.yaml:2:1: RS101" in out
    assert (rl_nexus_repo / "pyproject.toml").is_file()


# ------------------------------------------------------------------------------------------------------------
# bad input: a clear message, exit 1, nothing written

@pytest.mark.parametrize("case", ["toml", "upstream", "ref", "upgrade-none", "upgrade-unpinned"])
def test_bad_input_is_refused_with_nothing_written(case, rl_nexus_repo, upstream, run_cli, monkeypatch):
    upstream.release("0.2.0")
    args = ["init"]
    if case == "toml":
        (rl_nexus_repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = \n')
        want = "pyproject.toml:3:"
    elif case == "upstream":
        monkeypatch.setenv("LAUNCHER_UPSTREAM_URL", str(rl_nexus_repo / "missing.git"))
        want = "cannot list the launcher's releases"
    elif case == "ref":
        args += ["--ref", "v9.9.9"]
        want = "no such release of the launcher"
    elif case == "upgrade-none":
        args += ["--upgrade"]
        want = "there is nothing to upgrade"
    else:
        (rl_nexus_repo / CALLER).parent.mkdir(parents=True)
        (rl_nexus_repo / CALLER).write_text("name: x\n")
        args += ["--upgrade"]
        want = "does not pin runspec-launcher's reusable workflow"
    before = snapshot(rl_nexus_repo)
    code, out, err = run_cli(*args, cwd=rl_nexus_repo)
    assert code == 1 and want in err and "Traceback" not in err, err
    assert "hint:" in err
    assert snapshot(rl_nexus_repo) == before


# ------------------------------------------------------------------------------------------------------------
# the caller it writes passes GitHub's checks

def tool(name: str) -> str | None:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def test_the_written_caller_passes_zizmor_the_workflow_schema_and_actionlint(rl_nexus_repo, upstream, run_cli):
    upstream.release("0.2.0")
    assert run_cli("init", cwd=rl_nexus_repo)[0] == 0
    proc = subprocess.run([tool("zizmor"), "--offline", "--format", "json", str(rl_nexus_repo / ".github")],
                          capture_output=True, text=True, timeout=300)
    findings = json.loads(proc.stdout or "[]")
    assert not [f["ident"] for f in findings if f["determinations"]["severity"] in ("Medium", "High")]
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           str(rl_nexus_repo / CALLER)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (rl_nexus_repo / CALLER).read_text()
    assert "secrets" not in text and "permissions: {}" in text
    if tool("actionlint"):
        proc = subprocess.run([tool("actionlint"), "-no-color", str(rl_nexus_repo / CALLER)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_shared
def test_a_real_rl_nexus_tree_validates_after_init_as_with_its_component_root_given(tmp_path, upstream, run_cli):
    upstream.release("0.2.0")
    # the compat tree lacks some components; the runspecs it backs fully are those validate accepts when told
    # the root by hand: after init (no option), the same runspecs must pass from inside rl_nexus/
    specs = {p.name: p for p in sorted((COMPAT / "specs").glob("*.y*ml"))
             if run_cli("validate", "--component-root", COMPAT / "components", p)[0] == 0}
    assert len(specs) >= 3
    root = make_rl_nexus(tmp_path / "nexus", components=COMPAT / "components", specs=specs)
    code, out, err = run_cli("init", cwd=root)
    assert code == 0, out + err
    assert f"{len(specs)} files checked: 0 errors" in out
    code, out, err = run_cli("validate", *sorted(f"specs/{n}" for n in specs), cwd=root / "rl_nexus")
    assert code == 0, out + err
