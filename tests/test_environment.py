"""The environments this repository builds are reproducible, and the package runs on every Python it admits.

- The lock files (requirements/*.txt) pin every package pyproject.toml asks for, within its ranges, with hashes,
  for each supported Python; a dependency added without `make lock` fails here, not on the next fresh machine.
- Nothing in the package, its tests or its benchmarks needs a Python newer than `requires-python`'s lowest
  (vermin), so a 3.11-only construct cannot reach the Ubuntu 22.04 Batch image's 3.10 again.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from launcher import tomlcompat
from tests.conftest import REPO

PYPROJECT = tomlcompat.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LOWEST = re.fullmatch(r">=\s*(3\.\d+)", PYPROJECT["project"]["requires-python"]).group(1)
SUPPORTED = [c.rsplit(":: ", 1)[1] for c in PYPROJECT["project"]["classifiers"]
             if c.startswith("Programming Language :: Python :: 3.")]


def _pins(lock: str) -> list[tuple[str, Version, Marker | None, int]]:
    """(name, version, marker, number of hashes) of every requirement in a `uv pip compile` lock file."""
    text = (REPO / "requirements" / lock).read_text(encoding="utf-8")
    pins = []
    for entry in re.split(r"\n(?=\S)", re.sub(r"^#.*\n", "", text, flags=re.M)):
        if not entry.strip():
            continue
        first = entry.split(" \\", 1)[0].strip()
        req = Requirement(first)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{lock}: {first} is not pinned"
        pins.append((req.name, Version(spec.version), req.marker, entry.count("--hash=sha256:")))
    return pins


def _env(python: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux",
            "platform_system": "Linux", "platform_python_implementation": "CPython",
            "implementation_name": "cpython", "platform_machine": "x86_64", "os_name": "posix", "extra": ""}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("lock,extras", [("launcher.txt", ["azure"]), ("dev.txt", ["dev", "azure"])])
@pytest.mark.parametrize("python", SUPPORTED)
def test_the_lock_pins_every_dependency_within_its_range(lock, extras, python):
    pins = _pins(lock)
    assert all(hashes >= 1 for _, _, _, hashes in pins), "every pin carries its hashes (pip/uv --require-hashes)"
    env = _env(python)
    chosen: dict[str, list[Version]] = {}
    for name, version, marker, _ in pins:
        if marker is None or marker.evaluate(env):
            chosen.setdefault(_canonical(name), []).append(version)
    assert all(len(v) == 1 for v in chosen.values()), f"two versions of one package for Python {python}"
    wanted = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        wanted += PYPROJECT["project"]["optional-dependencies"][extra]
    for line in wanted:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        got = chosen.get(_canonical(req.name))
        assert got, f"{lock} has no {req.name} for Python {python}: run `make lock`"
        assert SpecifierSet(str(req.specifier)).contains(got[0], prereleases=True), (
            f"{lock} pins {req.name}=={got[0]}, outside pyproject.toml's {req.specifier}: run `make lock`")


def test_both_locks_agree_where_they_overlap():
    # the workflows and nodes install launcher.txt, the tests dev.txt: what was tested is what is launched
    runtime = {(_canonical(n), str(m)): v for n, v, m, _ in _pins("launcher.txt")}
    dev = {(_canonical(n), str(m)): v for n, v, m, _ in _pins("dev.txt")}
    differ = {k: (v, dev[k]) for k, v in runtime.items() if k in dev and dev[k] != v}
    assert not differ and {n for n, _ in runtime} <= {n for n, _ in dev}


@pytest.mark.parametrize("python", SUPPORTED)
def test_the_release_lock_pins_the_build_backend_and_the_release_tools(python):
    # release.yml installs requirements/release.txt and builds with --no-isolation against it: it must hold
    # every package of [build-system] requires, within range, hashed, and agree with dev.txt where both pin
    pins = _pins("release.txt")
    assert all(hashes >= 1 for _, _, _, hashes in pins)
    env = _env(python)
    chosen = {_canonical(n): v for n, v, m, _ in pins if m is None or m.evaluate(env)}
    for line in [*PYPROJECT["build-system"]["requires"], "build", "twine"]:
        req = Requirement(line)
        assert _canonical(req.name) in chosen, f"release.txt has no {req.name}: re-lock it (see release.in)"
        assert req.specifier.contains(chosen[_canonical(req.name)], prereleases=True)
    dev = {(_canonical(n), str(m)): v for n, v, m, _ in _pins("dev.txt")}
    differ = {(n, str(m)): (v, dev[(_canonical(n), str(m))]) for n, v, m, _ in pins
              if (_canonical(n), str(m)) in dev and dev[(_canonical(n), str(m))] != v}
    assert not differ, differ


def test_tomli_backs_tomllib_below_python_3_11():
    (tomli,) = [Requirement(d) for d in PYPROJECT["project"]["dependencies"] if d.startswith("tomli")]
    assert tomli.marker.evaluate(_env("3.10")) and not tomli.marker.evaluate(_env("3.11"))
    assert tomlcompat.loads('[tool.launcher]\nledger = "jobs.md"\n') == {"tool": {"launcher": {"ledger": "jobs.md"}}}


def test_the_ci_workflow_tests_the_lowest_and_the_newest_supported_python():
    import yaml

    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    versions = ci["jobs"]["test"]["strategy"]["matrix"]["python"]
    assert LOWEST == SUPPORTED[0] and set(versions) == {SUPPORTED[0], SUPPORTED[-1]}


def _vermin(*paths: str) -> subprocess.CompletedProcess:
    # vermin has no __main__ module: call its console-script entry point with this interpreter
    return subprocess.run([sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", f"--target={LOWEST}-", "--violations", "--no-tips",
                           *paths], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_nothing_needs_a_python_newer_than_the_lowest_supported():
    p = _vermin("launcher", "tests", "benchmarks")
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_version_check_catches_a_newer_construct(tmp_path):
    # the check itself can fail: a 3.11-only import is a violation for a 3.10 target
    bad = tmp_path / "uses_311.py"
    bad.write_text("from datetime import UTC\n")
    p = _vermin(str(bad))
    assert p.returncode != 0 and "datetime.UTC" in p.stdout
