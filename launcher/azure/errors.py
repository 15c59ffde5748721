"""Azure SDK and HTTP errors as LauncherErrors a user can act on, with every SAS signature scrubbed."""

from __future__ import annotations

import re

from launcher.diagnostics import LauncherError

_SECRET_QUERY = re.compile(r"([?&](?:sig|se|skoid|sktid|skt|ske|sks|skv|sv|sp|sr|st|spr|srt|ss)=)[^&\s\"'<>]*",
                           re.IGNORECASE)
_SHARED_KEY = re.compile(r"(SharedKey\s+[^:\s]+:)\S+|(Bearer\s+)\S+|(AccountKey=)[^;\s]+", re.IGNORECASE)

#: Codes that mean "throttled or briefly unavailable": the SDK's retry policy already retried them.
TRANSIENT_CODES = ("TooManyRequests", "ServerBusy", "OperationTimedOut", "InternalError", "InternalServerError")
QUOTA_CODES = ("ActiveJobAndScheduleQuotaReached", "PoolQuotaReached", "AccountCoreQuotaReached",
               "AccountVMSeriesCoreQuotaReached", "AccountLowPriorityCoreQuotaReached", "AccountSpotCoreQuotaReached",
               "AutoPoolCreationFailedWithQuotaReached")


def redact(text: str) -> str:
    """text without SAS parameters, shared-key signatures, bearer tokens or account keys."""
    text = _SECRET_QUERY.sub(lambda m: m.group(1) + "REDACTED", str(text))
    return _SHARED_KEY.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "REDACTED", text)


def error_code(exc) -> str:
    """The service's error code of an azure-core HttpResponseError ('' when there is none)."""
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) if err is not None else None
    if not code:
        code = getattr(exc, "error_code", None)
    if not code:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        code = headers.get("x-ms-error-code", "")
    return str(code or "")


def error_message(exc) -> str:
    err = getattr(exc, "error", None)
    message = getattr(err, "message", None) if err is not None else None
    if isinstance(message, dict):
        message = message.get("value")
    if not message:
        message = str(getattr(exc, "message", "") or exc).splitlines()[0] if str(exc) else type(exc).__name__
    return redact(str(getattr(message, "value", message)))


def status_code(exc) -> int | None:
    return getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)


def to_launcher_error(exc: BaseException, *, service: str, where: str, doing: str) -> LauncherError:
    """A LauncherError for an SDK exception raised while `doing` something at `where` (an endpoint)."""
    from azure.core import exceptions as ae

    where = redact(where)
    if isinstance(exc, LauncherError):
        return exc
    try:
        from azure.identity import CredentialUnavailableError
    except ImportError:  # pragma: no cover - azure-identity is part of the azure extra
        CredentialUnavailableError = ()  # type: ignore[assignment]
    if isinstance(exc, CredentialUnavailableError) or (
            isinstance(exc, ae.ClientAuthenticationError) and status_code(exc) is None):
        return LauncherError(
            f"could not get an Azure token for {service} while {doing}: {redact(str(exc).splitlines()[0])}",
            hint="in GitHub Actions set AZURE_CLIENT_ID and AZURE_TENANT_ID and give the job "
                 "`permissions: id-token: write`; on a laptop run `az login`; see docs/azure.md (Authentication)")
    code, status = error_code(exc), status_code(exc)
    if status in (401, 403) or code in ("AuthenticationFailed", "AuthorizationFailure",
                                        "AuthorizationPermissionMismatch", "InvalidAuthenticationInfo"):
        return LauncherError(
            f"{service} at {where} refused the credentials while {doing} ({status} {code}): {error_message(exc)}",
            hint="check the account key variable (shared-key) or that the identity has the roles it needs: "
                 "'Azure Batch Data Contributor' on the Batch account (Job Submitter cannot create auto pools, "
                 "Contributor has no data actions), 'Storage Blob Data Contributor' on the Storage account (each "
                 "job's results get a container of their own) and 'Storage Blob Delegator' on it; "
                 "`launcher check TARGET` tells which is missing")
    if isinstance(exc, (ae.ServiceRequestError, ae.ServiceResponseError)):
        return LauncherError(f"cannot reach {service} at {where} while {doing}: {redact(str(exc).splitlines()[0])}",
                             hint="check the endpoint URL in the target's settings and the network; the request "
                                  "was retried with backoff")
    if code in TRANSIENT_CODES or status in (429, 500, 502, 503, 504):
        return LauncherError(f"{service} at {where} stayed busy while {doing} ({status} {code}): "
                             f"{error_message(exc)}",
                             hint="the request was retried with backoff; try again in a few minutes")
    if code == "ContainerNotFound":
        return LauncherError(f"the blob container at {where} does not exist ({doing})",
                             hint="create it (az storage container create -n NAME) or fix `container` in the target")
    return LauncherError(f"{service} error while {doing}: {status or ''} {code or type(exc).__name__}: "
                         f"{error_message(exc)}".replace("  ", " "),
                         hint=f"endpoint {where}")
