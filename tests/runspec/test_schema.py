"""The runspec schema: a valid Draft 2020-12 schema, current on disk, and used by editors and check-jsonschema."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema

from launcher.config import BUILTIN_COMPONENTS
from launcher.runspec.components import ComponentCatalog
from launcher.runspec.schema import component_schema, fast_validator_source, runspec_schema
from tests.conftest import COMPAT, REPO, needs_shared


def test_schema_is_valid_and_described():
    schema = runspec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for key, prop in schema["properties"].items():
        assert "description" in prop or "$ref" in prop, key
    for key, prop in schema["$defs"]["job_launcher"]["properties"].items():
        assert prop.get("description"), key


def test_committed_schema_files_are_current():
    on_disk = json.loads((REPO / "schemas" / "runspec.schema.json").read_text())
    assert on_disk == runspec_schema(), "run `launcher schema --out schemas`"
    for cdef in ComponentCatalog([BUILTIN_COMPONENTS]).all():
        cat, name = cdef.name.split("/")
        path = REPO / "schemas" / "components" / cat / f"{name}.schema.json"
        assert json.loads(path.read_text()) == component_schema(cdef), f"{path} is stale: run `launcher schema --out schemas`"


def test_generated_fast_validator_is_current():
    source = (REPO / "launcher" / "runspec" / "_schema_fast.py").read_text()
    assert source == fast_validator_source(), "regenerate launcher/runspec/_schema_fast.py (see schema.py)"


@needs_shared
def test_component_schemas_from_compat_defaults_have_types_and_descriptions():
    cdef = ComponentCatalog([COMPAT / "components"]).find("processors/Train_Policy")
    schema = component_schema(cdef)
    jsonschema.Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["max_iterations"]["default"] == 100000
    assert "Length of the stage" in props["max_iterations"]["description"]
    v = jsonschema.Draft202012Validator(schema)
    assert not v.is_valid({"component": "processors/Train_Policy", "max_iterations": "many"})
    assert not v.is_valid({"component": "processors/Train_Policy", "max_iteration": 5})
    assert v.is_valid({"component": "processors/Train_Policy", "max_iterations": 5, "train": False})


@needs_shared
def test_schema_command_prints_and_writes(tmp_path, run_cli):
    code, out, _ = run_cli("schema", cwd=tmp_path)
    assert code == 0 and json.loads(out)["title"] == "rl_nexus runspec"
    code, out, _ = run_cli("schema", "--out", tmp_path / "s", "--component-root", COMPAT / "components", cwd=tmp_path)
    assert code == 0
    assert (tmp_path / "s" / "components" / "processors" / "OPE_E2E.schema.json").is_file()
    assert (tmp_path / "s" / "components" / "root" / "Root_Component.schema.json").is_file()


def test_check_jsonschema_accepts_the_example_runspecs():
    runspecs = sorted((REPO / "runspecs").glob("*.yaml"))
    assert runspecs
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                           str(REPO / "schemas" / "runspec.schema.json"), *map(str, runspecs)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
