"""`launcher lint --fix`: safe fixes applied in place, comments and formatting kept."""

from __future__ import annotations

import json
import re

from tests.conftest import COMPAT, needs_shared

SPEC = """\
component: root/Root_Component   # the root
experiment_path: ../results/x
string_replacements: {<experiment_path>: ../results/x, <name>: n}
job_launcher:
  component: job_launchers/XT
  enabled: 1
  total_runs: 8
  compute_nodes: 2
  runs_per_node: 4
processing_stages:
  # train
  - processing_stage:
      component: processors/Data_Collection
      dataset_seed: 42        # fixed on purpose?
      environment:
        component: environments/CartPole_Env
        seed: 7
  - processing_stage:
      component: processors/Train_Policy
      max_iterations: 20000   # long
      iters_per_report: 100   # too often
      save_logs_to: null
"""


@needs_shared
def test_fix_applies_safe_fixes_and_keeps_comments(tmp_path, run_cli):
    f = tmp_path / "s.yaml"
    f.write_text(SPEC)
    code, out, _ = run_cli("lint", "--format", "json", "--component-root", COMPAT / "components", f, cwd=tmp_path)
    codes = sorted(d["code"] for d in json.loads(out)["files"][0]["diagnostics"])
    assert codes.count("LR001") == 2 and "LR012" in codes and code == 0
    code, out, err = run_cli("lint", "--fix", "--format", "json", "--component-root", COMPAT / "components", f,
                             cwd=tmp_path)
    assert "fixed 3 problems" in err
    # which ones: place, rule, old -> new, one line each
    assert re.search(r"s\.yaml:\d+:\d+: LR012 100 -> 1000\n", err), err
    assert len(re.findall(r"s\.yaml:\d+:\d+: LR001 ", err)) == 2, err
    fixed = f.read_text()
    assert "      dataset_seed: randint        # fixed on purpose?\n" in fixed
    assert "        seed: randint\n" in fixed
    assert "      iters_per_report: 1000   # too often\n" in fixed
    assert "# the root" in fixed and "  # train\n" in fixed
    left = [d["code"] for d in json.loads(out)["files"][0]["diagnostics"]]
    assert "LR001" not in left and "LR012" not in left


@needs_shared
def test_fix_leaves_a_clean_file_untouched(tmp_path, run_cli):
    f = tmp_path / "s.yaml"
    f.write_text("component: root/Root_Component\nexperiment_path: ../results\nprocessing_stages: []\n")
    before = f.stat().st_mtime_ns
    code, _, err = run_cli("lint", "--fix", "--component-root", COMPAT / "components", f, cwd=tmp_path)
    assert code == 0 and "fixed" not in err and f.stat().st_mtime_ns == before


def test_suggestion_is_within_5_to_10_percent():
    from launcher.runspec.rules import suggest_iters_per_report

    for mi in (10, 77, 100, 999, 5000, 20000, 100000, 123457):
        s = suggest_iters_per_report(mi)
        assert 0.05 * mi <= s <= 0.10 * mi or (mi < 20 and s == 1), (mi, s)
