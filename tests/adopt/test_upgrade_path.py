"""The upgrade path: the config schema's history (what `init --upgrade` reports), deprecated keys (read for
one release, with a warning naming the replacement), the changelog that tells the same history, and
`launcher --version` naming the version and the commit."""

from __future__ import annotations

import re

from launcher import config as config_module
from launcher.adopt import changes
from launcher.adopt.changes import ConfigChange, changes_between
from tests.conftest import REPO

HISTORY = (ConfigChange("0.1.0", "added", "a", "one"), ConfigChange("0.2.0", "deprecated", "b", "two"),
           ConfigChange("0.3.0", "removed", "c", "three"), ConfigChange("0.10.0", "added", "d", "ten"))


def test_changes_between_two_releases_are_those_after_the_old_up_to_the_new():
    keys = lambda old, new: [c.key for c in changes_between(old, new, HISTORY)]  # noqa: E731
    assert keys("0.1.0", "0.3.0") == ["b", "c"]
    assert keys("0.3.0", "0.3.0") == []
    assert keys(None, "0.2.0") == ["a", "b"]  # from a commit before any release
    assert keys("0.3.0", "0.10.0") == ["d"]  # numeric order, not string order


def test_a_deprecated_key_is_read_as_its_replacement_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(changes.DEPRECATED, "roots", ("component_roots", "0.2.0"))
    (tmp_path / "comps").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.launcher]\nworkspace = "ws1"\nroots = ["comps"]\n')
    cfg = config_module.load_config(project=tmp_path)
    assert cfg.project_component_roots == [(tmp_path / "comps").resolve()]
    (warning,) = cfg.warnings
    assert (warning.code, warning.severity, warning.line) == ("CF003", "warning", 3)
    assert "'roots' is deprecated since 0.2.0: it is now 'component_roots'" in warning.message
    assert "rename it to component_roots" in warning.hint
    assert "pyproject.toml:3:1: CF003 warning" in capsys.readouterr().err
    # once the entry is gone (a release later) the key is unknown, an error like any other
    monkeypatch.delitem(changes.DEPRECATED, "roots")
    try:
        config_module.load_config(project=tmp_path)
    except config_module.LauncherError as exc:
        assert "unknown setting 'roots'" in exc.diagnostics[0].message
    else:
        raise AssertionError("an unknown key must be refused")


def test_when_both_the_old_and_the_new_key_are_set_the_new_one_wins_and_the_warning_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(changes.DEPRECATED, "book", ("ledger", "0.2.0"))
    (tmp_path / "pyproject.toml").write_text('[tool.launcher]\nbook = "old.md"\nledger = "new.md"\n')
    cfg = config_module.load_config(project=tmp_path, warn=False)
    assert cfg.ledger == "new.md" and "both are set: 'ledger' is used" in cfg.warnings[0].message


def test_the_changelog_tells_every_config_change_under_its_release():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## \[?v?(\d+\.\d+\.\d+|Unreleased)\]?[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    for change in changes.HISTORY:
        body = sections.get(change.version, "") + sections.get("Unreleased", "")
        assert f"`{change.key}`" in body, f"CHANGELOG.md does not mention `{change.key}` ({change.version})"
    for old, (new, since) in changes.DEPRECATED.items():
        assert f"`{old}`" in text and f"`{new}`" in text


def test_version_names_the_version_and_the_commit(run_cli):
    import launcher

    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == launcher.version_line()
    m = re.fullmatch(r"launcher (\S+) \(commit ([0-9a-f]{7,40}|unknown)\)", out.strip())
    assert m and m.group(1) == launcher.__version__
    # (the commit is the one the package was built or installed from: release.yml's wheel is checked against
    # its tag's commit in tests/github/test_release_wheel.py)
