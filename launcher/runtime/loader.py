"""Find and import component classes: `<root>/<category>/<Name>/<Name>.py` defines class `<Name>`.

The root component is special, as in rl_nexus: `<root>/root/Root_Component.py`. Roots are searched in order
(built-ins first); when the resolver already found a component's yaml, its code is the .py beside it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from launcher.diagnostics import LauncherError
from launcher.runspec.components import COMPONENT_RE, ROOT_COMPONENT, candidate_files
from launcher.runspec.components import display_path as _short

BUILTIN_ROOT_CODE = Path(__file__).resolve().parent.parent / "components" / "root" / "Root_Component.py"


class ComponentNotFound(LauncherError):
    """The component's code is on no component root."""


class ComponentLoader:
    def __init__(self, roots: list[Path], component_files: dict[str, Path] | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.component_files = {k: Path(v) for k, v in (component_files or {}).items()}
        self._classes: dict[str, type] = {}

    def code_path(self, name: str) -> Path:
        """The component's .py file, or ComponentNotFound naming every place searched."""
        if not isinstance(name, str) or not COMPONENT_RE.match(name):
            raise ComponentNotFound(f"{name!r} is not a component name",
                                    hint="write it as <category>/<Name>, e.g. processors/RL_Proc")
        yaml_path = self.component_files.get(name)
        if name == ROOT_COMPONENT and yaml_path is not None and not yaml_path.with_suffix(".py").is_file():
            # A project may carry rl_nexus's Root_Component.yaml (its settings) without code: the root's
            # behaviour is the runtime's stage loop, so the built-in code runs it.
            yaml_path = None
        if yaml_path is not None:
            py = yaml_path.with_suffix(".py")
            if py.is_file():
                return py
            raise ComponentNotFound(
                f"component {name} has no code: {_short(py)} does not exist "
                f"(only its settings file {_short(yaml_path)} is there)",
                hint=f"write class {name.split('/')[1]} in {py.name} beside the yaml, or add the component root "
                     "that holds its code with --component-root")
        cands = candidate_files(name, self.roots, ".py")
        if name == ROOT_COMPONENT:
            cands.append(BUILTIN_ROOT_CODE)
        for py in cands:
            if py.is_file():
                return py
        raise ComponentNotFound(
            f"component {name} not found: looked for {', '.join(_short(p) for p in cands) or '(no roots)'}",
            hint="check the spelling, or add the folder that holds it with --component-root "
                 "(or [tool.launcher] component_roots in pyproject.toml)")

    def load(self, name: str) -> type:
        if name in self._classes:
            return self._classes[name]
        py = self.code_path(name)
        category, cname = name.split("/", 1)
        module_name = f"launcher_components.{category}.{cname}"
        spec = importlib.util.spec_from_file_location(module_name, py)
        if spec is None or spec.loader is None:  # pragma: no cover - only for exotic files
            raise ComponentNotFound(f"component {name}: cannot import {_short(py)}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)  # errors in user code propagate with their traceback
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        cls = getattr(module, cname, None)
        if not isinstance(cls, type):
            raise ComponentNotFound(f"component {name}: {_short(py)} defines no class {cname}",
                                    hint=f"the class must be named like its file: class {cname}(Component)")
        from launcher.runtime.component import Component

        if not issubclass(cls, Component):
            raise ComponentNotFound(
                f"component {name}: class {cname} in {_short(py)} does not derive from launcher.runtime.Component",
                hint="derive it from Component (see docs/runtime.md), or set run_command in [tool.launcher] "
                     "to run the project's own entry point")
        self._classes[name] = cls
        return cls
