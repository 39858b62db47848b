"""How a run that raised ended: its status, a short reason, when it will try again, and the
exit code of the command that ran it.

One table for the sync, the reconcile and the command line, so that a refused token is a
failed run that exits 7 everywhere, and a rate limit another run holds is a *deferred* run
(it waits its turn; it is not an error and never shows as one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis as redis_lib

from tds.db import is_unavailable, utcnow
from tds.exit_codes import ExitCode, first_line
from tds.runs import RunInterrupted, RunStatus
from tds.zoho.errors import (
    ZohoAuthError,
    ZohoCircuitOpen,
    ZohoError,
    ZohoQuotaExceeded,
    ZohoRateLimited,
    ZohoTokenThrottled,
)

#: reason → what a person reads
REASONS = {
    "interrupted": "interrupted",
    "rate_limit": "the Zoho rate limit is taken by another run",
    "quota": "the daily Zoho quota is spent",
    "zoho_auth": "Zoho refused the credentials",
    "zoho_breaker": "the Zoho circuit breaker is open",
    "zoho": "Zoho could not be reached",
    "database": "PostgreSQL could not be reached",
    "redis": "Redis could not be reached",
    "error": "an error",
}


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    reason: str
    retry_at: dt.datetime | None
    exit_code: ExitCode
    message: str

    @property
    def text(self) -> str:
        """``failed: Zoho refused the credentials (<first line>)``, ``deferred: … until HH:MM``."""
        when = f" until {self.retry_at:%H:%M:%S} UTC" if self.retry_at else ""
        return f"{self.status}: {REASONS[self.reason]}{when} ({self.message})"


def _later(exc: ZohoError) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=float(exc.retry_after or 60))


def of(exc: BaseException) -> Outcome:
    """The outcome of a run that ``exc`` stopped (most specific first: a rate limit is also transient)."""
    message = first_line(exc)
    if isinstance(exc, (KeyboardInterrupt, RunInterrupted)):
        return Outcome(RunStatus.ABORTED, "interrupted", None, ExitCode.INTERRUPTED, message)
    if isinstance(exc, (ZohoRateLimited, ZohoTokenThrottled)):
        return Outcome(RunStatus.DEFERRED, "rate_limit", _later(exc), ExitCode.ZOHO, message)
    if isinstance(exc, ZohoQuotaExceeded):
        return Outcome(RunStatus.DEFERRED, "quota", _later(exc), ExitCode.ZOHO, message)
    if isinstance(exc, ZohoAuthError):
        return Outcome(RunStatus.FAILED, "zoho_auth", None, ExitCode.ZOHO, message)
    if isinstance(exc, ZohoCircuitOpen):
        return Outcome(RunStatus.FAILED, "zoho_breaker", None, ExitCode.ZOHO, message)
    if isinstance(exc, ZohoError):
        return Outcome(RunStatus.FAILED, "zoho", None, ExitCode.ZOHO, message)
    if is_unavailable(exc):
        return Outcome(RunStatus.FAILED, "database", None, ExitCode.DATABASE, message)
    if isinstance(exc, redis_lib.RedisError):
        return Outcome(RunStatus.FAILED, "redis", None, ExitCode.REDIS, message)
    return Outcome(RunStatus.FAILED, "error", None, ExitCode.PROBLEM, message)
