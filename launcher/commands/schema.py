from __future__ import annotations

HELP = "write the runspec JSON schema and the component schemas generated from the component yaml files"
DESCRIPTION = """\
Print the runspec JSON schema, or with --out DIR write DIR/runspec.schema.json and
DIR/components/<category>/<Name>.schema.json generated from every component on the roots
(allowed keys, types from the defaults, descriptions from the yaml comments).

Editors (yaml-language-server) use it with a first line such as:
  # yaml-language-server: $schema=../schemas/runspec.schema.json
"""


def configure(parser) -> None:
    from launcher.commands._options import add_component_roots, add_project

    parser.add_argument("--out", metavar="DIR", help="write the schemas into DIR (e.g. schemas)")
    parser.add_argument("--regenerate-validator", action="store_true",
                        help="(developers) also regenerate launcher/runspec/_schema_fast.py after changing the schema")
    add_component_roots(parser)
    add_project(parser)


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from launcher.runspec.schema import runspec_schema, write_schemas

    if not args.out:
        sys.stdout.write(json.dumps(runspec_schema(), indent=2) + "\n")
        return 0
    from launcher.commands._options import load_project_config
    from launcher.runspec.components import ComponentCatalog

    cfg = load_project_config(args)
    written = write_schemas(Path(args.out), ComponentCatalog(cfg.roots_with(args.component_roots)))
    if args.regenerate_validator:
        from launcher.fsutil import atomic_write
        from launcher.runspec.schema import fast_validator_source

        target = Path(__file__).resolve().parent.parent / "runspec" / "_schema_fast.py"
        atomic_write(target, fast_validator_source())
        written.append(target)
    for p in written:
        sys.stdout.write(f"wrote {p}\n")
    return 0
