"""The datastore: rl_nexus's `$datastore`, where runspecs read policies and datasets (`$datastore/ope/...`).

On a local target it is `../datastore` relative to working_dir, as rl_nexus has it; launched local runs get it as
XT_DATA_DIR. On an azure-batch target it is a Blob container (or a prefix in one) that the node makes available
as a folder and names in XT_DATA_DIR (the node side's job); the target's settings name it
(`datastore = "container"` or `"container/prefix"`). `launcher data upload DIR` and `launcher data list` put data
there and show it, through the same Store classes as everything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from launcher.diagnostics import LauncherError


@dataclass
class Datastore:
    target: str
    where: str  # a folder, or a container URL with its prefix, for people
    store: object  # a launcher.store Store whose keys are datastore paths (below `prefix`)
    prefix: str = ""

    def key(self, rel: str) -> str:
        return f"{self.prefix}{rel}"


@dataclass
class UploadResult:
    target: str
    where: str
    dest: str
    files: int = 0
    byte_count: int = 0
    skipped: list[str] = field(default_factory=list)  # symlinks and files that look like secrets

    def to_dict(self) -> dict:
        return {"target": self.target, "where": self.where, "dest": self.dest, "files": self.files,
                "bytes": self.byte_count, "skipped": list(self.skipped)}


def open_datastore(config, target_name: str) -> Datastore:
    tgt = config.target(target_name)
    if tgt.backend == "local":
        from launcher.layout import local_datastore
        from launcher.store.local import LocalStore

        folder = local_datastore(config.project_dir, config.layout)
        return Datastore(tgt.name, str(folder), LocalStore(folder))
    from launcher.azure.settings import load_settings

    settings = load_settings(tgt, config)
    datastore = settings.datastore or {}
    container = datastore.get("container")
    if not container:
        raise LauncherError(f"target '{tgt.name}' has no datastore",
                            hint=f'name its Blob container in [tool.launcher.targets.{tgt.name}]: '
                                 'datastore = "container" (or "container/prefix")')
    prefix = (datastore.get("prefix") or "").strip("/")
    from launcher.azure.credentials import credentials_for
    from launcher.store.azure_blob import AzureBlobStore

    url = f"{settings.storage_account_url.rstrip('/')}/{container}"
    store = AzureBlobStore(url, credentials_for(settings).storage(), create_container=False,
                           job_containers=False)  # a plain container of data: no job results routed anywhere
    return Datastore(tgt.name, url + (f"/{prefix}" if prefix else ""), store, f"{prefix}/" if prefix else "")


def _check_dest(dest: str) -> str:
    p = PurePosixPath(dest.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        raise LauncherError(f"--to {dest!r} must be a relative folder inside the datastore",
                            hint="for example --to ope/policy")
    return "" if str(p) == "." else p.as_posix().strip("/")


def upload(ds: Datastore, source: str | Path, *, dest: str | None = None,
           on_file: Callable[[int, int], None] | None = None) -> UploadResult:
    """Copy the files under source to <datastore>/<dest> (default: the folder's own name)."""
    from launcher.package import secret_reason

    src = Path(source)
    if not src.is_dir():
        raise LauncherError(f"{source} is not a folder", hint="give the folder whose files go into the datastore")
    dest_rel = _check_dest(dest if dest is not None else src.resolve().name)
    result = UploadResult(ds.target, ds.where, dest_rel)
    files: list[tuple[Path, str]] = []
    for dirpath, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            path = Path(dirpath) / name
            rel = path.relative_to(src).as_posix()
            if path.is_symlink() or secret_reason(rel):  # never a link out of the folder, never a key file
                result.skipped.append(rel)
                continue
            files.append((path, f"{dest_rel}/{rel}" if dest_rel else rel))
    for i, (path, rel) in enumerate(files, 1):
        ds.store.put_file(ds.key(rel), path)
        result.files += 1
        result.byte_count += path.stat().st_size
        if on_file:
            on_file(i, len(files))
    return result


def listing(ds: Datastore, under: str = "") -> list[dict]:
    """Every file of the datastore (below `under`), with its size where the store knows it."""
    prefix = ds.key(_check_dest(under) + "/") if under.strip("/.") else ds.prefix
    out = []
    for key in sorted(ds.store.list(prefix)):
        rel = key[len(ds.prefix):]
        size = None
        folder = getattr(ds.store, "root", None)
        if folder is not None:
            try:
                size = (Path(folder) / key).stat().st_size
            except OSError:
                size = None
        out.append({"path": rel, "bytes": size})
    return out
