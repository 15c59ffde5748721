"""Fixtures of the runspec-language tests."""

from __future__ import annotations

import pytest
import yaml

from launcher.runspec import load

LOADERS = {"libyaml": getattr(yaml, "CSafeLoader", None), "pure-python": yaml.SafeLoader}


@pytest.fixture(params=sorted(LOADERS))
def yaml_loader(request, monkeypatch):
    """Run the test once with libyaml's event parser and once with PyYAML's own: codes must not depend on it."""
    loader = LOADERS[request.param]
    if loader is None:
        pytest.fail("this PyYAML was built without libyaml; the locked environment has it (see requirements/)")
    monkeypatch.setattr(load, "EVENT_LOADER", loader)
    return request.param
