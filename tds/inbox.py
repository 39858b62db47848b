"""The inbox: every webhook is committed here before Zoho gets its answer.

The broker is transport, not the record. A webhook is answered 202 only after its raw body
is committed to ``tds_inbox_events``; the Celery message carries just the event id. If
Redis loses the message (restart, flush, a worker killed during ack), the sweeper finds the
unfinished event and enqueues it again; processing is idempotent, so a second delivery
does no harm.

The dedup key is the entity, organization, Zoho id, Zoho's ``last_modified_time`` and a
hash of the body: Zoho resending the same webhook is stored once, while every new version
of a record, even two within one second, is a new event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qsl

import simplejson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds import registry
from tds.db import dialect_insert, json_loads, utcnow
from tds.mapping import MappingError, parse_zoho_time
from tds.models import inbox_events
from tds.registry import Entity

KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Zoho-Event", "X-Zoho-Skip-Webhook-Trigger", "X-Request-Id")
FINISHED = ("done", "dead")


class PayloadError(ValueError):
    """The webhook body is not a Zoho record TDS can use (answered 400, nothing stored)."""


@dataclass(frozen=True)
class InboxEvent:
    id: int
    entity: str
    organization_id: str
    zoho_id: str
    duplicate: bool


def extract_record(entity: Entity, body: bytes | str, content_type: str | None) -> dict:
    """The Zoho record inside a webhook body.

    Accepts Zoho's default payload ``{"item": {...}}``, a bare record object, and a form
    body whose ``JSONString`` field holds either of those.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8 text") from None
    content_type = (content_type or "").lower()
    if "x-www-form-urlencoded" in content_type:
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "JSONString" in form:
            return _unwrap(entity, _parse_json(form["JSONString"]))
        return _unwrap(entity, form)
    return _unwrap(entity, _parse_json(body))


