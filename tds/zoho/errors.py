"""Errors raised by the Zoho client, in the two classes every caller must tell apart.

``ZohoTransientError``
    Try again later: the request may succeed unchanged (HTTP 429 codes 44/1070/43, HTTP 5xx,
    timeouts, connection errors, an open circuit, a local rate-limit wait that would be too
    long, a throttled token endpoint). ``retry_after`` is set when the wait is known.
``ZohoQuotaExceeded``
    The organization's daily API quota is spent (code 45). Stop calling Zoho for that
    organization and report; ``retry_after`` says how many seconds until the quota resets.
``ZohoFatalError``
    Repeating the request will not help (other 4xx, ``code != 0`` under HTTP 200, a body
    that is not JSON). ``ZohoNotFound`` and ``ZohoAuthError`` are the two kinds callers
    usually handle on their own.

Messages carry Zoho's ``code`` and ``message`` and the URL called; the URL never holds a
secret (tokens travel in a header, credentials in a POST body).
"""

from __future__ import annotations


class ZohoError(Exception):
    """Base class. ``status`` is the HTTP status (``None`` when no answer came)."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.url = url
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.url:
            parts.append(f"url {self.url}")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:.0f}s")
        return " | ".join(parts)


class ZohoTransientError(ZohoError):
    """Retry later; the same request may well succeed."""

    transient = True


class ZohoRateLimited(ZohoTransientError):
    """Zoho's per-minute or concurrency limit answered, or our shared limiter is full."""


class ZohoCircuitOpen(ZohoTransientError):
    """The shared circuit breaker for this API is open: nobody calls it until it half-opens."""


class ZohoTokenThrottled(ZohoTransientError):
    """The OAuth token endpoint refuses more refreshes (10 per 10 minutes per refresh token)."""


class ZohoQuotaExceeded(ZohoError):
    """The organization's daily quota is spent; calls for it fail at once until reset."""

    transient = False


class ZohoFatalError(ZohoError):
    """The request itself is wrong or refused; retrying it unchanged will not help."""


class ZohoNotFound(ZohoFatalError):
    """The record (or URL) does not exist."""


class ZohoAuthError(ZohoFatalError):
    """Credentials are refused: bad refresh token or client, or a token still refused after a refresh."""
