"""What the documentation promises about adoption is what the code does: the caller example of docs/github.md
is the caller `launcher init` writes, and every mention of the upstream repository names UPSTREAM_REPO."""

from __future__ import annotations

import re

import yaml

from launcher import UPSTREAM_REPO
from launcher.adopt.layout import RL_NEXUS, Layout
from launcher.adopt.workflow import Pin, caller_text
from tests.conftest import REPO


def test_the_documented_caller_is_the_one_init_writes():
    doc = (REPO / "docs" / "github.md").read_text(encoding="utf-8")
    block = doc.split("The caller it writes", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(block)
    layout = Layout(kind=RL_NEXUS, component_roots=["rl_nexus/components"], runspec_root="rl_nexus/specs",
                    working_dir="rl_nexus", python_path=["."], run_command="python run.py {runspec}")
    written = yaml.safe_load(caller_text(Pin("a" * 40, "0.2.0"), layout, default_branch="main"))
    assert documented["permissions"] == written["permissions"] == {}
    d_job, w_job = documented["jobs"]["runspecs"], written["jobs"]["runspecs"]
    assert d_job["permissions"] == w_job["permissions"]
    assert d_job["with"] == w_job["with"]
    assert d_job["uses"].split("@")[0] == w_job["uses"].split("@")[0]
    assert set(documented[True]) == set(written[True])
    assert set(documented[True]["workflow_dispatch"]["inputs"]) == set(written[True]["workflow_dispatch"]["inputs"])


def test_every_mention_of_the_upstream_repository_names_the_one_constant():
    files = [REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md"),
             *(REPO / ".github" / "workflows").glob("*.yml"), REPO / "schemas" / "runspec.schema.json"]
    pattern = re.compile(r"github\.com/([\w.-]+/runspec-launcher)\b|([\w.-]+/runspec-launcher)/\.github/workflows")
    seen = 0
    for path in files:
        if not path.is_file():
            continue
        for m in pattern.finditer(path.read_text(encoding="utf-8")):
            assert (m.group(1) or m.group(2)) == UPSTREAM_REPO, f"{path.name}: {m.group(0)}"
            seen += 1
    assert seen >= 3
