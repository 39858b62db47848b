"""Processing one inbox event: claim → (fetch) → map → validate → upsert → finish.

Idempotent: an event already finished is skipped, and applying the same record twice
leaves the same row (the stale-write guard compares Zoho's times). Missing references found
while writing become durable fetch requests in the inbox, returned to the caller to
enqueue. Failures are not handled here: they propagate to the task's retry policy
(:mod:`tasks.policy`), which records them through :func:`tds.inbox.events.record_failure`.

Batches (``TDS_WORKER_BATCH`` > 1, PostgreSQL): a webhook event whose body is complete
(no Zoho fetch) takes up to ``TDS_WORKER_BATCH - 1`` more due webhook events of its entity
and organization (:func:`tds.inbox.events.claim_batch`) and applies them all in one transaction:
one write (the stale-write guard still per row), each change logged with its own event as
origin, one finish. What the batch will not apply goes back to RECEIVED and its message is
sent again, so its own attempt applies it alone and records a failure as usual: a
batch-mate that needs a fetch or fails to map, or every batch-mate when the batch's write
fails (the first event is then applied alone, here, and fails as it would have alone).
The batch-mates' own messages find them held or finished and cost one round trip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import exc as sa_exc

from tds import hooks, logs, metrics, registry
from tds.config import Settings
from tds.db import get_event_engine, utcnow
from tds.inbox import deadletters
from tds.inbox import events as inbox
from tds.mapping import MapContext
from tds.receive.payload import extract_record, needs_detail
from tds.registry import Entity, Mapped
from tds.sinks import changes
from tds.sinks import sql as sql_sink
from tds.sync import images
from tds.zoho.errors import ZohoNotFound

log = logging.getLogger(__name__)


class Result(enum.StrEnum):
    DONE = "done"  # the record was written
    STALE = "stale"  # the stored version is newer: nothing written
    DELETED = "deleted"  # Zoho no longer has the record: soft-deleted here
    ABSENT = "absent"  # a deletion of a record the mirror does not have: nothing to do
    SKIPPED = "skipped"  # no such event, or already finished


@dataclass
class Outcome:
    event_id: int
    status: Result
    entity: str = ""
    follow_up: list[tuple[int, str]] = field(default_factory=list)  # (inbox event id, entity) to send
    images: list[images.Job] = field(default_factory=list)  # image downloads to send
    finished: list[tuple[int, Result]] = field(default_factory=list)  # every event this attempt finished

    def __post_init__(self):
        if not self.finished and self.status is not Result.SKIPPED:
            self.finished = [(self.event_id, self.status)]


def process_event(settings: Settings, event_id: int, client=None, *, taking_over: bool = False,
                  resend: Callable[[int, str], None] | None = None) -> Outcome:
    """Process one event (and, when it can, a batch of its entity's events with it).

    ``client``: the Zoho client, or a function returning it (called only when the record
    must be fetched). ``taking_over``: the caller is a retry of an attempt that could not record its failure,
    so the event is claimed even while its lease looks live (that attempt was this one).
    ``resend(event_id, entity)`` sends an event's message again at once; it is called for
    batch-mates released when the batch's write failed (otherwise they are in the
    outcome's ``follow_up``). Without it the sweeper sends them.
    """
    with logs.context(event_id=event_id):
        return _process(settings, event_id, client, taking_over, resend)


def _process(settings: Settings, event_id: int, client, taking_over: bool, resend) -> Outcome:
    engine = get_event_engine(settings.database_url)
    lease = None if taking_over else dt.timedelta(seconds=settings.processing_lease)
    event = _claim(settings, event_id, lease)
    if event is None:
        log.debug("inbox event %s is finished, held by another attempt or does not exist; nothing to do", event_id)
        return Outcome(event_id, Result.SKIPPED)
    entity = registry.get(event.entity)
    if event.source == inbox.Source.DELETION:
        return _deletion(settings, engine, event, entity, client)
    record = _webhook_record(settings, event, entity)
    fetched = record is None
    if fetched:
        try:
            record = _fetch(event, entity, client)
        except ZohoNotFound:
            return _gone(engine, event, entity)
    routed = registry.route(entity, record)
    mapped = routed.map(record, MapContext(event.organization_id, settings))
    # an event that failed before is applied alone, where its failure is recorded
    if not fetched and not event.attempt_log and settings.worker_batch > 1 and engine.dialect.name == "postgresql":
        return _apply_batch(settings, engine, event, entity, mapped, resend)
    return _apply(engine, event, [mapped])


def _claim(settings: Settings, event_id: int, lease):
    """:func:`tds.inbox.events.claim`, once more on a fresh connection when the first turns out
    dead (PostgreSQL restarted since the pool's connections were opened; the event engine
    does not pre-ping them). Without it the claim's error would reach the retry policy with
    nothing claimed, so no failure could be recorded and the event would wait for the
    sweeper. The pool the write then uses is renewed as well."""
    for attempt in (1, 2):
        try:
            with _statements(settings) as conn:
                return inbox.claim(conn, event_id, lease=lease)
        except sa_exc.DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
            log.info("inbox event %s: the database connection was gone; claiming on a new one", event_id)
            # the write's pool holds connections of the same gone server: open new ones too
            get_event_engine(settings.database_url).dispose()


@contextlib.contextmanager
def _statements(settings: Settings):
    """A connection whose statements commit one by one (PostgreSQL: autocommit, so a
    message for an event a batch holds, or finished, costs one round trip); elsewhere one
    transaction."""
    engine = get_event_engine(settings.database_url, autocommit=True)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


def origin(conn, event) -> changes.Origin:
    """What caused this event's writes: ``replay`` for a replayed dead letter (only an event
    that failed before is looked up), else the event's source."""
    source = "webhook" if event.source == inbox.Source.DELETION else str(event.source)
    if event.source == inbox.Source.FETCH and (event.body or "").startswith("replay of dead letter"):
        source = "replay"
    elif event.attempt_log and deadletters.was_replayed(conn, event.id):
        source = "replay"
    return changes.Origin(source, inbox_event_id=event.id)


