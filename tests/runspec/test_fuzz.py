"""Property test: random and mutated YAML fed to the loader and the checker gives diagnostics, never an
uncaught exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.runspec.api import check_document
from launcher.runspec.components import ComponentCatalog
from launcher.runspec.load import LoadError, load_text
from tests.conftest import COMPAT, needs_shared

pytestmark = needs_shared
SEEDS = [p.read_text() for p in sorted((COMPAT / "specs").rglob("*.y*ml"))] or ["component: root/Root_Component\n"]
CATALOG = ComponentCatalog([COMPAT / "components"])
YAML_BITS = [":", "- ", "&a ", "*a", "[", "]", "{", "}", "\n", "  ", "\t", "#", "'", '"', "<x>", "randint",
             "component: ", "processing_stage:", "!!python/name:os.system", "<<: ", "---\n", "|\n", "? ", ",", "%"]


def _check(text: str) -> None:
    try:
        doc = load_text(text, "fuzz.yaml")
    except LoadError as exc:
        assert exc.diagnostic.code.startswith("RS") and exc.diagnostic.message
        return
    diags, _fixes, _res = check_document(doc, CATALOG, do_lint=True, target_names={"local"})
    for d in diags:
        assert d.code and d.message and d.line >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(YAML_BITS + list("abcxyz019 .=_/")), max_size=80))
def test_random_yaml_like_text(bits):
    _check("".join(bits))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_runspecs(seed, data):
    text = seed
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, max(len(text) - 1, 0)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        bit = data.draw(st.sampled_from(YAML_BITS))
        if op == "insert":
            text = text[:pos] + bit + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 20)):]
        else:
            text = text[:pos] + bit + text[pos + len(bit):]
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    _check(text)
