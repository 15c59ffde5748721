"""Load a runspec: safe YAML with a position (line, column) for every key and value.

We build Python values from libyaml's *event* stream rather than from its node graph, for three reasons:
the event parser is iterative (a pathologically nested file cannot exhaust the C stack), it lets us stop
an alias-expansion bomb before it is expanded (we count nodes as we copy), and it hands us every key's mark.

Aliases are expanded into independent copies (rl_nexus draws a fresh `randint` for each occurrence, so the
copies must not share state). An alias whose anchor names a hyperparameter (`- name: &lr`) becomes a
`HyperRef("lr")`: the resolver substitutes the chosen value, as rl_nexus's text pre-pass does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from launcher.diagnostics import ERROR, Diagnostic, LauncherError

MAX_BYTES = 1024 * 1024  # a runspec is a few KiB; anything over a MiB is a mistake or an attack
MAX_DEPTH = 64  # deepest real runspecs nest about 8 levels
MAX_NODES = 100_000  # after alias expansion; the largest compat runspec has about 500

#: libyaml's event parser when PyYAML was built with it (fast), else PyYAML's pure-Python one. Both are
#: iterative. The tests run the loader with each, so a parser change shows as a failing test, not a wrong code.
EVENT_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: how parsers word their own nesting limit (libyaml >= 0.2.5 stops at 1,000 levels in its scanner, before
#: our count at MAX_DEPTH sees the events): mapped to the same RS010 as ours
_PARSER_DEPTH_LIMIT = "maximum nesting depth"

_DEPTH_HINT = "flatten the structure; real runspecs nest fewer than 10 levels"

Path_ = tuple  # ('processing_stages', 0, 'processing_stage', 'max_iterations')


@dataclass(frozen=True)
class HyperRef:
    """An alias to a hyperparameter anchor; replaced by the chosen value when resolving."""

    name: str

    def __repr__(self) -> str:
        return f"*{self.name}"


@dataclass
class Document:
    """One loaded runspec (or component default file)."""

    file: str  # the name to show in diagnostics (as the user gave it)
    text: str
    data: Any
    #: path -> (line, col) of the value, 1-based
    value_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: path -> (line, col) of the mapping key that holds the value
    key_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: anchor name -> path of its definition (first definition wins in diagnostics)
    anchors: dict[str, Path_] = field(default_factory=dict)
    #: anchors referenced by at least one alias
    used_anchors: set[str] = field(default_factory=set)
    #: hyperparameter anchor -> list of alias paths that reference it
    hyper_refs: dict[str, list[Path_]] = field(default_factory=dict)

    def pos(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of path, or of its nearest ancestor that has one (defaults added by resolving)."""
        p = tuple(path)
        while True:
            if key and p in self.key_pos:
                return self.key_pos[p]
            if p in self.value_pos:
                return self.value_pos[p]
            if p in self.key_pos:
                return self.key_pos[p]
            if not p:
                return (1, 1)
            p = p[:-1]

    @cached_property
    def lines(self) -> list[str]:
        # read for every lint fix and every component setting's description: split once, not per read
        return self.text.splitlines()


def format_path(path: Path_) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class LoadError(LauncherError):
    """The file could not be loaded; carries exactly one diagnostic."""

    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message, hint=diag.hint, diagnostics=[diag])
        self.diagnostic = diag


def _fail(file: str, code: str, message: str, line: int = 0, col: int = 0, hint: str = "", path: Path_ = ()):
    raise LoadError(Diagnostic(code=code, severity=ERROR, message=message, file=file, line=line, col=col,
                               hint=hint, path=format_path(path) if path else ""))


# ---------------------------------------------------------------------------------------------------------
# Scalars: YAML 1.1 implicit typing exactly as PyYAML (what rl_nexus uses), but timestamps stay strings.

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:timestamp",
    "!", "tag:yaml.org,2002:merge",
}
_CONSTRUCT = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}
_scalar_cache: dict[str, Any] = {}
_MISSING = object()


def plain_scalar(value: str) -> Any:
    """An untagged, unquoted scalar typed as PyYAML types it (`300` -> 300, `true` -> True, `1e-4` -> str)."""
    cached = _scalar_cache.get(value, _MISSING)
    if cached is not _MISSING:
        return cached
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    construct = _CONSTRUCT.get(tag)
    result = construct(yaml.ScalarNode(tag, value)) if construct else value
    if len(_scalar_cache) < 50_000:
        _scalar_cache[value] = result
    return result


def _reject_tag(file: str, ev) -> None:
    _fail(file, "RS006", f"YAML tag {ev.tag!r} is not allowed in a runspec",
          ev.start_mark.line + 1, ev.start_mark.column + 1,
          hint="runspecs are plain data: remove the tag (Python object tags are never run)")


def _tagged_scalar(file: str, ev, value: str) -> Any:
    tag = ev.tag
    if tag not in _ALLOWED_TAGS:
        _reject_tag(file, ev)
    if tag in (_STR, "!"):
        return value
    construct = _CONSTRUCT.get(tag)
    if construct is None:  # timestamp: keep the text
        return value
    try:
        return construct(yaml.ScalarNode(tag, value))
    except (ValueError, TypeError):
        _fail(file, "RS006", f"value {value!r} is not a valid {tag.rsplit(':', 1)[-1]}",
              ev.start_mark.line + 1, ev.start_mark.column + 1)