def _deletion(settings: Settings, engine, event, entity: Entity, client) -> Outcome:
    """Zoho says a record was deleted (a webhook with ``?event=deleted``): confirm with Zoho.

    A record the mirror does not have (or has marked deleted already) is finished with no
    Zoho call; a stored version newer than the deletion's is left alone (the deletion is
    stale). Otherwise the record is fetched: not found is soft-deleted, with its child rows
    and a change-log entry, never over a version newer than the deletion's (the same
    stale-write rule, in the statement); a record Zoho still has is applied as an update.
    """
    with engine.connect() as conn:
        stored = [(e, t) for e in (entity, *registry.siblings(entity))
                  for t in sql_sink.live_versions(conn, e, event.organization_id, event.zoho_id)]
    if not stored:
        return _finish(engine, event, Result.ABSENT, f"deletion of {entity.name} {event.zoho_id}, which is not "
                                                     "stored here: nothing to do")
    entity, stored_time = stored[0]
    deleted_at = event.zoho_last_modified_time
    if stored_time is not None and deleted_at is not None and stored_time > deleted_at:
        return _finish(engine, event, Result.STALE, f"deletion older than the stored {entity.name} "
                                                    f"{event.zoho_id}: ignored")
    try:
        record = _fetch(event, entity, client)
    except ZohoNotFound:
        return _gone(engine, event, entity, not_newer_than=deleted_at)
    mapped = registry.route(entity, record).map(record, MapContext(event.organization_id, settings))
    return _apply(engine, event, [mapped])


def _finish(engine, event, result: Result, note: str) -> Outcome:
    with engine.begin() as conn:
        inbox.finish(conn, event.id, note=note)
        _processed(conn, event, result)
    _count([(event, result)])
    return Outcome(event.id, result, event.entity)


def _gone(engine, event, entity: Entity, not_newer_than=None) -> Outcome:
    """Zoho says the record does not exist: it was deleted there. Soft-delete our row.

    A fetch asked for by a reference that Zoho does not know is an error an operator must
    see, so it is raised (and dead-lettered) when there is no row to mark.
    """
    with engine.begin() as conn:
        marked = sql_sink.soft_delete(conn, entity, event.organization_id, [event.zoho_id], origin(conn, event),
                                      not_newer_than=not_newer_than)
        if not marked and event.source == inbox.Source.FETCH:
            raise ZohoNotFound(f"{entity.name} {event.zoho_id} is referenced but does not exist in Zoho")
        inbox.finish(conn, event.id, note=f"{entity.name} {event.zoho_id} not found in Zoho: "
                                          + ("marked deleted" if marked else "nothing live here to mark"))
        _processed(conn, event, Result.DELETED)
    _count([(event, Result.DELETED)])
    return Outcome(event.id, Result.DELETED, entity.name)


def _webhook_record(settings: Settings, event, entity: Entity) -> dict | None:
    """A webhook's record when its body is complete; None when it must be fetched."""
    if event.source != inbox.Source.WEBHOOK:
        return None
    record = extract_record(entity, event.body or "", event.content_type)
    return None if needs_detail(entity, record, settings.fetch_detail) else record


def _fetch(event, entity: Entity, client) -> dict:
    if callable(client):  # a factory: only an event that is fetched pays for building the client
        client = client()
    if client is None:
        raise RuntimeError("a Zoho client is needed to fetch this record")
    return client.get_record(entity, event.organization_id, event.zoho_id)


def _processed(conn, event, result: Result) -> None:
    """Record a webhook's ``received`` and ``processed`` events in the transaction that
    finishes it (the receiver stores none: its hot path stays one insert)."""
    hooks.store_rows(conn, _processed_rows(event, result))


