"""Azurite (the Azure Storage emulator, blob service only) started on 127.0.0.1 for tests.

Other test folders use it through the ``azurite`` fixture: in their conftest.py,
``from services.azurite import azurite  # noqa: F401`` (tests/ is on sys.path under pytest).
The fixture never skips: without Azurite installed it fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

# The well-known development account every Azurite instance has (public, not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

REPO = Path(__file__).resolve().parents[2]
# Where `make test` installs it; used when azurite-blob is not on PATH (e.g. a bare `pytest` run).
LOCAL_BIN = REPO / ".venv" / "node" / "node_modules" / ".bin" / "azurite-blob"
STARTUP_TIMEOUT = 60.0  # generous: node loads slowly when the machine is busy (25 s seen at load 36)


class AzuriteNotInstalled(RuntimeError):
    pass


def find_azurite() -> str:
    """The azurite-blob executable: $AZURITE_BIN, then PATH, then the Makefile's install folder."""
    configured = os.environ.get("AZURITE_BIN")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise AzuriteNotInstalled(f"AZURITE_BIN={configured} is not an executable file.")
        return configured
    found = shutil.which("azurite-blob")
    if found:
        return found
    if LOCAL_BIN.exists():
        return str(LOCAL_BIN)
    raise AzuriteNotInstalled(
        "Azurite is not installed: azurite-blob is neither on PATH nor in .venv/node. "
        "Run the tests with `make test` (it installs Azurite with npm), or set AZURITE_BIN."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to send SIGTERM when the parent goes away, so a killed
    pytest run does not leave an Azurite (about 150 MB) behind. Best effort elsewhere."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Azurite:
    """A running Azurite blob service. ``stop()`` kills exactly the process it started."""

    workdir: Path
    binary: str = field(default_factory=find_azurite)
    port: int = 0
    process: subprocess.Popen | None = None
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY
    #: HTTPS with this certificate and key (PEM files), which bearer tokens need; oauth: `--oauth basic`
    cert: Path | None = None
    key: Path | None = None
    oauth: bool = False

    @property
    def account_url(self) -> str:
        return f"{'https' if self.cert else 'http'}://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.account_url};"
        )

    def start(self) -> Azurite:
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _ in range(3):  # a port taken between free_port() and bind is retried with another one
            self.port = free_port()
            log = open(self.workdir / "azurite.log", "ab")
            # cwd and -l in a temp folder: Azurite writes its database files there, never into the repo.
            # --disableTelemetry: telemetry is on by default and would send data off this machine.
            # --skipApiVersionCheck: azure-storage-blob sends a newer x-ms-version than Azurite knows.
            self.process = subprocess.Popen(
                [self.binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "-l", str(self.workdir / "data"),
                 "--disableTelemetry", "--skipApiVersionCheck", "--silent"]
                + (["--cert", str(self.cert), "--key", str(self.key)] if self.cert else [])
                + (["--oauth", "basic"] if self.oauth else []),
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_die_with_parent,
            )
            log.close()
            if self._wait_ready():
                return self
            last_error = self._log_tail()
            self.stop()
        raise RuntimeError(f"Azurite did not start on 127.0.0.1 within {STARTUP_TIMEOUT:.0f} s:\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                # Any HTTP answer (400 for an unsigned request) means the blob service is listening.
                context = ssl.create_default_context(cafile=str(self.cert)) if self.cert else None
                urllib.request.urlopen(f"{self.account_url}?comp=list", timeout=1, context=context).close()
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "azurite.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    # ---------------------------------------------------------------------------- conveniences
    def blob_service(self, **kwargs):
        """An azure-storage-blob BlobServiceClient for this instance."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)

    def create_container(self, name: str):
        """Create ``name`` (fine if it exists); returns its ContainerClient."""
        from azure.core.exceptions import ResourceExistsError

        container = self.blob_service().get_container_client(name)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        return container

    def container_sas_url(self, name: str, permission: str = "racwdl", hours: float = 1.0) -> str:
        """A container URL with a SAS (permission letters as in azure-storage-blob: r a c w d l)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        sas = generate_container_sas(
            self.account_name, name, account_key=self.account_key,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=datetime.now(timezone.utc) + timedelta(hours=hours),
        )
        return f"{self.account_url}/{name}?{sas}"

    def blob_sas_url(self, container: str, blob: str, permission: str = "r", hours: float = 1.0) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        sas = generate_blob_sas(
            self.account_name, container, blob, account_key=self.account_key,
            permission=BlobSasPermissions.from_string(permission),
            expiry=datetime.now(timezone.utc) + timedelta(hours=hours),
        )
        return f"{self.account_url}/{container}/{blob}?{sas}"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """A session-wide Azurite blob service on 127.0.0.1 (fails, never skips, when not installed)."""
    try:
        service = Azurite(tmp_path_factory.mktemp("azurite"))
    except AzuriteNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    service.start()
    try:
        yield service
    finally:
        service.stop()
