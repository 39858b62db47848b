"""The operator's token: who may use the admin API, ``/metrics`` and the status page."""

from __future__ import annotations

import hmac

from tds.config import Settings


def admin_authorized(settings: Settings, req) -> bool:
    """``Authorization: Bearer <TDS_ADMIN_TOKEN>``, or basic auth with it as the password (a
    browser asks for that; any user name)."""
    if not settings.admin_token:
        return False
    given = req.headers.get("Authorization", "")
    token = given[7:].strip() if given.lower().startswith("bearer ") else ""
    if not token and req.authorization and req.authorization.type == "basic":
        token = req.authorization.password or ""
    return bool(token) and hmac.compare_digest(token.encode(), settings.admin_token.encode())
