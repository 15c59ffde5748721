"""Fault injection for the Batch test server.

Two kinds of faults:

* HTTP faults (``FaultPlan.add``): a request whose method and path match gets a delay, an error
  response, a dropped connection, or (for addtaskcollection) is carried out half-way and then fails.
* Service-state faults: a pool that cannot reach its target size (``resize_error``: the pool reports
  ``resizeErrors``) and an auto pool that cannot be created (``scheduling_error``: the job reports
  ``executionInfo.schedulingError``). The real service reports quota problems this way, not as HTTP
  errors.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    """One injected HTTP fault. See ``FaultPlan.add`` for the meaning of each field."""

    method: str
    path: re.Pattern
    status: int | None = None
    code: str | None = None
    message: str | None = None
    times: int | None = 1
    delay: float = 0.0
    retry_after: float | None = None
    after: bool = False
    drop_connection: bool = False
    partial: int | None = None
    values: list[tuple[str, str]] = field(default_factory=list)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and self.path.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class ResizeErrorFault:
    pool: re.Pattern
    code: str
    message: str
    max_dedicated: int
    max_low_priority: int


@dataclass
class SchedulingErrorFault:
    job: re.Pattern
    code: str
    message: str
    category: str
    completes: bool = True  # the documented behaviour: a job whose auto pool cannot be created is completed


# Messages the real service uses (or close to them) so that tests read like production logs.
DEFAULT_MESSAGES = {
    "TooManyRequests": "The request was throttled. Retry after the interval in the Retry-After header.",
    "ServerBusy": "Server is busy. Please retry after some time.",
    "OperationTimedOut": "The operation could not be completed within the permitted time.",
    "JobExists": "The specified job already exists.",
    "TaskExists": "The specified task already exists.",
    "PoolExists": "The specified pool already exists.",
    "ActiveJobAndScheduleQuotaReached": "The account has reached its quota of active jobs and job schedules.",
    "PoolQuotaReached": "The specified account has reached its pool quota.",
    "AccountCoreQuotaReached": "The specified account has reached its core quota.",
    "AccountLowPriorityCoreQuotaReached": "The specified account has reached its low-priority core quota.",
    "AutoPoolCreationFailedWithQuotaReached": (
        "The Batch service could not create an auto pool to run the job on, because the account has"
        " reached its quota of compute nodes."
    ),
    "AllocationTimedOut": "Desired number of dedicated nodes could not be allocated as the resize timeout was reached.",
    "AuthenticationFailed": "Server failed to authenticate the request.",
    "RequestBodyTooLarge": "The request body is too large and exceeds the maximum permissible limit.",
}


class FaultPlan:
    """The faults a server applies; thread-safe. Reach it as ``server.faults``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._http: list[Fault] = []
        self._resize: list[ResizeErrorFault] = []
        self._scheduling: list[SchedulingErrorFault] = []

    # ------------------------------------------------------------------------------------ HTTP faults
    def add(
        self,
        method: str,
        path_regex: str,
        status: int | None = None,
        code: str | None = None,
        *,
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: float | None = None,
        message: str | None = None,
        after: bool = False,
        drop_connection: bool = False,
        partial: int | None = None,
        values: list[tuple[str, str]] | None = None,
    ) -> Fault:
        """Inject a fault into requests whose method and path match.

        method: "GET", "POST", ... or "*". path_regex: searched (case-insensitively) in the path
        without the query, e.g. r"^/jobs$" or r"/addtaskcollection$".
        status/code: the error response (Batch JSON error body); None means no error (delay only).
        times: how many matching requests get the fault (None = all of them).
        delay: seconds to wait before handling (a slow service).
        retry_after: adds a Retry-After header (seconds) to the error response.
        after: carry the request out first, then answer with the error. Models a retried create whose
               first attempt succeeded (JobExists) or a response lost on the way back.
        drop_connection: close the connection without any response (after the work when ``after``).
        partial: addtaskcollection only: add the first ``partial`` tasks of the body, then fail with
                 status/code or drop the connection.
        """
        if status is None and code is not None:
            raise ValueError("a fault with a code needs a status")
        if status is None and not drop_connection and (after or partial is not None):
            raise ValueError("after/partial need a status or drop_connection=True")
        fault = Fault(
            method=method.upper(),
            path=re.compile(path_regex, re.IGNORECASE),
            status=status,
            code=code or _default_code(status),
            message=message,
            times=times,
            delay=delay,
            retry_after=retry_after,
            after=after,
            drop_connection=drop_connection,
            partial=partial,
            values=list(values or []),
        )
        with self._lock:
            self._http.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault with uses left (and count the use); None when none applies."""
        with self._lock:
            for fault in self._http:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    # --------------------------------------------------------------------------- service-state faults
    def resize_error(
        self,
        pool_regex: str = ".*",
        code: str = "AccountCoreQuotaReached",
        message: str | None = None,
        *,
        max_dedicated: int = 0,
        max_low_priority: int = 0,
    ) -> ResizeErrorFault:
        """Pools (explicit or auto) whose id matches get at most the given node counts, and report
        ``resizeErrors=[{code, message}]`` with allocationState steady, like a core-quota shortfall."""
        fault = ResizeErrorFault(
            re.compile(pool_regex, re.IGNORECASE),
            code,
            message or DEFAULT_MESSAGES.get(code, code),
            max_dedicated,
            max_low_priority,
        )
        with self._lock:
            self._resize.append(fault)
        return fault

    def scheduling_error(
        self,
        job_regex: str = ".*",
        code: str = "AutoPoolCreationFailedWithQuotaReached",
        message: str | None = None,
        category: str = "usererror",
        *,
        completes: bool = True,
    ) -> SchedulingErrorFault:
        """Jobs with an auto pool whose id matches get no pool: ``executionInfo.schedulingError={category, code,
        message}``, and the job is completed, as documented ("If auto Pool creation fails, the Batch service moves
        the Job to a completed state"); ``completes=False`` keeps it active (what the harness did before)."""
        fault = SchedulingErrorFault(
            re.compile(job_regex, re.IGNORECASE), code, message or DEFAULT_MESSAGES.get(code, code), category,
            completes)
        with self._lock:
            self._scheduling.append(fault)
        return fault

    def resize_error_for(self, pool_id: str) -> ResizeErrorFault | None:
        with self._lock:
            return next((f for f in self._resize if f.pool.search(pool_id)), None)

    def scheduling_error_for(self, job_id: str) -> SchedulingErrorFault | None:
        with self._lock:
            return next((f for f in self._scheduling if f.job.search(job_id)), None)

    def clear(self) -> None:
        with self._lock:
            self._http.clear()
            self._resize.clear()
            self._scheduling.clear()

    @property
    def pending(self) -> list[Fault]:
        """HTTP faults that still have uses left (a test can assert that all were consumed)."""
        with self._lock:
            return [f for f in self._http if not f.exhausted]


def _default_code(status: int | None) -> str | None:
    return {
        429: "TooManyRequests",
        503: "ServerBusy",
        500: "InternalServerError",
        413: "RequestBodyTooLarge",
        403: "AuthenticationFailed",
    }.get(status)
