"""Entra ID stand-ins on 127.0.0.1 for the Blob side: a managed-identity token endpoint that mints JWTs Azurite
accepts, a self-signed certificate for Azurite's HTTPS (bearer tokens need it), and a role check in front of
Azurite for the one permission the launcher depends on that Azurite does not model.

* Azurite's `--oauth basic` (README, "OAuth Configuration"; dist/src/blob/authentication/BlobTokenAuthenticator.js,
  authenticateBasic) checks a bearer token's nbf/exp/iat, an issuer starting with https://sts.windows.net/ (and
  the other clouds' STS hosts) and a storage audience (https://storage.azure.com, ...), and "will NOT check token
  signature and permission". It requires HTTPS ("Authentication scheme Bearer is not allowed with HTTP").
  Service_GetUserDelegationKey (dist/src/blob/handlers/ServiceHandler.js, getUserDelegationKey) answers every
  token that passed with a key derived from the token's oid and tid.
* So a missing *Storage Blob Delegator* role cannot come from Azurite. DelegatorCheck is an HTTPS pass-through
  that answers that one request as Azure does when the identity lacks
  Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action (403
  AuthorizationPermissionMismatch, learn.microsoft.com/rest/api/storageservices/get-user-delegation-key:
  "the security principal ... must be assigned an Azure role that includes the ... generateUserDelegationKey
  action"); every other request goes to Azurite unchanged.
* TokenEndpoint is the App Service / Functions managed-identity endpoint azure-identity reads from
  IDENTITY_ENDPOINT and IDENTITY_HEADER (learn.microsoft.com/azure/app-service/overview-managed-identity, "REST
  endpoint reference"), so the launcher's own `auth = "default"` (DefaultAzureCredential) fetches the tokens.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TENANT = "72f988bf-0000-4000-8000-00000000e2a1"
#: the claim DelegatorCheck reads: True when the identity holds a role with generateUserDelegationKey at account
#: scope (Storage Blob Delegator, or a Storage Blob Data role assigned on the account)
DELEGATOR_CLAIM = "test_delegator"
#: the claim DelegatorCheck reads: True when the identity's Storage Blob Data role is assigned on the account, so it
#: covers every container (the jobs' results containers too), False when it is assigned on the store container only
ACCOUNT_DATA_CLAIM = "test_account_data"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost) and its key, PEM files in `folder`; valid one day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_jwt(audience: str, *, oid: str, delegator: bool, account_data: bool = True,
             lifetime: int = 3600) -> tuple[str, int]:
    """An Entra-shaped access token (unsigned in substance: Azurite checks no signature); returns (token, exp)."""
    now = int(time.time())
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{TENANT}/", "iat": now - 60, "nbf": now - 60,
              "exp": now + lifetime, "oid": oid, "tid": TENANT, "sub": oid, DELEGATOR_CLAIM: delegator,
              ACCOUNT_DATA_CLAIM: account_data}
    header = {"alg": "RS256", "typ": "JWT"}
    token = ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(os.urandom(64))))
    return token, claims["exp"]


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class _LoopbackServer:
    """Start and stop of a server on 127.0.0.1 that serves from its own thread (self._httpd, self._thread)."""

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class TokenEndpoint(_LoopbackServer):
    """The App Service managed-identity endpoint: GET ?resource=...&api-version=2019-08-01 with X-IDENTITY-HEADER;
    answers a JWT for the resource. `delegator` says whether the identity holds the delegator role."""

    def __init__(self, *, delegator: bool = True, account_data: bool = True) -> None:
        self.delegator, self.account_data = delegator, account_data
        self.header = uuid.uuid4().hex
        self.oid = str(uuid.uuid4())
        self.resources: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                query = parse_qs(urlsplit(self.path).query)
                if self.headers.get("X-IDENTITY-HEADER") != owner.header:
                    self._answer(401, {"error": "invalid_request", "error_description": "bad identity header"})
                    return
                resource = (query.get("resource") or [""])[0]
                owner.resources.append(resource)
                token, exp = mint_jwt(resource.removesuffix("/.default"), oid=owner.oid, delegator=owner.delegator,
                                      account_data=owner.account_data)
                self._answer(200, {"access_token": token, "expires_on": str(exp), "resource": resource,
                                   "token_type": "Bearer", "client_id": str(uuid.uuid4())})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/msi/token"

    def env(self) -> dict[str, str]:
        """What the launcher's process needs to find this endpoint (and nothing of the other credential kinds)."""
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header}



class DelegatorCheck(_LoopbackServer):
    """HTTPS on 127.0.0.1 in front of an HTTPS Azurite: refuses Get User Delegation Key for a token without the
    delegator claim, and any request on a container other than `store_container` for a token without the account
    data claim (a role assigned on one container covers that container only: learn.microsoft.com/azure/storage/
    blobs/assign-azure-role-data-access, "Scope"); both as 403 AuthorizationPermissionMismatch, Azure's answer.
    Everything else goes through."""

    def __init__(self, upstream_port: int, cert: Path, key: Path, *, store_container: str = "store") -> None:
        self.refused = 0
        owner = self
        upstream_ssl = ssl.create_default_context(cafile=str(cert))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                claims = claims_of(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
                container = (urlsplit(self.path).path.strip("/").split("/") + [""])[1]
                if claims is not None and (
                        (query.get("comp") == ["userdelegationkey"] and not claims.get(DELEGATOR_CLAIM))
                        or (container and container != store_container
                            and not claims.get(ACCOUNT_DATA_CLAIM, True))):
                    owner.refused += 1
                    data = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch'
                            '</Code><Message>This request is not authorized to perform this operation using this '
                            'permission.</Message></Error>').encode()
                    self.send_response(403)
                    self.send_header("x-ms-error-code", "AuthorizationPermissionMismatch")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPSConnection("127.0.0.1", upstream_port, context=upstream_ssl, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                    self.send_response(reply.status, reply.reason)
                    for k, v in reply.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

