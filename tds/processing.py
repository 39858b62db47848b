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

from tds import images, inbox, registry
from tds.config import Settings
from tds.db import get_engine
from tds.mapping import MapContext, Mapped, blank
from tds.registry import Entity
from tds.sinks import sql as sql_sink
from tds.webhook_payload import extract_record
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


def needs_detail(entity: Entity, record: dict, mode: str) -> bool:
    """Whether a webhook body must be completed by fetching the record by id: when it lacks
    what lists lack, a required field, or Zoho's modified time; never for an optional figure."""
    if not entity.detail_path or mode == "never":
        return False
    if mode == "always":
        return True
    if entity.list_omits and not any(key in record for key in entity.list_omits):
        return True
    # an identifying field missing, or Zoho's time (without it the version cannot be ordered)
    wanted = (*entity.required_fields, *((entity.modified_field,) if entity.modified_field else ()))
    return any(blank(record.get(name)) for name in wanted)


def process_event(settings: Settings, event_id: int, client=None) -> Outcome:
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
    return _apply(engine, event_id, [mapped])


def _gone(engine, event, entity: Entity) -> Outcome:
    """Zoho says the record does not exist: it was deleted there. Soft-delete our row.

    A fetch asked for by a reference that Zoho does not know is an error an operator must
    see, so it is raised (and dead-lettered) when there is no row to mark.
    """
    with engine.begin() as conn:
        marked = sql_sink.soft_delete(conn, entity, event.organization_id, [event.zoho_id])
        if not marked and event.source == inbox.Source.FETCH:
            raise ZohoNotFound(f"{entity.name} {event.zoho_id} is referenced but does not exist in Zoho")
        inbox.finish(conn, event.id, note=f"{entity.name} {event.zoho_id} not found in Zoho: marked deleted")
    return Outcome(event.id, Result.DELETED, entity.name)


def _record_for(settings: Settings, event, entity: Entity, client) -> dict:
    if event.source == inbox.Source.WEBHOOK:
        record = extract_record(entity, event.body or "", event.content_type)
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
        follow_up = inbox.request_missing(conn, wanted)
        jobs = images.after_write(conn, records, result.applied_ids)
        inbox.finish(conn, event_id)
    status = Result.DONE if result.written else Result.STALE
    return Outcome(event_id, status, records[0].entity.name if records else "", follow_up, jobs)
