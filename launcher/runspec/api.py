"""The runspec language as a library: check files (validate + lint) and resolve one file for running.

    check_files(paths, component_roots=..., config=...) -> CheckResult    (never raises for bad input)
    resolve_file(path, component_roots=...) -> ResolvedSpec               (LauncherError when invalid)
    launcher_section(path) -> dict                                        (never raises; {} when unreadable)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.diagnostics import ERROR, WARNING, Diagnostic, LauncherError
from launcher.runspec.components import ComponentCatalog
from launcher.runspec.load import MAX_BYTES, Document, LoadError, read_document
from launcher.runspec.resolve import HyperParameter, Resolution, parse_override_value, resolve
from launcher.runspec.rules import Fix, lint

# Validation draws randint values from a fixed seed: the same file always gives the same diagnostics.
CHECK_SEED = 0


@dataclass
class FileResult:
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    source_lines: list[str] | None = None  # for quoting the offending line

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    def to_dict(self) -> dict:
        return {"file": self.file, "valid": self.ok,
                "diagnostics": [d.to_dict() for d in self.diagnostics]}


@dataclass
class CheckResult:
    """The result of `launcher validate` / `launcher lint` over many files."""

    command: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [d for f in self.files for d in f.diagnostics]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == WARNING]

    def exit_code(self, *, strict: bool = False) -> int:
        return 1 if self.errors or (strict and self.warnings) else 0

    def to_dict(self, *, strict: bool = False) -> dict:
        return {"command": self.command, "valid": self.exit_code(strict=strict) == 0,
                "files": [f.to_dict() for f in self.files],
                "counts": {"files": len(self.files), "errors": len(self.errors), "warnings": len(self.warnings),
                           "infos": len(self.diagnostics) - len(self.errors) - len(self.warnings)}}


def _with_schema_check(doc: Document, res: Resolution) -> list[Diagnostic]:
    """The resolver's diagnostics plus the schema's, except where the resolver already put an error: one
    mistake gets one message (the resolver's says more, e.g. "did you mean")."""
    from launcher.runspec.schema import check as schema_check

    diags = list(res.diagnostics)
    if res.full is not None:
        taken = {(d.line, d.col) for d in diags if d.severity == ERROR}
        diags += [d for d in schema_check(doc, res.full) if (d.line, d.col) not in taken]
    return diags


def check_document(doc: Document, catalog: ComponentCatalog, *, do_lint: bool,
                   target_names: set[str] | None = None, require_components: bool = False,
                   ) -> tuple[list[Diagnostic], list[Fix], Resolution]:
    # require_components: where the runspec must run (launch), a component found nowhere is an error at once,
    # not a warning here and an error again when it is resolved for running.
    res = resolve(doc, catalog, seed=CHECK_SEED, require_components=require_components)
    diags = _with_schema_check(doc, res)
    fixes: list[Fix] = []
    if do_lint and not any(d.severity == ERROR for d in diags):
        for finding in lint(res, target_names=target_names):
            diags.append(finding.diagnostic)
            if finding.fix:
                from dataclasses import replace

                fixes.append(replace(finding.fix, code=finding.fix.code or finding.diagnostic.code))
    diags.sort(key=Diagnostic.sort_key)
    return diags, fixes, res


def check_file(path: str | Path, catalog: ComponentCatalog, *, do_lint: bool,
               target_names: set[str] | None = None, require_components: bool = False) -> FileResult:
    display = str(path)
    try:
        doc = read_document(path, display=display)
    except LoadError as exc:
        text = None
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            pass
        return FileResult(display, [exc.diagnostic], source_lines=text)
    diags, fixes, _ = check_document(doc, catalog, do_lint=do_lint, target_names=target_names,
                                     require_components=require_components)
    return FileResult(display, diags, fixes, source_lines=doc.lines)


def check_files(paths: list[str | Path], *, component_roots: list[Path], do_lint: bool = True,
                target_names: set[str] | None = None, command: str = "lint",
                require_components: bool = False) -> CheckResult:
    """Validate (and lint) every file; all problems in all files are collected before anything is reported."""
    catalog = ComponentCatalog(component_roots)
    result = CheckResult(command)
    for p in paths:
        result.files.append(check_file(p, catalog, do_lint=do_lint, target_names=target_names,
                                       require_components=require_components))
    return result


# ---------------------------------------------------------------------------------------------------------


@dataclass
class ResolvedSpec:
    """A runspec resolved for running: what the runtime and the job planner consume."""

    source_path: Path
    source_text: str
    data: dict  # fully explicit (no hyperparameters / string_replacements / forward_definitions)
    hyperparameters: list[HyperParameter]
    hparams: dict[str, Any]
    seeds: dict[str, int]
    seed: int
    overrides: dict[str, Any]
    component_files: dict[str, Path]
    diagnostics: list[Diagnostic]  # warnings (errors raise)

    @property
    def job_launcher(self) -> dict:
        jl = self.data.get("job_launcher")
        return jl if isinstance(jl, dict) else {}

    @property
    def description(self) -> str:
        d = self.data.get("description")
        return d.strip() if isinstance(d, str) else ""

    @property
    def content_hash(self) -> str:
        """sha256 of the runspec's bytes and the overrides: the launch identity of this content."""
        h = hashlib.sha256(self.source_text.encode("utf-8"))
        if self.overrides:
            h.update(b"\0overrides\0" + json.dumps(self.overrides, sort_keys=True, default=str).encode())
        return h.hexdigest()


def resolve_file(path: str | Path, *, component_roots: list[Path], overrides: dict[str, Any] | None = None,
                 hp_assignment: dict[str, Any] | None = None, seed: int | None = None,
                 require_components: bool = True, display: str | None = None,
                 datastore: str | None = None) -> ResolvedSpec:
    """Load, resolve and schema-check one runspec; LauncherError (with diagnostics) when it has errors."""
    doc = read_document(path, display=display)
    typed = {k: parse_override_value(v) if isinstance(v, str) else v for k, v in (overrides or {}).items()}
    catalog = ComponentCatalog(component_roots)
    res = resolve(doc, catalog, overrides=typed, hp_assignment=hp_assignment, seed=seed,
                  require_components=require_components, datastore=datastore)
    diags = _with_schema_check(doc, res)
    errors = sorted((d for d in diags if d.severity == ERROR), key=Diagnostic.sort_key)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise LauncherError(f"{doc.file} is not a valid runspec: {first.message}{more}",
                            hint=first.hint, diagnostics=errors)
    return ResolvedSpec(
        source_path=Path(path), source_text=doc.text, data=res.data, hyperparameters=res.hyperparameters,
        hparams=res.hparams, seeds=res.seeds, seed=res.seed, overrides=typed,
        component_files=dict(res.component_files),
        diagnostics=sorted((d for d in diags if d.severity != ERROR), key=Diagnostic.sort_key))


def launcher_section(path: Path, *, component_roots: list[Path] | None = None) -> dict:
    """The job_launcher section of a runspec, for routing (which runspecs launch, where) and the PR comment.

    With the component defaults of the roots `launch` would use (so a runspec that leaves out compute_target
    is routed to the target it will really launch on). Tolerant on purpose: an invalid runspec is
    `launcher validate`'s business, so this falls back to the raw section of a plain YAML read, over the
    launcher component's defaults, else {}.
    """
    roots = component_roots if component_roots is not None else _project_roots(path)
    try:
        section = resolve_file(path, component_roots=roots, require_components=False).job_launcher
        if section:
            return section
    except Exception:  # noqa: BLE001 - an invalid runspec is validate's business, not ours
        pass
    import yaml

    try:
        if path.stat().st_size > MAX_BYTES:
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - same: unreadable means "not launching" here
        return {}
    section = data.get("job_launcher") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return {}
    try:
        xt = ComponentCatalog(roots).find("job_launchers/XT")
    except Exception:  # noqa: BLE001 - a broken defaults file: route on what the runspec says
        xt = None
    return {**(xt.defaults if xt else {}), **section}


def _project_roots(path: Path) -> list[Path]:
    """The component roots of the project holding path; the built-ins alone when its config is broken."""
    from launcher.config import BUILTIN_COMPONENTS, load_config

    try:
        return load_config(Path(path).resolve().parent).component_roots
    except LauncherError:
        return [BUILTIN_COMPONENTS]
