"""Processing one inbox event: claim → (fetch) → map → validate → upsert → finish.

Idempotent: an event already finished is skipped, and applying the same record twice
leaves the same row (the stale-write guard compares Zoho's times). Missing references found
while writing become durable fetch requests in the inbox, returned to the caller to
enqueue. Failures are not handled here: they propagate to the task's retry policy
(:mod:`tasks.policy`), which records them through :func:`tds.inbox.record_failure`.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from tds import changes, deadletters, hooks, images, inbox, logs, metrics, registry
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.mapping import MapContext, Mapped
from tds.registry import Entity
from tds.sinks import sql as sql_sink
from tds.webhook_payload import extract_record, needs_detail
from tds.zoho.errors import ZohoNotFound

log = logging.getLogger(__name__)


class Result(enum.StrEnum):
    DONE = "done"  # the record was written
    STALE = "stale"  # the stored version is newer: nothing written
    DELETED = "deleted"  # Zoho no longer has the record: soft-deleted here
    SKIPPED = "skipped"  # no such event, or already finished


@dataclass
class Outcome:
    event_id: int
    status: Result
    entity: str = ""
    follow_up: list[tuple[int, str]] = field(default_factory=list)  # (inbox event id, entity)
    images: list[images.Job] = field(default_factory=list)  # image downloads to send


def process_event(settings: Settings, event_id: int, client=None) -> Outcome:
    with logs.context(event_id=event_id):
        return _process(settings, event_id, client)


def _process(settings: Settings, event_id: int, client=None) -> Outcome:
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        event = inbox.claim(conn, event_id)
    if event is None:
        log.debug("inbox event %s is finished or does not exist; nothing to do", event_id)
        return Outcome(event_id, Result.SKIPPED)
    entity = registry.get(event.entity)
    try:
        record = _record_for(settings, event, entity, client)
    except ZohoNotFound:
        return _gone(engine, event, entity)
    entity = registry.route(entity, record)
    mapped = entity.map(record, MapContext(event.organization_id, settings))
    return _apply(engine, event, [mapped])


def origin(conn, event) -> changes.Origin:
    """What caused this event's writes: ``replay`` for a replayed dead letter (only an event
    that failed before is looked up), else the event's source."""
    source = str(event.source)
    if event.source == inbox.Source.FETCH and (event.body or "").startswith("replay of dead letter"):
        source = "replay"
    elif event.attempt_log and deadletters.was_replayed(conn, event.id):
        source = "replay"
    return changes.Origin(source, inbox_event_id=event.id)


def _gone(engine, event, entity: Entity) -> Outcome:
    """Zoho says the record does not exist: it was deleted there. Soft-delete our row.

    A fetch asked for by a reference that Zoho does not know is an error an operator must
    see, so it is raised (and dead-lettered) when there is no row to mark.
    """
    with engine.begin() as conn:
        marked = sql_sink.soft_delete(conn, entity, event.organization_id, [event.zoho_id], origin(conn, event))
        if not marked and event.source == inbox.Source.FETCH:
            raise ZohoNotFound(f"{entity.name} {event.zoho_id} is referenced but does not exist in Zoho")
        inbox.finish(conn, event.id, note=f"{entity.name} {event.zoho_id} not found in Zoho: marked deleted")
        _processed(conn, event, Result.DELETED)
    return Outcome(event.id, Result.DELETED, entity.name)


def _record_for(settings: Settings, event, entity: Entity, client) -> dict:
    if event.source == inbox.Source.WEBHOOK:
        record = extract_record(entity, event.body or "", event.content_type)
        if not needs_detail(entity, record, settings.fetch_detail):
            return record
    if client is None:
        raise RuntimeError("a Zoho client is needed to fetch this record")
    return client.get_record(entity, event.organization_id, event.zoho_id)


def _processed(conn, event, result: Result) -> None:
    """Count the event, and record a webhook's ``received`` and ``processed`` events in the
    transaction that finishes it (the receiver stores none: its hot path stays one insert)."""
    latency = max(0.0, (utcnow() - event.received_at).total_seconds())
    metrics.EVENTS_PROCESSED.labels(event.entity, str(result)).inc()
    metrics.PROCESSING_LATENCY.labels(event.entity).observe(latency)
    if event.source != inbox.Source.WEBHOOK:
        return
    where = {"organization_id": event.organization_id, "entity": event.entity}
    hooks.store_rows(conn, [
        hooks.row("tds.zoho.webhook.received", **where, at=event.received_at, event_id=event.id),
        hooks.row("tds.zoho.webhook.processed", **where, event_id=event.id, zoho_id=event.zoho_id,
                  result=str(result), latency_seconds=round(latency, 3)),
    ])


def _apply(engine, event, records: list[Mapped]) -> Outcome:
    event_id = event.id
    with engine.begin() as conn:
        result = sql_sink.write(conn, records, origin(conn, event))
        wanted = set(result.missing) | {
            sql_sink.MissingReference(name, rec.organization_id, zid) for rec in records for name, zid in rec.refresh
        }
        follow_up = inbox.request_missing(conn, wanted)
        jobs = images.after_write(conn, records, result.applied_ids)
        inbox.finish(conn, event_id)
        status = Result.DONE if result.written else Result.STALE
        _processed(conn, event, status)
    return Outcome(event_id, status, records[0].entity.name if records else "", follow_up, jobs)
