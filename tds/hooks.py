"""Named events: one small in-process hook registry, and their record in ``tds_events``.

TDS emits these names (``payload`` is what each carries besides organization and entity):

``tds.zoho.sync.started``        a run of a full or incremental sync or a reconcile began (run_id, mode)
``tds.zoho.sync.completed``      it succeeded (run_id, mode, counts)
``tds.zoho.sync.failed``         it failed, was aborted or found the entity unavailable (run_id, mode, status, error)
``tds.zoho.sync.deferred``       it found the rate limit or the daily quota taken and tries again later (run_id, mode, reason, retry_at)
``tds.zoho.entity.synced``       one entity's full or incremental sync succeeded (run_id, mode, written)
``tds.zoho.webhook.received``    a webhook was stored in the inbox (event_id; receiver)
``tds.zoho.webhook.processed``   a webhook's record was applied (event_id, result, latency_seconds; worker)
``tds.zoho.api.failed``          a Zoho call failed for good after the client's attempts (path, error)
``tds.zoho.token.refreshed``     the shared access token was refreshed
``tds.zoho.token.refresh_failed`` the refresh was refused or failed (error)

Other code subscribes with :func:`subscribe` (``"tds.zoho.sync.*"`` takes a family, ``"*"``
everything); a subscriber that raises is logged and never breaks the code that emitted.

Stored: every event goes to ``tds_events`` — in the caller's transaction when it passes
``conn`` (the worker records ``webhook.received`` and ``webhook.processed`` in the
transaction that finishes the event, so the receiver's hot path makes no extra database
round trip: it only notifies subscribers), otherwise in a short transaction of its own.
The daily cleanup deletes events older than ``TDS_EVENT_RETENTION_DAYS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds.db import get_engine, newest_first, purge_older, utcnow
from tds.models import events

log = logging.getLogger(__name__)

NAMES = (
    "tds.zoho.sync.started", "tds.zoho.sync.completed", "tds.zoho.sync.failed", "tds.zoho.sync.deferred",
    "tds.zoho.entity.synced",
    "tds.zoho.webhook.received", "tds.zoho.webhook.processed", "tds.zoho.api.failed",
    "tds.zoho.token.refreshed", "tds.zoho.token.refresh_failed",
)

Subscriber = Callable[[str, dict], None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)
_lock = threading.Lock()


def subscribe(pattern: str, fn: Subscriber) -> Subscriber:
    """Call ``fn(name, event)`` for every event named ``pattern`` (``prefix.*`` and ``*`` match
    families); ``event`` holds ``organization_id``, ``entity`` and the payload. Returns ``fn``."""
    with _lock:
        _subscribers[pattern].append(fn)
    return fn


def unsubscribe(pattern: str, fn: Subscriber) -> None:
    with _lock:
        if fn in _subscribers.get(pattern, []):
            _subscribers[pattern].remove(fn)


def _matching(name: str) -> list[Subscriber]:
    with _lock:
        found = []
        for pattern, fns in _subscribers.items():
            if pattern == name or pattern == "*" or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                found += fns
        return found


def row(name: str, organization_id: str | None = None, entity: str | None = None, at: dt.datetime | None = None,
        **payload) -> dict:
    """The ``tds_events`` row of one event (for :func:`store_rows`)."""
    if name not in NAMES:
        raise ValueError(f"unknown event name {name!r}; the names are listed in tds.hooks")
    return {"name": name, "organization_id": organization_id, "entity": entity, "payload": payload or None,
            "created_at": at or utcnow()}


def store_rows(conn: Connection, rows: list[dict]) -> None:
    """Insert event rows in the caller's transaction (one statement), then notify subscribers."""
    if rows:
        conn.execute(sa.insert(events), rows)
    for r in rows:
        notify(r["name"], r)


def notify(name: str, event: dict) -> None:
    """Call the subscribers of ``name`` only (nothing stored)."""
    flat = {"organization_id": event.get("organization_id"), "entity": event.get("entity"),
            **(event.get("payload") or {})}
    for fn in _matching(name):
        try:
            fn(name, flat)
        except Exception:  # a subscriber never breaks the code that emitted
            log.exception("subscriber %r of %s failed", fn, name)


def emit(name: str, *, settings=None, conn: Connection | None = None, organization_id: str | None = None,
         entity: str | None = None, **payload) -> None:
    """Record the event (in ``conn``'s transaction, or in its own with ``settings``) and notify
    subscribers. Storing in its own transaction never raises: a failure is logged."""
    r = row(name, organization_id, entity, **payload)
    if conn is not None:
        store_rows(conn, [r])
        return
    if settings is not None:
        try:
            with get_engine(settings.database_url).begin() as own:
                own.execute(sa.insert(events), [r])
        except Exception as exc:
            log.warning("event %s not stored: %s", name, exc.__class__.__name__)
    notify(name, r)


def listing(engine, name: str | None = None, since: dt.datetime | None = None, limit: int = 100) -> list:
    """The newest events first, optionally one name (or ``prefix.*``) and since a time."""
    family = name[:-1] if name and name.endswith("*") else None
    extra = [events.c.name.like(family + "%")] if family else []
    return newest_first(engine, events, since, limit, *extra, name=None if family else name)


def purge(engine, older_than: dt.timedelta, batch: int = 5000) -> int:
    """Delete events older than ``older_than``, in batches; returns how many."""
    return purge_older(engine, events, older_than, batch)
