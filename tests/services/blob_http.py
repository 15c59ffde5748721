"""Plain-HTTP blob transfers with SAS URLs, as a Batch node does for resourceFiles and outputFiles.

Deliberately not azure-storage-blob: a node only has the SAS URLs the task carries, and a test of the
launcher must fail if those URLs lack a permission (read, list, write) the node needs.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

STORAGE_API_VERSION = "2021-08-06"
TIMEOUT = 30


class TransferError(Exception):
    """A failed download or upload; ``code`` is the Batch failureInfo code to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def blob_url(container_url: str, blob_name: str) -> str:
    """Append a blob name to a container URL that may carry a SAS query."""
    parts = urllib.parse.urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(blob_name)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def download(url: str, target: Path) -> int:
    """GET ``url`` into ``target`` (parents created); returns the byte count."""
    request = urllib.request.Request(url, headers={"x-ms-version": STORAGE_API_VERSION})
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response, open(target, "wb") as out:
            size = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                size += len(chunk)
            return size
    except urllib.error.HTTPError as exc:
        raise _download_error(exc, url) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TransferError("BlobDownloadMiscError", f"Could not download {_strip_sas(url)}: {exc}") from exc


def list_blobs(container_url: str, prefix: str = "") -> list[str]:
    """Names of the blobs under ``prefix`` (needs a SAS with list permission); follows NextMarker."""
    names: list[str] = []
    marker = ""
    parts = urllib.parse.urlsplit(container_url)
    while True:
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query += [("restype", "container"), ("comp", "list")]
        if prefix:
            query.append(("prefix", prefix))
        if marker:
            query.append(("marker", marker))
        url = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
        )
        request = urllib.request.Request(url, headers={"x-ms-version": STORAGE_API_VERSION})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                root = ET.fromstring(response.read())
        except urllib.error.HTTPError as exc:
            raise _download_error(exc, container_url) from exc
        except (urllib.error.URLError, OSError, ET.ParseError) as exc:
            raise TransferError("BlobDownloadMiscError", f"Could not list {_strip_sas(container_url)}: {exc}") from exc
        # <Name> also appears under <BlobPrefix> when a delimiter is used: take only real blobs.
        names += [blob.findtext("Name") or "" for blob in root.iter("Blob")]
        marker = (root.findtext("NextMarker") or "").strip()
        if not marker:
            return names


def upload(path: Path, url: str, headers: dict[str, str] | None = None) -> None:
    """Put-Blob ``path`` to ``url`` (a blob URL with a SAS that has write or create permission)."""
    data = path.read_bytes()
    request = urllib.request.Request(
        url,
        data=data,
        method="PUT",
        headers={
            "x-ms-blob-type": "BlockBlob",
            "x-ms-version": STORAGE_API_VERSION,
            "Content-Length": str(len(data)),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise TransferError(
            "FileUploadError", f"Upload of {path.name} to {_strip_sas(url)} failed: {exc.code} {detail}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TransferError("FileUploadError", f"Upload of {path.name} to {_strip_sas(url)} failed: {exc}") from exc


def _download_error(exc: urllib.error.HTTPError, url: str) -> TransferError:
    code = {404: "BlobNotFound", 403: "BlobAccessDenied"}.get(exc.code, "BlobDownloadMiscError")
    return TransferError(code, f"Download of {_strip_sas(url)} failed with HTTP {exc.code}.")


def _strip_sas(url: str) -> str:
    # Never put a SAS signature into failure messages (they end up in logs and test reports).
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def safe_join(base: Path, relative: str) -> Path:
    """``base / relative`` that refuses to leave ``base`` (a resource filePath of '../x' is invalid)."""
    target = Path(os.path.normpath(base / relative))
    if target != base and base not in target.parents:
        raise TransferError("ResourceFileCreateFailed", f"The file path {relative!r} leaves the task directory.")
    return target
