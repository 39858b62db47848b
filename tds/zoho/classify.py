"""Turn a Zoho API answer into a result or an error: the exception ladder, top-down.

Zoho reports errors in the body as well as in the status: ``code != 0`` is an error even
under HTTP 200, and the daily quota (code 45) has been seen under both 429 and 200.
Bodies are parsed with ``parse_float=Decimal`` so money (``85.00``) and stock
(``1.000000``) keep every digit.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import requests

from .errors import (
    ZohoAuthError,
    ZohoError,
    ZohoFatalError,
    ZohoNotFound,
    ZohoQuotaExceeded,
    ZohoRateLimited,
    ZohoTransientError,
)

THROTTLE_CODES = frozenset({44, 43, 1070})  # per minute, throttled, too many in process
QUOTA_CODE = 45  # per day
NOT_FOUND_CODES = frozenset({1002})
AUTH_CODES = frozenset({57, 14})  # token refused / missing


def parse_json(content: bytes) -> object:
    """Zoho JSON with exact decimals."""
    return json.loads(content, parse_float=Decimal)


def body_of(response: requests.Response) -> dict | None:
    """The JSON object in ``response``, ``None`` when the body is not a JSON object."""
    if not response.content:
        return None
    try:
        body = parse_json(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def zoho_code(body: dict | None) -> int | str | None:
    """Books/Inventory send an integer ``code``; CRM sends strings such as ``INVALID_TOKEN``."""
    if not body:
        return None
    code = body.get("code")
    if isinstance(code, str) and code.isdigit():
        return int(code)
    return code


def seconds_until_utc_midnight(now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.timezone.utc)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


def quota_reset_seconds(headers) -> int:
    """``X-Rate-Limit-Reset`` (seconds until the daily reset), else until next UTC midnight."""
    raw = headers.get("X-Rate-Limit-Reset")
    try:
        value = int(float(raw))
    except (TypeError, ValueError):
        return seconds_until_utc_midnight()
    return max(1, value)


def error_for(response: requests.Response, body: dict | None) -> ZohoError | None:
    """The error ``response`` stands for, or ``None`` when it is a success.

    ``body`` is the parsed JSON object (``None`` when the body is not JSON).
    """
    status = response.status_code
    code = zoho_code(body)
    message = str((body or {}).get("message") or response.reason or "")
    where = {"status": status, "code": code, "url": response.url}

    if code == QUOTA_CODE:
        return ZohoQuotaExceeded(message or "daily API quota exceeded",
                                 retry_after=quota_reset_seconds(response.headers), **where)
    if status == 429 or code in THROTTLE_CODES:
        return ZohoRateLimited(message or "rate limited", **where)
    if status >= 500:
        return ZohoTransientError(message or "server error", **where)
    if status == 401 or (code in AUTH_CODES and status >= 400):
        return ZohoAuthError(message or "unauthorized", **where)
    if status == 404 or code in NOT_FOUND_CODES or _says_missing(code, message):
        return ZohoNotFound(message or "not found", **where)
    if status >= 400:
        return ZohoFatalError(message or "request refused", **where)
    if code not in (0, None):
        return ZohoFatalError(message or "Zoho reported an error", **where)
    if body is None and status != 204:
        return ZohoFatalError("response is not a JSON object", **where)
    return None


def binary_error_for(response: requests.Response, body: dict | None) -> ZohoError | None:
    """The error a binary answer (an item image) stands for, or ``None`` for raw content.

    Zoho answers errors with its JSON envelope, under an error status or under 200; a JSON
    object or an HTML page (a gateway's error page) is never the content asked for.
    """
    where = {"status": response.status_code, "code": zoho_code(body), "url": response.url}
    if response.status_code >= 300 or body is not None:
        return error_for(response, body) or ZohoFatalError("expected binary content, got a JSON object", **where)
    content_type = response.headers.get("Content-Type", "").lower()
    head = response.content[:512].lstrip().lower()
    if "text/html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        return ZohoTransientError("expected binary content, got an HTML page", **where)
    return None


def _says_missing(code, message: str) -> bool:
    return code not in (0, None) and "does not exist" in message.lower()