def _parse_json(text: str):
    if not text.strip():
        raise PayloadError("empty body")
    try:
        return json_loads(text)
    except (simplejson.JSONDecodeError, ValueError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None


def _unwrap(entity: Entity, payload) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    for key in (*entity.payload_keys, entity.detail_key):
        if key and isinstance(payload.get(key), dict):
            return payload[key]
    if isinstance(payload.get("JSONString"), str):
        return _unwrap(entity, _parse_json(payload["JSONString"]))
    if len(payload) == 1:
        (only,) = payload.values()
        if isinstance(only, dict) and entity.id_field in only:
            return only
    return payload


def record_id(entity: Entity, record: dict) -> str:
    value = record.get(entity.id_field)
    if value in (None, ""):
        raise PayloadError(f"no {entity.id_field} in the {entity.name} record")
    return str(value).strip()


def organization_of(
    record: dict, query: Mapping[str, str], headers: Mapping[str, str], configured: tuple[str, ...]
) -> str:
    org = (
        query.get("organization_id")
        or headers.get("X-Zoho-Organization-Id")
        or (str(record["organization_id"]) if record.get("organization_id") else None)
    )
    if not org:
        if len(configured) == 1:
            return configured[0]
        raise PayloadError("no organization_id: add ?organization_id= to the webhook URL")
    org = str(org).strip()
    if configured and org not in configured:
        raise PayloadError(f"organization {org} is not configured in ZOHO_ORGANIZATION_ID")
    return org


def dedup_key(entity: Entity, org: str, zoho_id: str, record: dict, body: bytes | str) -> str:
    """Same record, same Zoho time, same body: the same event.

    Zoho's times have one-second resolution, so two edits within a second share a time;
    the body tells them apart, while a redelivery of one webhook (same body) collapses.
    """
    modified = record.get(entity.modified_field) if entity.modified_field else None
    raw = body.encode("utf-8") if isinstance(body, str) else body
    basis = f"webhook|{entity.name}|{org}|{zoho_id}|{modified or ''}|" + hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def receive(
    conn: Connection,
    slug_entity: Entity,
    body: bytes,
    content_type: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    configured_orgs: tuple[str, ...],
) -> InboxEvent:
    """Parse and store one webhook; the caller commits and then enqueues."""
    record = extract_record(slug_entity, body, content_type)
    entity = registry.route(slug_entity, record)
    zoho_id = record_id(entity, record)
    org = organization_of(record, query, headers, configured_orgs)
    try:
        modified = parse_zoho_time(record.get(entity.modified_field)) if entity.modified_field else None
    except MappingError as exc:
        raise PayloadError(str(exc)) from None
    kept = {h: headers[h] for h in KEPT_HEADERS if headers.get(h)}
    return store(
        conn,
        source="webhook",
        entity=entity.name,
        organization_id=org,
        zoho_id=zoho_id,
        key=dedup_key(entity, org, zoho_id, record, body),
        modified=modified,
        body=body.decode("utf-8"),
        content_type=content_type,
        headers=kept,
    )


def store(
    conn: Connection,
    *,
    source: str,
    entity: str,
    organization_id: str,
    zoho_id: str,
    key: str,
    modified: dt.datetime | None = None,
    body: str | None = None,
    content_type: str | None = None,
    headers: dict | None = None,
) -> InboxEvent:
    """Insert an event unless its dedup key is already stored; say which happened."""
    stmt = (
        dialect_insert(conn, inbox_events)
        .values(
            dedup_key=key,
            source=source,
            entity=entity,
            organization_id=organization_id,
            zoho_id=zoho_id,
            zoho_last_modified_time=modified,
            content_type=content_type,
            body=body,
            headers=headers,
            status="received",
            attempts=0,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(inbox_events.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    if new_id is not None:
        return InboxEvent(new_id, entity, organization_id, zoho_id, duplicate=False)
    existing = conn.execute(sa.select(inbox_events.c.id).where(inbox_events.c.dedup_key == key)).scalar_one()
    return InboxEvent(existing, entity, organization_id, zoho_id, duplicate=True)


def request_fetch(conn: Connection, entity: str, organization_id: str, zoho_id: str, reason: str) -> InboxEvent:
    """A durable request to fetch one record from Zoho by id (a missing reference, or a
    record another one says has changed).

    Keyed by the record, so many invoices missing the same customer ask for it once while
    the request waits in the queue. A request already being fetched, retried or finished is
    asked for again: the fetch under way may have read Zoho before the change that prompted
    this request (two stock adjustments of one item in quick succession).
    """
    key = hashlib.sha256(f"fetch|{entity}|{organization_id}|{zoho_id}".encode()).hexdigest()
    existing = conn.execute(
        sa.select(inbox_events.c.id, inbox_events.c.status).where(inbox_events.c.dedup_key == key)
    ).first()
    if existing is not None and existing.status != "received":
        conn.execute(
            sa.update(inbox_events)
            .where(inbox_events.c.id == existing.id)
            .values(status="received", attempts=0, last_error=None, received_at=utcnow(), body=reason)
        )
        return InboxEvent(existing.id, entity, organization_id, zoho_id, duplicate=False)
    return store(
        conn, source="fetch", entity=entity, organization_id=organization_id, zoho_id=zoho_id, key=key, body=reason
    )


def mark_enqueued(conn: Connection, event_ids: Iterable[int]) -> None:
    ids = list(event_ids)
    if ids:
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id.in_(ids)).values(enqueued_at=utcnow()))


def due_for_redrive(conn: Connection, older_than: dt.timedelta, limit: int = 1000) -> list[tuple[int, str]]:
    """Unfinished events whose message may have been lost, and waiting events now due."""
    now = utcnow()
    cutoff = now - older_than
    last_touch = sa.func.coalesce(inbox_events.c.enqueued_at, inbox_events.c.received_at)
    stmt = (
        sa.select(inbox_events.c.id, inbox_events.c.entity)
        .where(
            sa.or_(
                sa.and_(inbox_events.c.status.in_(("received", "processing", "retrying")), last_touch < cutoff),
                sa.and_(inbox_events.c.status == "waiting", inbox_events.c.next_attempt_at <= now),
            )
        )
        .order_by(inbox_events.c.id)
        .limit(limit)
    )
    return [(row.id, row.entity) for row in conn.execute(stmt)]


def sweep(engine, older_than: dt.timedelta, enqueue: Callable[[int, str], None]) -> int:
    """Enqueue again every event that should have finished by now. Returns how many."""
    with engine.begin() as conn:
        due = due_for_redrive(conn, older_than)
        mark_enqueued(conn, [event_id for event_id, _ in due])
    for event_id, entity in due:
        enqueue(event_id, entity)
    return len(due)
