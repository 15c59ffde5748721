"""--format github: escaped annotations (at most 10 per file) and a Markdown table in the step summary."""

from __future__ import annotations

from tests.conftest import COMPAT, needs_shared


@needs_shared
def test_github_annotations_and_step_summary(tmp_path, run_cli, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    lines = ["component: root/Root_Component", "experiment_path: ../results"]
    lines += [f"bad_key_{i}: 1" for i in range(12)]
    lines += ["processing_stages: []"]  # the fork has no component for the root's default stage
    (tmp_path / "r.yaml").write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli("validate", "--format", "github", "--component-root", COMPAT / "components", "r.yaml",
                           cwd=tmp_path)
    assert code == 1
    errors = [ln for ln in out.splitlines() if ln.startswith("::error ")]
    assert len(errors) == 10
    assert errors[0].startswith("::error file=r.yaml,line=3,col=1,title=RS101::")
    assert "%3A" not in errors[0].split("::")[2]  # messages keep their colons; only properties escape them
    assert any(ln.startswith("::notice file=r.yaml::2 more problem(s)") for ln in out.splitlines())
    table = summary.read_text()
    assert "### Runspec validation: failed" in table
    assert table.count("| ❌ |") == 12 and "`r.yaml:3:1`" in table


def test_annotation_escaping():
    from launcher.github import format_annotation

    line = format_annotation("warning", "50% done\nnext", file="a,b:c.yaml", line=2, col=3, title="T:1")
    assert line == "::warning file=a%2Cb%3Ac.yaml,line=2,col=3,title=T%3A1::50%25 done%0Anext"
