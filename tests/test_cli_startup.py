"""Start-up: `launcher --help` lists every command without importing one; a command imports only itself."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import launcher.commands
from launcher import cli


def test_the_help_table_names_every_command_module_with_its_own_help_line():
    modules = sorted(m.name for m in pkgutil.iter_modules(launcher.commands.__path__) if not m.name.startswith("_"))
    assert sorted(cli.COMMANDS) == modules
    import importlib

    for name, line in cli.COMMANDS.items():
        assert importlib.import_module(f"launcher.commands.{name}").HELP == line, name


def _imported(*argv: str) -> list[str]:
    code = ("import sys, json\nfrom launcher.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('launcher.commands.', 'yaml', "
            "'jsonschema', 'rich', 'launcher.smoke', 'launcher.github')))))")
    p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_help_imports_no_command_module_and_no_heavy_library():
    assert _imported("--help") == []
    assert _imported() == []


def test_a_command_imports_its_own_module_only(tmp_path):
    loaded = _imported("schema", "--help")
    assert [m for m in loaded if m.startswith("launcher.commands.") and "._" not in m] == ["launcher.commands.schema"]
    assert "launcher.smoke" not in loaded and "launcher.github" not in loaded


def test_an_unknown_command_is_a_usage_error_naming_the_commands(run_cli):
    code, _, err = run_cli("lnch")
    assert code == 2 and "invalid choice: 'lnch'" in err and "'launch'" in err


def test_a_ctrl_c_that_python_wrapped_in_another_error_is_an_interruption_not_a_bug(monkeypatch, capsys):
    # a Ctrl-C while a dataclass is created (a command module loading) reaches us as
    # RuntimeError("Error calling __set_name__ ...") whose cause is the KeyboardInterrupt
    import launcher.commands.schema as schema

    def run(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'overrides' in 'JobPlan'") from exc

    monkeypatch.setattr(schema, "run", run)
    assert cli.main(["schema"]) == 130
    err = capsys.readouterr().err
    assert err == "interrupted\n" and "internal error" not in err
