"""Stores by location: `open_store(".launcher")`, `open_store("file:///srv/launcher")`, `open_store(config)`.

The folder store is the embedded default; an http(s) URL names an Azure Blob container, whose module is
imported only then (the Azure SDK is an optional extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from launcher.diagnostics import LauncherError
from launcher.store.base import Store

DEFAULT_STORE = ".launcher"
#: Overrides the configured store, e.g. in CI or for a one-off: LAUNCHER_STORE=/scratch/store launcher jobs
ENV_VAR = "LAUNCHER_STORE"


def open_store(config_or_url=None, *, project_dir: str | Path | None = None) -> Store:
    """The store named by a Store (returned as is), a URL or folder, or a [tool.launcher] mapping (key `store`).

    None means: $LAUNCHER_STORE, else `.launcher` in project_dir (default: the current folder). Relative folders
    are taken relative to project_dir.
    """
    if isinstance(config_or_url, Store):
        return config_or_url
    if config_or_url is None:
        location = os.environ.get(ENV_VAR) or DEFAULT_STORE
    elif isinstance(config_or_url, dict):
        location = os.environ.get(ENV_VAR) or config_or_url.get("store") or DEFAULT_STORE
    elif isinstance(config_or_url, (str, Path)):
        location = config_or_url
    else:
        raise TypeError(f"open_store needs a Store, a URL, a folder or a config mapping, not {type(config_or_url)}")
    return _open_location(location, Path(project_dir) if project_dir else Path.cwd())


def _open_location(location: str | Path, project_dir: Path) -> Store:
    from launcher.store.local import LocalStore

    if isinstance(location, Path):
        return LocalStore(location if location.is_absolute() else project_dir / location)
    scheme = urlparse(location).scheme.lower()
    if scheme == "file":
        return LocalStore(Path(unquote(urlparse(location).path)))
    if scheme in ("http", "https"):
        try:
            from launcher.store.azure_blob import AzureBlobStore
        except ModuleNotFoundError as exc:
            raise LauncherError(f"store {location}: the Azure Blob store is not available ({exc.name} is missing)",
                                hint="install the Azure extras: pip install 'runspec-launcher[azure]'") from None
        return AzureBlobStore.from_url(location)
    if scheme and len(scheme) > 1:  # 'C:' style drive letters are folders, anything else is a typo
        raise LauncherError(f"store {location!r}: unknown scheme '{scheme}:'",
                            hint="use a folder (.launcher), a file:// URL or an https:// blob container URL")
    path = Path(location).expanduser()
    return LocalStore(path if path.is_absolute() else project_dir / path)
