"""`tomllib` on every supported Python: the standard library's from 3.11, the `tomli` backport on 3.10.

One import site, so that no module can use `tomllib` directly and break on the oldest Python we support (the
Ubuntu 22.04 Batch image has 3.10)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 CI job and the node-Python test
    import tomli as tomllib

loads = tomllib.loads
TOMLDecodeError = tomllib.TOMLDecodeError

__all__ = ["loads", "TOMLDecodeError"]
