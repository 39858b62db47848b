"""Processing one inbox event: load → (fetch) → map → validate → upsert → mark done.

Idempotent: an event already done is skipped, and applying the same record twice leaves
the same row (the stale-write guard compares Zoho's times). Missing references found while
writing become durable fetch requests in the inbox, returned to the caller to enqueue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from tds import inbox, registry
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.mapping import MapContext, Mapped
from tds.models import inbox_events, metadata
from tds.registry import Entity
from tds.sinks import sql as sql_sink
from tds.zoho.errors import ZohoNotFound

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    event_id: int
    status: str  # done | stale | deleted | skipped
    entity: str = ""
    follow_up: list[tuple[int, str]] = field(default_factory=list)  # (inbox event id, entity)


def needs_detail(entity: Entity, record: dict, mode: str) -> bool:
    """Whether a webhook body must be completed by fetching the record by id."""
    if not entity.detail_path or mode == "never":
        return False
    if mode == "always":
        return True
    if entity.list_omits and not any(key in record for key in entity.list_omits):
        return True
    return any(record.get(name) in (None, "") for name in entity.required_fields)


def process_event(settings: Settings, event_id: int, client=None) -> Outcome:
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        event = conn.execute(sa.select(inbox_events).where(inbox_events.c.id == event_id)).first()
        if event is None:
            log.warning("inbox event %s does not exist; nothing to do", event_id)
            return Outcome(event_id, "skipped")
        if event.status in inbox.FINISHED:
            return Outcome(event_id, "skipped", event.entity)
        conn.execute(
            sa.update(inbox_events)
            .where(inbox_events.c.id == event_id)
            .values(status="processing", attempts=inbox_events.c.attempts + 1)
        )
    entity = registry.get(event.entity)
    try:
        record = _record_for(settings, event, entity, client)
    except ZohoNotFound:
        return _gone(engine, event, entity)
    entity = registry.route(entity, record)
    mapped = entity.map(record, MapContext(event.organization_id, settings))
    return _apply(engine, event_id, [mapped])


def _gone(engine, event, entity: Entity) -> Outcome:
    """Zoho says the record does not exist: it was deleted there. Soft-delete our row.

    A fetch asked for by a reference that Zoho does not know is an error an operator must
    see, so it is raised (and dead-lettered) when there is no row to mark.
    """
    tbl = metadata.tables[entity.table]
    with engine.begin() as conn:
        marked = conn.execute(
            sa.update(tbl)
            .where(tbl.c.organization_id == event.organization_id,
                   tbl.c[entity.zoho_id_column] == event.zoho_id, tbl.c.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        ).rowcount
        if not marked and event.source == "fetch":
            raise ZohoNotFound(f"{entity.name} {event.zoho_id} is referenced but does not exist in Zoho")
        _finish(conn, event.id, note=f"{entity.name} {event.zoho_id} not found in Zoho: marked deleted")
    return Outcome(event.id, "deleted", entity.name)


def _record_for(settings: Settings, event, entity: Entity, client) -> dict:
    if event.source == "webhook":
        record = inbox.extract_record(entity, event.body or "", event.content_type)
        if not needs_detail(entity, record, settings.fetch_detail):
            return record
    if client is None:
        raise RuntimeError("a Zoho client is needed to fetch this record")
    return client.get_record(entity, event.organization_id, event.zoho_id)


def _apply(engine, event_id: int, records: list[Mapped]) -> Outcome:
    with engine.begin() as conn:
        result = sql_sink.write(conn, records)
        wanted = set(result.missing) | {
            sql_sink.MissingReference(name, rec.organization_id, zid) for rec in records for name, zid in rec.refresh
        }
        follow_up = request_missing(conn, wanted)
        _finish(conn, event_id)
    status = "done" if result.written else "stale"
    return Outcome(event_id, status, records[0].entity.name if records else "", follow_up)


def _finish(conn, event_id: int, note: str | None = None) -> None:
    """Mark the event done, unless it was asked for again while this attempt ran (then the
    new request's message processes it once more)."""
    conn.execute(
        sa.update(inbox_events)
        .where(inbox_events.c.id == event_id, inbox_events.c.status == "processing")
        .values(status="done", processed_at=utcnow(), last_error=note, next_attempt_at=None)
    )


def request_missing(conn, missing) -> list[tuple[int, str]]:
    """Turn missing (or changed) references into inbox fetch requests; return those to enqueue."""
    follow_up = []
    for ref in sorted(missing, key=lambda m: (m.entity, m.zoho_id)):
        ev = inbox.request_fetch(conn, ref.entity, ref.organization_id, ref.zoho_id, reason="missing reference")
        if not ev.duplicate:
            follow_up.append((ev.id, ev.entity))
    inbox.mark_enqueued(conn, [eid for eid, _ in follow_up])
    return follow_up
