"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from typing import Callable

import simplejson

from tds.receive import signature as webhook_auth
from tests.conftest import ORG, WEBHOOK_SECRET


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def signed_post(client, slug: str, payload: dict, org: str = ORG, secret: str = WEBHOOK_SECRET, **query):
    """POST a webhook the way Zoho does: JSON body, ?organization_id=, HMAC signature."""
    body = simplejson.dumps(payload, use_decimal=True).encode()
    params = {"organization_id": org, **query}
    signature = webhook_auth.sign(secret, body, pairs=params.items())
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(
        f"/api/zoho/webhooks/{slug}?{qs}",
        data=body,
        headers={"Content-Type": "application/json", webhook_auth.SIGNATURE_HEADER: signature},
    )
