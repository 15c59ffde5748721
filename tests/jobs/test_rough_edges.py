"""Rough edges found by trying the launcher, each pinned: typos get "did you mean" and are said once."""

from __future__ import annotations

from jobs_project import tiny_runspec


def test_a_set_naming_no_placeholder_is_an_error_with_did_you_mean(project):
    proc = project.cli("launch", "runspecs/xt_walk_through.yaml", "--target", "local", "--detach",
                       "--set", "<exprement_path>=../results/x")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "RS212 error: --set '<exprement_path>': the runspec has no placeholder" in proc.stderr
    assert "did you mean '<experiment_path>'?" in proc.stderr
    assert proc.stderr.count("no placeholder <exprement_path>") == 1  # said once, not again as "launcher: error"
    assert not list(project.store.glob("jobs/*/job.json"))  # nothing launched
    # a placeholder the runspec uses without defining it may be set: that is what --set is for
    project.write("runspecs/open.yaml", tiny_runspec().replace("  <experiment_path>: ../results/tiny\n", "  <unused>: 1\n"))
    ok = project.cli("run", "runspecs/open.yaml", "--set", "<experiment_path>=../results/open")
    assert ok.returncode == 0, ok.stderr


def test_a_misspelled_component_gets_did_you_mean_and_one_error_at_launch(project):
    project.write("runspecs/typo.yaml", tiny_runspec().replace("processors/RL_Proc", "processors/RL_Prco"))
    proc = project.cli("launch", "runspecs/typo.yaml", "--detach")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "RS111 error: component processors/RL_Prco not found" in out
    assert "did you mean 'processors/RL_Proc'?" in out
    assert "RS110" not in out and out.count("processors/RL_Prco not found") == 1  # no warning for the same line
    validate = project.cli("validate", "runspecs/typo.yaml")
    assert "RS110 warning" in validate.stdout + validate.stderr
    assert "did you mean 'processors/RL_Proc'?" in validate.stdout + validate.stderr
