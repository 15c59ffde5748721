"""What goes over the wire between azure-batch and the Batch test server.

Shared Key signatures, the Batch error body, timestamps, ISO-8601 durations and id rules. Kept apart
from the server so that each rule is written once and can be read next to the SDK code it mirrors
(``azure/batch/_patch.py``: ``BatchSharedKeyAuthPolicy``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

# The headers BatchSharedKeyAuthPolicy puts into the string to sign, in this order.
SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)

# What the service reports for "no limit" (TimeSpan.MaxValue); the SDK parses it to a huge timedelta.
UNLIMITED_DURATION = "P10675199DT2H48M5.4775807S"

# Batch ids for jobs, tasks and pools: letters, digits, hyphen and underscore, 1..64 characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ODATA_ERROR_METADATA = "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


# --------------------------------------------------------------------------------------------- auth
def string_to_sign(account: str, method: str, raw_path: str, query: str, headers: dict[str, str]) -> str:
    """Rebuild the string BatchSharedKeyAuthPolicy signs, from what the server received.

    ``headers`` must have lower-case names. The client signs an empty value for a header it did not
    send, and "0" for a missing Content-Length on anything but GET/HEAD.
    """
    present = {name: value for name, value in headers.items() if value}
    if method not in ("GET", "HEAD"):
        present.setdefault("content-length", "0")
    text = method + "\n" + "\n".join(present.get(name, "") for name in SIGNED_HEADERS) + "\n"
    # The SDK takes every header whose name merely *contains* "ocp-", sorted by (name, value).
    for name, value in sorted((n, v) for n, v in present.items() if "ocp-" in n):
        text += f"{name}:{value}\n"
    text += f"/{account}{raw_path}"
    parsed = parse_qs(query)  # drops blank values, exactly as the SDK does
    for name in sorted(parsed):
        text += f"\n{name}:{parsed[name][0]}"
    return text


def sign(key_b64: str, text: str) -> str:
    digest = hmac.new(base64.b64decode(key_b64), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_shared_key(
    account: str, key_b64: str, method: str, raw_path: str, query: str, headers: dict[str, str]
) -> str | None:
    """Return None when the Authorization header is a valid Shared Key signature, else the reason."""
    auth = headers.get("authorization", "")
    if not auth.startswith("SharedKey "):
        return "The request has no SharedKey Authorization header."
    claimed_account, _, signature = auth[len("SharedKey ") :].partition(":")
    if claimed_account != account:
        return f"The account '{claimed_account}' in the Authorization header is not '{account}'."
    if "ocp-date" not in headers and "date" not in headers:
        return "The request has neither an ocp-date nor a Date header."
    expected = sign(key_b64, string_to_sign(account, method, raw_path, query, headers))
    if not hmac.compare_digest(expected, signature):
        return "The MAC signature found in the HTTP request is not the same as any computed signature."
    return None


# -------------------------------------------------------------------------------------------- errors
@dataclass
class BatchError(Exception):
    """An error response: HTTP status, Batch error code, message and key/value details."""

    status: int
    code: str
    message: str
    values: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self, endpoint: str, request_id: str) -> dict:
        return error_body(endpoint, self.code, self.message, self.values, request_id)


def error_body(endpoint: str, code: str, message: str, values=(), request_id: str = "") -> dict:
    """The JSON error shape of the Batch service (the SDK's BatchErrorFormat reads it)."""
    stamp = format_time(now())
    return {
        "odata.metadata": f"{endpoint}/{ODATA_ERROR_METADATA}",
        "code": code,
        "message": {"lang": "en-US", "value": f"{message}\nRequestId:{request_id}\nTime:{stamp}"},
        "values": [{"key": key, "value": value} for key, value in values],
    }


def task_error(code: str, message: str, values=()) -> dict:
    """The ``error`` of one addtaskcollection result (no odata.metadata there)."""
    return {
        "code": code,
        "message": {"lang": "en-US", "value": message},
        "values": [{"key": key, "value": value} for key, value in values],
    }


def missing_property(name: str) -> BatchError:
    return BatchError(
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        [("PropertyName", name)],
    )


def invalid_property(name: str, value, reason: str) -> BatchError:
    return BatchError(
        400,
        "InvalidPropertyValue",
        "The value provided for one of the properties in the request body is invalid.",
        [("PropertyName", name), ("PropertyValue", str(value)), ("Reason", reason)],
    )


def check_id(value, name: str = "id") -> str:
    """Validate a job, task or pool id as the service does (the SDK checks nothing)."""
    if value is None or value == "":
        raise missing_property(name)
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        reason = (
            "The id is longer than 64 characters."
            if isinstance(value, str) and len(value) > 64
            else "The id may only contain letters, digits, hyphens and underscores."
        )
        raise invalid_property(name, value, reason)
    return value


# ------------------------------------------------------------------------------------- times, durations
def now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def http_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag(moment: datetime) -> str:
    # The real service sends unquoted hex etags such as 0x8DB2C9D6A3B1F00.
    return "0x" + format(int(moment.timestamp() * 10_000_000), "X")


_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | None, name: str = "duration") -> timedelta | None:
    """Parse an ISO-8601 duration (what the SDK sends for a timedelta); None when absent."""
    if text is None:
        return None
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match or text in ("P", "PT"):
        raise invalid_property(name, text, "The value is not a valid ISO-8601 duration.")
    parts = {key: float(value) for key, value in match.groupdict().items() if value}
    return timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