def _count(finished: list[tuple[object, Result]]) -> None:
    """The metrics of events finished, once their transaction committed (a batch whose
    commit fails is applied again, and must not be counted twice)."""
    now = utcnow()
    for event, result in finished:
        metrics.EVENTS_PROCESSED.labels(event.entity, str(result)).inc()
        metrics.PROCESSING_LATENCY.labels(event.entity).observe(max(0.0, (now - event.received_at).total_seconds()))


def _processed_rows(event, result: Result) -> list[dict]:
    latency = max(0.0, (utcnow() - event.received_at).total_seconds())
    if event.source not in inbox.ANNOUNCED:
        return []
    where = {"organization_id": event.organization_id, "entity": event.entity}
    return [
        hooks.row("tds.zoho.webhook.received", **where, at=event.received_at, event_id=event.id),
        hooks.row("tds.zoho.webhook.processed", **where, event_id=event.id, zoho_id=event.zoho_id,
                  result=str(result), latency_seconds=round(latency, 3)),
    ]


def _wanted(result: sql_sink.WriteResult, records: list[Mapped]) -> set:
    return set(result.missing) | {
        sql_sink.MissingReference(name, rec.organization_id, zid) for rec in records for name, zid in rec.refresh
    }


def _apply(engine, event, records: list[Mapped]) -> Outcome:
    event_id = event.id
    with engine.begin() as conn:
        # a fetched record may be the target rows written meanwhile are waiting for
        result = sql_sink.write(conn, records, origin(conn, event),
                                backfill_all=event.source != inbox.Source.WEBHOOK)
        follow_up = inbox.request_missing(conn, _wanted(result, records))
        jobs = images.after_write(conn, records, result.applied_ids)
        inbox.finish(conn, event_id)
        status = Result.DONE if result.written else Result.STALE
        _processed(conn, event, status)
    _count([(event, status)])
    return Outcome(event_id, status, records[0].entity.name if records else "", follow_up, jobs)


def _apply_batch(settings: Settings, engine, event, entity: Entity, mapped: Mapped, resend) -> Outcome:
    """Apply ``event`` with the batch it can take (see the module docstring)."""
    hold = dt.timedelta(seconds=settings.processing_lease)
    with _statements(settings) as conn:
        mates = inbox.claim_batch(conn, event, settings.worker_batch - 1)
    if not mates:
        return _apply(engine, event, [mapped])
    ctx = MapContext(event.organization_id, settings)
    batch: list[tuple[object, Mapped]] = [(event, mapped)]
    released = []
    for mate in mates:
        try:
            record = _webhook_record(settings, mate, entity)
            if record is None:  # needs a fetch: its own attempt makes it
                released.append(mate)
                continue
            batch.append((mate, registry.route(entity, record).map(record, ctx)))
        except Exception as exc:  # its own attempt fails the same way and records it
            log.info("inbox event %s left to its own attempt: %s: %s", mate.id, exc.__class__.__name__, exc)
            released.append(mate)
    try:
        with engine.begin() as conn:
            outcome = _write_batch(conn, event, batch)
            inbox.release(conn, [m.id for m in released], hold)
    except Exception as exc:
        log.warning("a batch of %s %s events failed (%s: %s); applying event %s alone", len(batch), entity.name,
                    exc.__class__.__name__, exc, event.id)
        with engine.begin() as conn:
            inbox.release(conn, [m.id for m in mates], hold)
        if resend is not None:
            for mate in mates:
                resend(mate.id, mate.entity)
        return _apply(engine, event, [mapped])
    by_id = {ev.id: ev for ev, _rec in batch}
    _count([(by_id[eid], status) for eid, status in outcome.finished])
    outcome.follow_up += [(m.id, m.entity) for m in released]
    return outcome


def _write_batch(conn, event, batch: list[tuple[object, Mapped]]) -> Outcome:
    records = [rec for _ev, rec in batch]
    origins: changes.Origins = {}
    newest: dict[tuple[str, str], Mapped] = {}
    for ev, rec in batch:  # the change of a record is the newest version's, as the write keeps it
        key = (rec.organization_id, rec.zoho_id)
        if key not in newest or sql_sink.newer_or_same(rec.modified, newest[key].modified):
            newest[key] = rec
            origins[key] = origin(conn, ev) if ev is event else changes.Origin(str(ev.source), inbox_event_id=ev.id)
    result = sql_sink.write(conn, records, origins, backfill_all=False)
    follow_up = inbox.request_missing(conn, _wanted(result, records))
    jobs = images.after_write(conn, records, result.applied_ids)
    inbox.finish_many(conn, [ev.id for ev, _rec in batch])
    finished, rows = [], []
    for ev, rec in batch:
        status = Result.DONE if rec.zoho_id in result.applied_ids else Result.STALE
        finished.append((ev.id, status))
        rows += _processed_rows(ev, status)
    hooks.store_rows(conn, rows)
    return Outcome(event.id, finished[0][1], records[0].entity.name, follow_up, jobs, finished)
