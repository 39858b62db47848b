"""Zoho-style webhooks to a TDS receiver, signed the way Zoho's Finance platform documents it.

A create or update POSTs Zoho's default payload ``{"<detail key>": {...}}`` as JSON to
``{webhook_url}/{slug}?organization_id={org}``; deliveries are synchronous, one attempt each,
and every outcome is kept in :attr:`WebhookSender.log`.

With a secret, ``X-Zoho-Webhook-Signature`` carries the hex HMAC-SHA256, keyed by the secret,
of the query-string (and form) pairs sorted by key and written as ``keyvalue``, followed by
the raw JSON body. This is written here from that description, independently of TDS's own
verification, so that an end-to-end test catches a signing mistake on either side.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from typing import Iterable

import requests

from .config import SimulatorConfig
from .counters import Counters
from .families import RESOURCES
from .formats import dumps
from .resources import list_row, webhook_slug
from .shapes import present

SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"


def zoho_signature(secret: str, body: bytes, pairs: Iterable[tuple[str, str]]) -> str:
    """Hex HMAC-SHA256 over ``key1value1key2value2…`` (pairs sorted by key) + the raw body."""
    message = "".join(key + value for key, value in sorted(pairs, key=lambda pair: pair[0]))
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8") + body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, config: SimulatorConfig, counters: Counters):
        self.config = config
        self.counters = counters
        self.log: deque[dict] = deque(maxlen=10000)

    def send(self, org_id: str, resource: str, record: dict, event: str | None = None) -> dict | None:
        """POST one record's webhook to the configured receiver; never raises. ``event``
        ``"deleted"``: the deletion rule's webhook, whose URL carries ``&event=deleted``.

        Returns the log entry, or None when nothing is sent (no URL, sending off, a CRM
        record, or a resource without a webhook).
        """
        cfg = self.config
        res = RESOURCES.get(resource)
        if not cfg.webhook_url or not cfg.webhooks_enabled or res is None or res.crm:
            return None
        slug = webhook_slug(res, record)
        if not slug:
            return None
        shaped = present(cfg, res, record, org_id)  # a webhook body is written as the lists and details are
        payload = shaped if cfg.webhook_payload == "detail" else list_row(res, shaped)
        body = dumps({res.detail_key: payload})
        query = [("organization_id", str(org_id)), *((("event", event),) if event else ())]
        url = f"{cfg.webhook_url.rstrip('/')}/{slug}?" + "&".join(f"{k}={v}" for k, v in query)
        headers = {"Content-Type": "application/json;charset=UTF-8", "User-Agent": "Zoho-Webhook"}
        if cfg.webhook_secret:
            headers[SIGNATURE_HEADER] = zoho_signature(cfg.webhook_secret, body, query)
        entry = {"time": time.time(), "organization_id": org_id, "resource": resource, "slug": slug,
                 "id": record.get(res.id_field), "event": event, "url": url, "status": None, "ok": False, "error": None}
        started = time.monotonic()
        try:
            response = requests.post(url, data=body, headers=headers, timeout=cfg.webhook_timeout)
            entry["status"] = response.status_code
            entry["ok"] = 200 <= response.status_code < 300
            if not entry["ok"]:
                entry["error"] = f"HTTP {response.status_code}"
        except Exception as exc:  # noqa: BLE001 - a broken receiver (or URL) must not break the simulator
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self.counters.event("webhooks_sent" if entry["ok"] else "webhooks_failed")
        self.log.append(entry)
        return entry
