"""The [tool.launcher] config: defaults, targets, and errors pointing at their line of pyproject.toml."""

from __future__ import annotations

import pytest

from launcher.config import BUILTIN_COMPONENTS, load_config
from launcher.diagnostics import LauncherError


def write(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n' + body)
    return tmp_path


def test_defaults_without_a_table(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg.workspace == "ws1" and cfg.ledger == "jobs.md" and set(cfg.targets) == {"local"}
    assert cfg.component_roots == [BUILTIN_COMPONENTS]


def test_a_full_config(tmp_path):
    (tmp_path / "components").mkdir()
    cfg = load_config(write(tmp_path, '[tool.launcher]\nworkspace = "ws7"\ncomponent_roots = ["components"]\n'
                                      'run_command = "python run.py {runspec}"\n\n'
                                      '[tool.launcher.targets.azb-cpu]\nbackend = "azure-batch"\nvm_size = "S"\n'))
    assert cfg.workspace == "ws7"
    assert cfg.component_roots == [tmp_path / "components", BUILTIN_COMPONENTS]
    assert cfg.run_command == ["python", "run.py", "{runspec}"]
    assert cfg.targets["azb-cpu"].backend == "azure-batch" and cfg.targets["azb-cpu"].line == 9
    assert "local" in cfg.targets


def test_found_from_a_subfolder(tmp_path):
    write(tmp_path, '[tool.launcher]\nworkspace = "ws3"\n')
    (tmp_path / "runspecs").mkdir()
    assert load_config(tmp_path / "runspecs").workspace == "ws3"


@pytest.mark.parametrize("body,line,needle", [
    ('[tool.launcher]\nworkspce = "ws1"\n', 5, "did you mean 'workspace'"),
    ('[tool.launcher]\nworkspace = "my ws"\n', 5, "workspace"),
    ('[tool.launcher]\ncomponent_roots = ["nope"]\n', 5, "not a folder"),
    ('[tool.launcher]\nledger = "../jobs.md"\n', 5, "inside the project"),
    ('[tool.launcher]\nrun_command = "python run.py"\n', 5, "{runspec}"),
    ('[tool.launcher.targets.gpu]\nbackend = "slurm"\n', 5, "backend must be one of"),
    ('[tool.launcher.targets.local]\ncapacty = 4\n', 5, "did you mean 'capacity'"),
    ('[tool.launcher.targets.local]\ncapacity = 0\n', 5, "capacity"),
    ('[tool.launcher\nx = 1\n', 4, "invalid TOML"),
])
def test_config_errors_point_at_their_line(tmp_path, body, line, needle):
    with pytest.raises(LauncherError) as exc:
        load_config(write(tmp_path, body))
    d = exc.value.diagnostics[0]
    assert d.line == line, d
    assert needle in d.message + " " + d.hint
    assert d.file.endswith("pyproject.toml")


def test_unknown_target_suggests(tmp_path):
    cfg = load_config(write(tmp_path, '[tool.launcher.targets.azb-cpu]\nbackend = "azure-batch"\n'))
    with pytest.raises(LauncherError, match="azb-gpu") as exc:
        cfg.target("azb-gpu")
    assert "azb-cpu" in exc.value.hint


def test_cli_reports_bad_config_without_traceback(tmp_path, run_cli):
    write(tmp_path, '[tool.launcher]\nworkspce = "ws1"\n')
    (tmp_path / "a.yaml").write_text("component: root/Root_Component\n")
    code, out, err = run_cli("validate", "a.yaml", cwd=tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "pyproject.toml:5:1: CF002 error: unknown setting 'workspce'" in err


def test_the_layout_settings(tmp_path):
    (tmp_path / "rl_nexus" / "components" / "root").mkdir(parents=True)
    (tmp_path / "rl_nexus" / "components" / "root" / "Root_Component.yaml").write_text("component: root/Root_Component\n")
    cfg = load_config(write(tmp_path, '[tool.launcher]\nworking_dir = "rl_nexus"\npython_path = [".", "lib"]\n'
                                      'component_roots = ["rl_nexus/components"]\nxtlib = "launcher"\n'))
    assert cfg.working_dir == "rl_nexus" and cfg.python_path == [".", "lib"] and cfg.xtlib == "launcher"
    assert cfg.run_dir == tmp_path / "rl_nexus"
    # a whole rl_nexus component tree: the built-in demo components are not searched behind it
    assert cfg.component_roots == [tmp_path / "rl_nexus" / "components"]
    defaults = load_config(write(tmp_path, ""))
    assert defaults.working_dir == "." and defaults.python_path == ["."] and defaults.xtlib == "auto"


@pytest.mark.parametrize("body,needle", [
    ('working_dir = "../elsewhere"', "working_dir must be a folder inside the project"),
    ('working_dir = "nope"', "working_dir 'nope' is not a folder"),
    ('python_path = "."', "python_path must be a list of folders"),
    ('python_path = ["/abs"]', "python_path entries must be folders inside the project"),
    ('xtlib = "xt"', "xtlib must be one of auto, launcher"),
])
def test_bad_layout_settings_name_their_line(tmp_path, body, needle):
    with pytest.raises(LauncherError) as exc:
        load_config(write(tmp_path, f'[tool.launcher]\nworkspace = "ws1"\n{body}\n'))
    d = exc.value.diagnostics[0]
    assert needle in d.message and d.line == 6 and d.code == "CF002"


def test_ledger_store_and_roots_must_not_lead_out_through_a_committed_symlink(tmp_path):
    """Issue 13, item 9: paths were checked as text only; a committed symlink made launch write outside."""
    import os
    import subprocess

    from launcher.diagnostics import LauncherError

    def git(p, *args):
        subprocess.run(["git", *args], cwd=p, check=True, capture_output=True)

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "jobs.md").write_text("# Jobs\n")
    cases = [
        ("link-dir", lambda p: os.symlink(outside, p / "records"), 'ledger = "records/jobs.md"\n', "records"),
        ("link-store", lambda p: os.symlink(outside, p / "state"), 'store = "state"\n', "state"),
        ("link-root", lambda p: os.symlink(outside, p / "components"), 'component_roots = ["components"]\n',
         "components"),
        ("link-file", lambda p: os.symlink(outside / "jobs.md", p / "jobs.md"), "", "jobs.md"),
        ("link-inside", lambda p: (p / "real.md").write_text("") or os.symlink("real.md", p / "jobs.md"), "",
         "jobs.md"),
    ]
    for name, setup, config, link in cases:
        project = tmp_path / name
        project.mkdir()
        git(project, "init", "-q")
        setup(project)
        (project / "pyproject.toml").write_text("[tool.launcher]\n" + config)
        git(project, "add", link)
        with pytest.raises(LauncherError) as info:
            load_config(project=project)
        text = str(info.value) + " ".join(d.message for d in getattr(info.value, "diagnostics", []) or [])
        assert "committed symlink" in text or "is a symlink" in text, (name, text)
    bare = tmp_path / "no-table"  # no [tool.launcher]: the default jobs.md is held to the same rule
    bare.mkdir()
    os.symlink(outside / "jobs.md", bare / "jobs.md")
    with pytest.raises(LauncherError, match="is a symlink"):
        load_config(project=bare)
    # a store folder linked on the machine itself (not committed): the owner's choice, allowed
    own = tmp_path / "own-link"
    own.mkdir()
    git(own, "init", "-q")
    os.symlink(outside, own / ".launcher")
    (own / "pyproject.toml").write_text("[tool.launcher]\n")
    assert load_config(project=own).store_dir == own / ".launcher"
