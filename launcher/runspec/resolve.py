"""Resolve a loaded runspec into a fully explicit spec, as rl_nexus's expand_dict + SpecTree do.

Pure: the same document, catalog, overrides, hyperparameter assignment and seed give the same result.

- string_replacements: an exact match keeps the replacement's type (`<horizon>: 500` gives the int 500); a
  substring match makes a string; one pass in the section's order; `$datastore` and `--set` overrides added
  after the section (as rl_nexus does); a `<placeholder>` left over is an error.
- component defaults: a mapping with `component: cat/Name` gets every default from its yaml that it does not
  set; a key its defaults do not define is an error ("did you mean"); nested plain mappings are replaced whole
  and not key-checked. A component found on no root is a warning ("not checked"), or an error where it must run.
- hyperparameters: every alias to a hyperparameter anchor becomes the chosen value (tuned_value, or the
  assignment of a search run).
- randint: a component setting whose value is `randint` gets an integer drawn from the run seed, in document
  order, so the seed reproduces every draw.
- enabled: 0/1/true/false, normalised to a bool.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from typing import Any

from launcher.diagnostics import ERROR, WARNING, Diagnostic, did_you_mean
from launcher.runspec import hp_lines
from launcher.runspec.components import COMPONENT_RE, ROOT_COMPONENT, CatalogError, ComponentCatalog, display_path
from launcher.runspec.hp_lines import coerce_like_hp_handler
from launcher.runspec.load import Document, HyperRef, format_path, plain_scalar

SPECIAL_SECTIONS = ("hyperparameters", "string_replacements", "forward_definitions")
ROOT_EXTRA_KEYS = ("description",)  # ours: a one-line description for the ledger and the PR comment
PLACEHOLDER_RE = re.compile(r"<\w+>")
RANDINT_MAX = 999_999_999  # rl_nexus: random.randint(0, 999999999)


@dataclass
class HyperParameter:
    name: str
    values: list
    ordered: bool
    tuned_value: Any
    path: tuple  # of its `name` entry


@dataclass
class Resolution:
    doc: Document
    data: Any  # the fully explicit spec (special sections removed)
    full: Any  # the same, with the special sections still in (for schema validation)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    hyperparameters: list[HyperParameter] = field(default_factory=list)
    hparams: dict[str, Any] = field(default_factory=dict)  # chosen values
    hp_uses: dict[str, list[tuple]] = field(default_factory=dict)  # name -> resolved paths it reached
    seeds: dict[str, int] = field(default_factory=dict)  # "$.path" -> drawn value
    seed: int = 0
    replacements: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    component_files: dict[str, Any] = field(default_factory=dict)  # name -> yaml Path
    missing_components: dict[str, tuple] = field(default_factory=dict)  # name -> first path
    component_paths: list[tuple] = field(default_factory=list)  # paths of every resolved component

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]


def parse_override_value(text: str) -> Any:
    """`--set K=V` values are YAML scalars, so `--set <horizon>=300` gives the int 300 (rl_nexus: a string)."""
    return plain_scalar(text) if text else ""


def datastore_path() -> str:
    """rl_nexus: $XT_DATA_DIR on a node (trailing / stripped), else ../datastore."""
    env = os.environ.get("XT_DATA_DIR")
    return env.rstrip("/") if env else "../datastore"


def resolve(doc: Document, catalog: ComponentCatalog, *, overrides: dict[str, Any] | None = None,
            hp_assignment: dict[str, Any] | None = None, seed: int | None = None,
            require_components: bool = False, datastore: str | None = None) -> Resolution:
    """`datastore`: the folder $datastore names when the caller knows it better than this process's
    environment (a smoke run's copy runs elsewhere than ../datastore)."""
    return _Resolver(doc, catalog, overrides or {}, hp_assignment, seed, require_components, datastore).run()


class _Resolver:
    def __init__(self, doc, catalog, overrides, hp_assignment, seed, require_components, datastore=None) -> None:
        self.datastore = datastore
        self.doc = doc
        self.catalog = catalog
        self.require = require_components
        self.hp_assignment = hp_assignment
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.rng = random.Random(self.seed)
        self.res = Resolution(doc=doc, data=None, full=None, seed=self.seed)
        self.res.overrides = dict(overrides)
        self.chosen: dict[str, Any] = {}
        self.unresolved_seen: set[tuple] = set()
        self.said: set[tuple] = set()
        self.used_keys: set[str] = set()  # replacement keys that replaced something

    # -- diagnostics ---------------------------------------------------------------------------------------
    def diag(self, code: str, severity: str, message: str, path: tuple, *, hint: str = "", key: bool = False,
             file: str | None = None, line: int | None = None, col: int | None = None) -> None:
        if line is None:
            line, col = self.doc.pos(path, key=key)
        # A value inside an anchor is resolved once per alias that uses it, at the anchor's one position.
        seen = (code, line, col, message)
        if seen in self.said:
            return
        self.said.add(seen)
        self.res.diagnostics.append(Diagnostic(code, severity, message, file or self.doc.file, line, col or 0,
                                               hint=hint, path=format_path(path)))

    # -- entry ---------------------------------------------------------------------------------------------
    def run(self) -> Resolution:
        data = self.doc.data
        if not isinstance(data, dict):
            self.diag("RS013", ERROR, f"the top level of a runspec must be a mapping, not a {_type_name(data)}",
                      (), hint="start the file with 'component: root/Root_Component'")
            return self.res
        self._hyperparameters(data.get("hyperparameters"))
        self._replacements(data.get("string_replacements"))
        if "component" not in data:
            # Not a runspec at all (a config file, a data file): one clear error, not one per key.
            self.diag("RS014", ERROR, "this is not a runspec: it has no 'component: root/Root_Component' at the "
                      "top level", (), hint="add 'component: root/Root_Component' as the first line")
            return self.res
        if data.get("component") != ROOT_COMPONENT:
            self.diag("RS014", ERROR, f"the top-level component must be {ROOT_COMPONENT}, "
                      f"not {data.get('component')!r}", ("component",), hint=f"write 'component: {ROOT_COMPONENT}'")
        full = self._component(data, (), root=True)
        self.res.full = full
        self.res.data = {k: v for k, v in full.items() if k not in SPECIAL_SECTIONS} if isinstance(full, dict) else full
        self.res.hparams = {hp.name: self.chosen.get(hp.name, hp.tuned_value) for hp in self.res.hyperparameters}
        self._unused_overrides(data.get("string_replacements"))
        return self.res

    def _unused_overrides(self, section: Any) -> None:
        """A --set naming a placeholder the runspec neither defines nor uses would change nothing: a typo."""
        declared = [k for k in section if isinstance(k, str)] if isinstance(section, dict) else []
        for key in self.res.overrides:
            if key in declared or key in self.used_keys:
                continue
            known = declared + sorted({m.group() for m in PLACEHOLDER_RE.finditer(self.doc.text or "")
                                       if m.group() not in declared})
            self.diag("RS212", ERROR, f"--set {key!r}: the runspec has no placeholder {key}, so it would change "
                      "nothing", ("string_replacements",) if declared else (), key=bool(declared),
                      hint=did_you_mean(key, known) or (f"its placeholders: {', '.join(known)}" if known else
                                                         "this runspec has no string_replacements"))

    # -- sections ------------------------------------------------------------------------------------------
    def _hyperparameters(self, section: Any) -> None:
        if section is None:
            return
        base = ("hyperparameters",)
        if not isinstance(section, list):
            self.diag("RS201", ERROR, "hyperparameters must be a list of '- name: &anchor' entries", base,
                      hint="see the hyperparameters section of runspecs/random_search.yaml")
            return
        anchor_at = {path: name for name, path in self.doc.anchors.items()}
        for i, item in enumerate(section):
            p = base + (i,)
            if not isinstance(item, dict) or list(item) != ["name"]:
                self.diag("RS201", ERROR, "each hyperparameter is one '- name: &anchor' entry", p,
                          hint="write '- name: &lr' then, indented, the tuning values and tuned_value")
                continue
            name = anchor_at.get(p + ("name",))
            body = item["name"]
            if name is None:
                self.diag("RS202", ERROR, "a hyperparameter needs an anchor that names it", p + ("name",), key=True,
                          hint="write '- name: &lr' (the anchor is the hyperparameter's name)")
                continue
            if not isinstance(body, dict):
                self.diag("RS201", ERROR, f"hyperparameter '{name}' needs tuning values and a tuned_value",
                          p + ("name",), key=True, hint="indent 'ordered_tuning_values: [...]' and 'tuned_value: x' under it")
                continue
            kinds = [k for k in ("ordered_tuning_values", "unordered_tuning_values") if k in body]
            for k in body:
                if k not in ("ordered_tuning_values", "unordered_tuning_values", "tuned_value"):
                    self.diag("RS203", ERROR, f"hyperparameter '{name}' has an unknown key '{k}'",
                              p + ("name", k), key=True,
                              hint=did_you_mean(k, ("ordered_tuning_values", "unordered_tuning_values",
                                                    "tuned_value"))
                              or "allowed: ordered_tuning_values or unordered_tuning_values, and tuned_value")
            if len(kinds) != 1:
                self.diag("RS204", ERROR, f"hyperparameter '{name}' needs exactly one of ordered_tuning_values "
                          "or unordered_tuning_values", p + ("name",), key=True,
                          hint="use ordered_tuning_values when the values have a natural order")
                continue
            values = body[kinds[0]]
            if not isinstance(values, list) or not values or any(isinstance(v, dict) for v in values):
                self.diag("RS205", ERROR, f"hyperparameter '{name}': {kinds[0]} must be a non-empty list of "
                          "values (plain values or lists)", p + ("name", kinds[0]),
                          hint="for example [1.0e-4, 2.5e-4, 1.0e-3]")
                continue
            if "tuned_value" not in body:
                self.diag("RS206", ERROR, f"hyperparameter '{name}' has no tuned_value", p + ("name",), key=True,
                          hint="add 'tuned_value: <v>': the value used by runs that do not search")
                continue
            # Values as hp_handler reads them: PyYAML keeps `1e1` a string, hp_handler makes it the float 10.0.
            self.res.hyperparameters.append(HyperParameter(name, coerce_like_hp_handler(values),
                                                           kinds[0].startswith("ordered"),
                                                           coerce_like_hp_handler(body["tuned_value"]),
                                                           p + ("name",)))
        self._hp_lines()
        names = {hp.name for hp in self.res.hyperparameters}
        if self.hp_assignment:
            for name, value in self.hp_assignment.items():
                if name not in names:
                    self.diag("RS207", ERROR, f"the hyperparameter assignment names '{name}', which the runspec "
                              "does not define", base, hint=did_you_mean(name, names) or "")
                else:
                    self.chosen[name] = value
        for hp in self.res.hyperparameters:
            self.chosen.setdefault(hp.name, hp.tuned_value)

    def _hp_lines(self) -> None:
        """rl_nexus parses this section as text before YAML does (hp_handler): its three-line form is a rule."""
        entries, problems = hp_lines.scan(self.doc.lines)
        for pr in problems:
            self.diag("RS208", ERROR, pr.message, (), hint=pr.hint, line=pr.line, col=pr.col)
        by_name = {hp.name: hp for hp in self.res.hyperparameters}
        for entry in entries:
            hp = by_name.get(entry.name)
            if hp is None:
                continue
            parses, value = hp_lines.tuned_value_as_rl_nexus_reads_it(entry.tuned_text)
            if parses and hp_lines.coerce_like_hp_handler(value) == hp.tuned_value:
                continue
            line_text = self.doc.lines[entry.tuned_line - 1]
            col = line_text.index("tuned_value:") + len("tuned_value:") + 1
            col += len(line_text[col - 1:]) - len(line_text[col - 1:].lstrip())
            got = "YAML it cannot parse" if not parses else f"the value {value!r}"
            self.diag("RS209", ERROR, f"hyperparameter '{entry.name}': rl_nexus reads this tuned_value as "
                      f"{entry.tuned_text!r} (hp_handler takes the line's second word), which gives {got}",
                      (), line=entry.tuned_line, col=col,
                      hint="write the value without spaces, e.g. 'tuned_value: [64,64]'")

    def _replacements(self, section: Any) -> None:
        reps: dict[str, Any] = {}
        if section is not None:
            if not isinstance(section, dict):
                self.diag("RS210", ERROR, "string_replacements must be a mapping of '<placeholder>: value'",
                          ("string_replacements",), hint="for example '<environment>: Maze_Env'")
            else:
                for k, v in section.items():
                    if not isinstance(k, str):
                        self.diag("RS211", ERROR, f"replacement key {k!r} must be a string",
                                  ("string_replacements", k), key=True)
                        continue
                    reps[k] = self.chosen.get(v.name) if isinstance(v, HyperRef) else v
        reps["$datastore"] = self.datastore.rstrip("/") if self.datastore else datastore_path()
        for k, v in self.res.overrides.items():
            reps[k] = v
        self.res.replacements = reps
        self._rep_items = [(k, v) for k, v in reps.items() if isinstance(k, str) and k]

    # -- values --------------------------------------------------------------------------------------------
    def _replace(self, value: str, path: tuple, *, origin: str = "") -> Any:
        out: Any = value
        applied: list[tuple[str, Any]] = []
        for key, rep in self._rep_items:
            if not isinstance(out, str):
                break
            if out == key:
                out = rep
                applied.append((key, rep))
                self.used_keys.add(key)
            elif key in out:
                out = out.replace(key, str(rep))
                applied.append((key, rep))
                self.used_keys.add(key)
        if isinstance(out, str) and "<" in out:
            for m in PLACEHOLDER_RE.finditer(out):
                if (path, m.group()) in self.unresolved_seen:
                    continue
                self.unresolved_seen.add((path, m.group()))
                where = f" (from the defaults in {origin})" if origin else ""
                known = [k for k in self.res.replacements if k.startswith("<")]
                if m.group() in self.res.replacements:
                    introduced = [k for k, v in applied if m.group() in str(v)]
                    by = f" by {introduced[0]}" if introduced else ""
                    self.diag("RS220", ERROR, f"unresolved placeholder {m.group()} in {out!r}{where}: it is "
                              f"defined, but before the replacement that brings it in{by}", path,
                              hint=f"rl_nexus replaces in one ordered pass over string_replacements; move "
                                   f"'{m.group()}: ...' below {introduced[0] if introduced else 'that replacement'}")
                    continue
                self.diag("RS220", ERROR, f"unresolved placeholder {m.group()} in {out!r}{where}", path,
                          hint=(did_you_mean(m.group(), known) or
                                f"define it under string_replacements, e.g. '{m.group()}: value', "
                                f"or pass --set '{m.group()}=value'"))
        return out

    def _value(self, value: Any, path: tuple, *, origin: str = "") -> Any:
        if isinstance(value, HyperRef):
            self.res.hp_uses.setdefault(value.name, []).append(path)
            return self.chosen.get(value.name)
        if isinstance(value, str):
            return self._replace(value, path, origin=origin) if ("<" in value or "$" in value) else value
        if isinstance(value, dict):
            if "component" in value:
                return self._component(value, path, origin=origin)
            return {k: self._value(v, path + (k,), origin=origin) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, path + (i,), origin=origin) for i, v in enumerate(value)]
        return value

    def _component(self, spec: dict, path: tuple, *, root: bool = False, origin: str = "") -> Any:
        raw_name = spec.get("component")
        name = self._value(raw_name, path + ("component",), origin=origin)
        self.res.component_paths.append(path)
        if not isinstance(name, str) or not COMPONENT_RE.match(name):
            self.diag("RS100", ERROR, f"component must be '<category>/<Name>', not {name!r}",
                      path + ("component",), hint="for example 'component: processors/RL_Proc'")
            return {k: self._value(v, path + (k,), origin=origin) for k, v in spec.items()}
        try:
            cdef = self.catalog.find(name)
        except CatalogError as exc:
            d = exc.error.diagnostic
            self.res.diagnostics.append(d)
            cdef = None
        if cdef is None:
            if name not in self.res.missing_components:
                self.res.missing_components[name] = path
                close = did_you_mean(name, self.catalog.names())
                if self.catalog.rl_nexus_tree:
                    where = f" (a default from {origin})" if origin else ""
                    self.diag("RS111", ERROR, f"component {name}{where} not found in the project's rl_nexus "
                              "components: rl_nexus stops here with FileNotFoundError", path + ("component",),
                              hint=(f"{close} " if close else "") + f"looked for {self.catalog.where(name)}; add "
                              "the component's folder, or fix its name")
                elif self.require:
                    self.diag("RS111", ERROR, f"component {name} not found", path + ("component",),
                              hint=(f"{close} " if close else "") + f"looked for {self.catalog.where(name)}; "
                              "add its folder with --component-root or to [tool.launcher] component_roots")
                else:
                    where = f" (a default from {origin})" if origin else ""
                    self.diag("RS110", WARNING, f"component {name}{where} not checked: not found in "
                              f"{self.catalog.where(name)}", path + ("component",),
                              hint=(f"{close} " if close else "") + "its code may live elsewhere; add its "
                              "root with --component-root to check it")
            out = {"component": name}
            for k, v in spec.items():
                if k != "component":
                    out[k] = self._setting(k, v, path, origin)
            return out
        self.res.component_files[name] = cdef.yaml_path
        defaults = cdef.defaults
        allowed = set(defaults)
        if root:
            allowed |= set(SPECIAL_SECTIONS) | set(ROOT_EXTRA_KEYS)
        for k in spec:
            if k not in allowed:
                self.diag("RS101", ERROR, f"{name} has no setting '{k}'", path + (k,), key=True,
                          hint=(did_you_mean(str(k), [d for d in defaults if d != "component"])
                                or f"its settings are defined in {display_path(cdef.yaml_path)}"))
        out: dict[str, Any] = {"component": name}
        def_origin = display_path(cdef.yaml_path)
        for k, dv in defaults.items():
            if k == "component":
                continue
            if k in spec:
                value = self._setting(k, spec[k], path, origin)
                self._check_type(name, k, value, dv, path + (k,), cdef)
            else:
                value = self._setting(k, dv, path, def_origin)
            out[k] = value
        for k, v in spec.items():
            if k not in out and k != "component":
                out[k] = self._setting(k, v, path, origin) if k not in SPECIAL_SECTIONS else \
                    self._section(k, v, path + (k,))
        if "enabled" in out:
            out["enabled"] = self._enabled(out["enabled"], path + ("enabled",))
        return out

    def _section(self, key: str, value: Any, path: tuple) -> Any:
        if key == "forward_definitions":  # expanded and validated like everything else, then dropped
            return self._value(value, path)
        if key == "string_replacements":
            return {k: (self.chosen.get(v.name) if isinstance(v, HyperRef) else v)
                    for k, v in value.items()} if isinstance(value, dict) else value
        return value  # hyperparameters: checked by _hyperparameters

    def _setting(self, key: str, value: Any, path: tuple, origin: str) -> Any:
        p = path + (key,)
        out = self._value(value, p, origin=origin)
        if out == "randint" and isinstance(out, str):
            out = self.rng.randint(0, RANDINT_MAX)
            self.res.seeds[format_path(p)] = out
        return out

    def _enabled(self, value: Any, path: tuple) -> Any:
        if value is True or value is False:
            return value
        if type(value) is int and value in (0, 1):
            return bool(value)
        self.diag("RS103", ERROR, f"enabled must be 0, 1, true or false, not {value!r}", path,
                  hint="write 'enabled: 1' to run it or 'enabled: 0' to skip it")
        return bool(value)

    def _check_type(self, cname: str, key: str, value: Any, default: Any, path: tuple, cdef) -> None:
        if value is None or default is None or key == "enabled" or cname == "job_launchers/XT":
            return  # the launcher section's types are the runspec schema's job (hp_tuning is false or a word)
        expected = "number" if default == "randint" else _kind(default)
        if expected == "component":
            ok = isinstance(value, dict) and "component" in value
        elif expected == "bool":
            ok = isinstance(value, bool) or (type(value) is int and value in (0, 1))
        elif expected == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = _kind(value) == expected
        if not ok:
            self.diag("RS102", ERROR, f"{cname}.{key} must be {_KIND_TEXT[expected]}, not "
                      f"{_type_name(value)} {_short_repr(value)}", path,
                      hint=f"its default in {display_path(cdef.yaml_path)} is {_short_repr(default)}")


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "component" if "component" in v else "mapping"
    return "other"


_KIND_TEXT = {"bool": "true or false", "number": "a number", "string": "a string", "list": "a list",
              "mapping": "a mapping", "component": "a component (a mapping with 'component: ...')",
              "other": "a plain value"}


def _type_name(v: Any) -> str:
    return {"bool": "boolean", "number": "number", "string": "string", "list": "list", "mapping": "mapping",
            "component": "component", "other": "null" if v is None else type(v).__name__}[_kind(v)]


def _short_repr(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."