# ---------------------------------------------------------------------------------------------------------


def _decode(file: str, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        _fail(file, "RS002", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", line, col,
              hint="save the file as UTF-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_document(path: str | Path, *, display: str | None = None) -> Document:
    """Read and load a file; LoadError (one diagnostic) when it cannot be loaded."""
    file = display if display is not None else str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            _fail(file, "RS001", f"file is {size:,} bytes; a runspec may be at most {MAX_BYTES:,} bytes",
                  hint="runspecs describe experiments; keep data in the datastore, not in the runspec")
        raw = p.read_bytes()
    except FileNotFoundError:
        _fail(file, "RS000", "file not found", hint="check the path (it is relative to the current folder)")
    except IsADirectoryError:
        _fail(file, "RS000", "is a folder, not a runspec file")
    except PermissionError:
        _fail(file, "RS000", "permission denied")
    return load_text(_decode(file, raw), file)


def load_text(text: str, file: str = "<string>", *, hyper_section: str | None = "hyperparameters") -> Document:
    """Load YAML text into a Document; LoadError on any problem."""
    if len(text) > MAX_BYTES:
        _fail(file, "RS001", f"text is over {MAX_BYTES:,} characters")
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        _fail(file, "RS003", "the file is empty",
              hint="a runspec starts with 'component: root/Root_Component' (see runspecs/ for examples)")
    builder = _Builder(file, text, hyper_section)
    try:
        builder.run()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        src_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        indent = src_line[: len(src_line) - len(src_line.lstrip(" \t"))]
        if "\t" in indent:
            _fail(file, "RS004", "a tab is used for indentation", line, indent.index("\t") + 1,
                  hint="YAML indentation must use spaces; replace the tab with spaces")
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if _PARSER_DEPTH_LIMIT in problem:
            _fail(file, "RS010", f"nesting is deeper than {MAX_DEPTH} levels", line, col, hint=_DEPTH_HINT)
        hint = "check the indentation and quoting on this line and the one above"
        if "found character '\\t'" in problem:
            hint = "YAML does not allow tabs here; use spaces"
        _fail(file, "RS005", f"YAML syntax error: {problem}", line, col, hint=hint)
    except yaml.YAMLError as exc:  # a reader/scanner error without marks
        _fail(file, "RS005", f"YAML syntax error: {exc}")
    doc = builder.document
    if doc.data is None:
        _fail(file, "RS003", "the file holds no YAML document")
    return doc


class _Frame:
    __slots__ = ("kind", "value", "path", "key", "key_mark", "anchor", "nodes_at_start", "mark")

    def __init__(self, kind, value, path, anchor, nodes_at_start, mark):
        self.kind = kind  # "map" | "seq"
        self.value = value
        self.path = path
        self.key = _NO_KEY
        self.key_mark = None
        self.anchor = anchor
        self.nodes_at_start = nodes_at_start
        self.mark = mark


_NO_KEY = object()


@dataclass
class _Anchored:
    value: Any
    value_pos: dict  # relative path -> pos
    key_pos: dict
    nodes: int
    hyper: str | None  # hyperparameter name, when the anchor is a hyperparameter's `name`


class _Builder:
    def __init__(self, file: str, text: str, hyper_section: str | None) -> None:
        self.file = file
        self.text = text
        self.hyper_section = hyper_section
        self.document = Document(file=file, text=text, data=None)
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.anchored: dict[str, _Anchored] = {}
        self.documents = 0

    # -- helpers -------------------------------------------------------------------------------------------
    def _here(self, ev) -> tuple[int, int]:
        return ev.start_mark.line + 1, ev.start_mark.column + 1

    def _count(self, n: int, ev) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            _fail(self.file, "RS008", f"the document expands to more than {MAX_NODES:,} values "
                  "(aliases expanding aliases)", *self._here(ev),
                  hint="this looks like an alias expansion bomb; use fewer nested aliases")

    def _child_path(self) -> Path_:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.kind == "seq":
            return top.path + (len(top.value),)
        return top.path + (top.key,)

    def _expecting_key(self) -> bool:
        """Is the next node a mapping key (rather than a value or a list item)?"""
        return bool(self.stack) and self.stack[-1].kind == "map" and self.stack[-1].key is _NO_KEY

    def _is_hyper_name(self, path: Path_) -> bool:
        return (self.hyper_section is not None and len(path) == 3 and path[0] == self.hyper_section
                and isinstance(path[1], int) and path[2] == "name")

    def _attach(self, value: Any, ev, path: Path_) -> None:
        """Put a finished value into its parent (or make it the document)."""
        line, col = self._here(ev)
        doc = self.document
        doc.value_pos[path] = (line, col)
        if not self.stack:
            doc.data = value
            return
        top = self.stack[-1]
        if top.kind == "seq":
            top.value.append(value)
            return
        if top.key is _NO_KEY:  # this value is a key
            if isinstance(value, (dict, list)):
                _fail(self.file, "RS007", "a mapping key must be a plain value, not a mapping or list",
                      line, col)
            if isinstance(value, HyperRef):
                _fail(self.file, "RS007", "an alias cannot be used as a mapping key", line, col)
            key = value
            if key in top.value:
                first = doc.key_pos.get(top.path + (key,), (0, 0))[0]
                _fail(self.file, "RS009", f"duplicate key {key!r}", line, col, path=top.path + (key,),
                      hint=f"the key is already defined on line {first}; remove one of them")
            del doc.value_pos[path]
            top.key = key
            top.key_mark = (line, col)
            return
        key = top.key
        doc.key_pos[top.path + (key,)] = top.key_mark
        if key == "<<" and isinstance(value, (dict, list)):
            self._merge(top, value, ev)
        else:
            top.value[key] = value
        top.key = _NO_KEY

    def _merge(self, top: _Frame, value: Any, ev) -> None:
        sources = value if isinstance(value, list) else [value]
        for src in sources:
            if not isinstance(src, dict):
                _fail(self.file, "RS007", "a merge key '<<' takes a mapping or a list of mappings",
                      *self._here(ev))
            for k, v in src.items():
                top.value.setdefault(k, v)

    def _register_anchor(self, name: str, value: Any, path: Path_, nodes: int) -> None:
        doc = self.document
        n = len(path)
        vpos = {p[n:]: pos for p, pos in doc.value_pos.items() if p[:n] == path}
        kpos = {p[n:]: pos for p, pos in doc.key_pos.items() if p[:n] == path and len(p) > n}
        hyper = name if self._is_hyper_name(path) else None
        self.anchored[name] = _Anchored(value, vpos, kpos, nodes, hyper)
        doc.anchors.setdefault(name, path)

    # -- the event loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        doc = self.document
        for ev in yaml.parse(self.text, Loader=EVENT_LOADER):
            cls = type(ev)
            if cls is yaml.ScalarEvent:
                self._count(1, ev)
                if ev.tag is None or (ev.tag == "!" and ev.implicit[1]):
                    value = plain_scalar(ev.value) if ev.implicit[0] and not ev.style else ev.value
                else:
                    value = _tagged_scalar(self.file, ev, ev.value)
                path = self._child_path()
                is_key = self._expecting_key()
                self._attach(value, ev, path)
                if ev.anchor and not is_key:
                    self._register_anchor(ev.anchor, value, path, 1)
            elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
                if ev.tag not in (None, "!") and ev.tag not in _ALLOWED_TAGS:
                    _reject_tag(self.file, ev)
                if self._expecting_key():
                    _fail(self.file, "RS007", "a mapping key must be a plain value, not a mapping or list",
                          *self._here(ev))
                if len(self.stack) >= MAX_DEPTH:
                    _fail(self.file, "RS010", f"nesting is deeper than {MAX_DEPTH} levels", *self._here(ev),
                          hint=_DEPTH_HINT)
                self._count(1, ev)
                path = self._child_path()
                kind = "map" if cls is yaml.MappingStartEvent else "seq"
                frame = _Frame(kind, {} if kind == "map" else [], path, ev.anchor, self.nodes, ev)
                doc.value_pos[path] = self._here(ev)
                self.stack.append(frame)
            elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
                frame = self.stack.pop()
                self._attach(frame.value, frame.mark, frame.path)
                if frame.anchor:
                    self._register_anchor(frame.anchor, frame.value, frame.path, self.nodes - frame.nodes_at_start + 1)
            elif cls is yaml.AliasEvent:
                anchored = self.anchored.get(ev.anchor)
                line, col = self._here(ev)
                if anchored is None:
                    known = ", ".join(f"&{a}" for a in self.anchored) or "none"
                    _fail(self.file, "RS011", f"alias *{ev.anchor} refers to an undefined anchor", line, col,
                          hint=f"define '&{ev.anchor}' before this line (anchors defined so far: {known})")
                doc.used_anchors.add(ev.anchor)
                path = self._child_path()
                if anchored.hyper is not None:
                    self._count(1, ev)
                    doc.hyper_refs.setdefault(anchored.hyper, []).append(path)
                    self._attach(HyperRef(anchored.hyper), ev, path)
                    continue
                self._count(anchored.nodes, ev)
                is_key = self._expecting_key()
                value = _deepcopy(anchored.value)
                if not is_key:
                    for rel, pos in anchored.value_pos.items():
                        doc.value_pos[path + rel] = pos
                    for rel, pos in anchored.key_pos.items():
                        doc.key_pos[path + rel] = pos
                self._attach(value, ev, path)
                if not is_key:
                    # the alias token itself is where this copy is used; keep the definition's inner positions
                    doc.value_pos[path] = (line, col)
            elif cls is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    _fail(self.file, "RS012", "the file holds more than one YAML document", *self._here(ev),
                          hint="a runspec is a single document: remove the '---' separator and what follows")
            # StreamStart/End, DocumentEnd: nothing to do


def _deepcopy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value
