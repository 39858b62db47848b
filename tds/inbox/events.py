"""The inbox: every event TDS processes, and the one owner of an event's life.

The broker is transport, not the record. A webhook is answered 202 only after its raw body
is committed to ``tds_inbox_events``; the Celery message carries just the event id. If
Redis loses the message (restart, flush, a worker killed during ack), the sweeper finds the
unfinished event and enqueues it again; processing is idempotent, so a second delivery
does no harm. Records TDS must fetch by id (a missing reference, a record another one says
has changed, a replayed dead letter) are inbox events too (``source = fetch``).

The states, and the only functions here that move an event between them::

      store ─────────┐      request_fetch / reset_for_replay (from any state)
                     ▼                 │
                 RECEIVED ◀────────────┘◀── release: a batch will not apply it (sent again)
                     │ claim / claim_batch (sets claimed_at: the lease)   finish(_many)
                     ▼            ┌───────────────────────────▶ DONE ◀── claim(_batch): a newer version
      claim ──▶ PROCESSING ───────┤ record_failure: retry ────▶ RETRYING ──claim──┐  of the record
        ▲            ▲            │ record_failure: wait  ────▶ WAITING  ──claim──┤  is stored
        │            │            └ record_failure: dead  ────▶ DEAD              │  (coalesced)
        │            └── the sweeper re-sends it when the lease has run out ─────┤
        └────────────────────────────────────────────────────────────────────────┘

Two attempts can hold one event: the sweeper re-drives an event whose message it believes
lost while the first delivery is still running, and a fetch can be asked for again while a
worker is reading Zoho for it. So every move out of PROCESSING is conditional on the
event still being PROCESSING: an attempt that ends after another one finished the event,
or after the event was asked for again (back to RECEIVED), changes nothing, and the newer
request's message processes the event once more. ``claim`` never undoes DONE or DEAD.

The lease: ``claim`` stamps ``claimed_at``. A worker killed mid-attempt (kill -9, OOM, a
lost host) never finishes the event and Redis keeps its message unacknowledged for an hour
(the visibility timeout); once ``claimed_at`` is older than ``TDS_PROCESSING_LEASE`` the
sweeper sends the event again. An attempt that is merely slow is harmless to re-drive:
the second attempt claims the event, and whichever ends first finishes it. While the
lease is live, another message for the event (a batch-mate's own message, a duplicate
delivery) leaves it to the attempt holding it; only the retry of an attempt that could not
even record its failure takes it over at once (``claim`` without ``lease``).

Batches: ``claim_batch`` takes, with an event a worker has claimed, more due RECEIVED
webhook events of its entity and organization (``FOR UPDATE SKIP LOCKED``), each claimed
as ``claim`` would, so one transaction applies them all; ``release`` gives back those the
batch will not apply. A message for an event a batch holds (PROCESSING, its lease live)
or has finished finds nothing to do in one round trip; past the lease the sweeper
re-drives every event of a batch whose worker died, like any other.

Coalescing: a burst of webhooks for one record stores one event per version. ``claim``
finishes a webhook event at once (DONE, "superseded by event N") when a later webhook event
of the same record, at the same or a newer Zoho time and not dead, is already stored: that
one will fetch and write the newest version, so the burst costs one Zoho call and one write.
``claim_batch`` applies the same rule to every event it takes. A deletion webhook (source
``deletion``) supersedes an earlier edit of its record the same way, and is never superseded
itself: its worker asks Zoho, which answers with the record's newest state or not at all.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import logging
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from tds import metrics
from tds.db import json_dumps, utcnow
from tds.inbox import deadletters
from tds.inbox.decisions import Action, Decision, describe
from tds.models import inbox_events

log = logging.getLogger(__name__)


class Status(enum.StrEnum):
    RECEIVED = "received"  # stored, waiting for a worker
    PROCESSING = "processing"  # claimed by an attempt
    RETRYING = "retrying"  # a transient failure; the task retries after a short countdown
    WAITING = "waiting"  # parked until ``next_attempt_at`` (the daily Zoho quota is spent)
    DONE = "done"
    DEAD = "dead"  # in ``tds_dead_letters``


class Source(enum.StrEnum):
    WEBHOOK = "webhook"
    FETCH = "fetch"
    DELETION = "deletion"  # a webhook saying the record was deleted (``?event=deleted``)


#: what Zoho announces by webhook: a later one of these supersedes an earlier edit of the record
ANNOUNCED = (Source.WEBHOOK.value, Source.DELETION.value)

FINISHED = frozenset({Status.DONE, Status.DEAD})
UNFINISHED = frozenset(Status) - FINISHED


@dataclass(frozen=True)
class InboxEvent:
    id: int
    entity: str
    organization_id: str
    zoho_id: str
    duplicate: bool
    countdown: float = 0  # seconds its message waits before it is due (webhook coalescing)


# ------------------------------------------------------------------ new events


def store(
    conn: Connection,
    *,
    source: Source,
    entity: str,
    organization_id: str,
    zoho_id: str,
    key: str,
    modified: dt.datetime | None = None,
    body: str | None = None,
    content_type: str | None = None,
    headers: dict | None = None,
    sent: bool = False,
    due_in: float = 0,
) -> InboxEvent:
    """Insert an event as RECEIVED unless its dedup key is already stored; say which happened.

    ``sent``: the caller sends the event's message as soon as its transaction commits, so
    the event is stored as sent already (``enqueued_at`` = ``received_at``) and needs no
    second transaction to mark it; a caller whose send then fails calls :func:`mark_unsent`
    (and if even that fails, the sweeper still re-sends it ``TDS_INBOX_SWEEP_AFTER`` later).
    ``due_in``: seconds the message waits for its countdown (coalescing); ``enqueued_at``
    is set that far ahead, as for a retry, so no batch takes the event before it is due.
    """
    now = utcnow()
    values = {
        "dedup_key": key, "source": str(source), "entity": entity, "organization_id": organization_id,
        "zoho_id": zoho_id, "zoho_last_modified_time": modified, "content_type": content_type, "body": body,
        "headers": headers, "status": str(Status.RECEIVED), "attempts": 0, "received_at": now,
        "enqueued_at": now + dt.timedelta(seconds=due_in) if sent else None,
    }
    if conn.dialect.name == "postgresql":  # the hot path of every webhook: the statement's SQL, compiled once
        values["headers"] = None if headers is None else json_dumps(headers)
        new_id = conn.exec_driver_sql(_insert_sql(conn.dialect), values).scalar()
    else:
        new_id = conn.execute(_insert_statement(conn.dialect.name), values).scalar()
    if new_id is not None:
        return InboxEvent(new_id, entity, organization_id, zoho_id, duplicate=False)
    existing = conn.execute(sa.select(inbox_events.c.id).where(inbox_events.c.dedup_key == key)).scalar_one()
    return InboxEvent(existing, entity, organization_id, zoho_id, duplicate=True)


_INSERTED = ("dedup_key", "source", "entity", "organization_id", "zoho_id", "zoho_last_modified_time",
             "content_type", "body", "headers", "status", "attempts", "received_at", "enqueued_at")


@functools.cache
def _insert_statement(dialect: str):
    """The inbox insert, built once per dialect (its values are bound per call)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (insert(inbox_events).values({name: sa.bindparam(name) for name in _INSERTED})
            .on_conflict_do_nothing(index_elements=["dedup_key"]).returning(inbox_events.c.id))


@functools.cache
def _insert_sql(dialect) -> str:
    return str(_insert_statement(dialect.name).compile(dialect=dialect))


def request_fetch(conn: Connection, entity: str, organization_id: str, zoho_id: str, reason: str) -> InboxEvent:
    """A durable request to fetch one record from Zoho by id (a missing reference, a record
    another one says has changed, a replayed dead letter).

    Keyed by the record, so many invoices missing the same customer ask for it once while
    the request waits in the queue. A request already being fetched, retried or finished is
    asked for again (back to RECEIVED): the fetch under way may have read Zoho before the
    change that prompted this request (two stock adjustments of one item in quick
    succession).

    A request still waiting is locked until the caller commits: a worker claiming it now
    waits, then fetches and fills the foreign keys of the rows this transaction wrote
    (otherwise it could write the record and fill what it saw just before they landed).
    """
    key = hashlib.sha256(f"fetch|{entity}|{organization_id}|{zoho_id}".encode()).hexdigest()
    existing = conn.execute(
        sa.select(inbox_events.c.id, inbox_events.c.status).where(inbox_events.c.dedup_key == key).with_for_update()
    ).first()
    if existing is not None and existing.status != Status.RECEIVED:
        _reset(conn, [existing.id], body=reason, received_at=utcnow())
        return InboxEvent(existing.id, entity, organization_id, zoho_id, duplicate=False)
    return store(conn, source=Source.FETCH, entity=entity, organization_id=organization_id, zoho_id=zoho_id,
                 key=key, body=reason)


def request_missing(conn: Connection, missing: Iterable, reason: str = "missing reference") -> list[tuple[int, str]]:
    """Fetch requests for missing (or changed) references (anything with ``entity``,
    ``organization_id`` and ``zoho_id``, such as :class:`tds.sinks.sql.MissingReference`);
    returns the (event id, entity) pairs the caller enqueues once its transaction commits."""
    follow_up = []
    for ref in sorted(set(missing), key=lambda m: (m.entity, m.organization_id, m.zoho_id)):
        ev = request_fetch(conn, ref.entity, ref.organization_id, ref.zoho_id, reason=reason)
        if not ev.duplicate:
            follow_up.append((ev.id, ev.entity))
    mark_enqueued(conn, [eid for eid, _ in follow_up])
    return follow_up


def reset_for_replay(conn: Connection, event_ids: Iterable[int]) -> None:
    """Put finished or failed events back to RECEIVED, their attempts forgotten."""
    _reset(conn, list(event_ids))


def _reset(conn: Connection, ids: list[int], **values) -> None:
    if ids:
        conn.execute(
            sa.update(inbox_events)
            .where(inbox_events.c.id.in_(ids))
            .values(status=Status.RECEIVED, attempts=0, last_error=None, next_attempt_at=None, processed_at=None,
                    **values)
        )


def mark_enqueued(conn: Connection, event_ids: Iterable[int]) -> None:
    ids = list(event_ids)
    if ids:
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id.in_(ids)).values(enqueued_at=utcnow()))


def mark_unsent(conn: Connection, event_ids: Iterable[int]) -> None:
    """Events stored as sent whose message did not reach Redis after all: the sweeper counts
    from their receipt again (``enqueued_at`` cleared), as for an event never sent."""
    ids = list(event_ids)
    if ids:
        conn.execute(sa.update(inbox_events)
                     .where(inbox_events.c.id.in_(ids), inbox_events.c.status == Status.RECEIVED)
                     .values(enqueued_at=None))


# ------------------------------------------------------------------ an attempt


def claim(conn: Connection, event_id: int, lease: dt.timedelta | None = None) -> Row | None:
    """Start an attempt: the event moves to PROCESSING, counts one more attempt and takes
    the lease (``claimed_at``).

    Returns the event as it was, or ``None`` when there is nothing to do: no such event,
    it is DONE or DEAD already (a second delivery of a finished event), a newer version
    of the same record is already stored (the event is finished as superseded), or, given
    ``lease``, another attempt holds it and its lease is still live (a batch took it with
    another event: :func:`claim_batch`; that attempt finishes it, or the sweeper re-drives
    it once the lease runs out), or another attempt claimed it between the read and the
    update. A finished, missing or held event costs one round trip (the event is read by
    its key, with a statement built once); a superseded one three. Each statement stands alone (conditional on the status read),
    so a connection in autocommit mode claims with one round trip per statement.
    """
    ev = inbox_events.c
    event = conn.execute(_statement("read", lambda: sa.select(inbox_events).where(ev.id == sa.bindparam("id"))),
                         {"id": event_id}).first()
    if event is None or event.status in FINISHED:
        return None
    if (lease is not None and event.status == Status.PROCESSING and event.claimed_at is not None
            and event.claimed_at > utcnow() - lease):
        log.debug("inbox event %s is held by another attempt (claimed at %s); leaving it", event_id, event.claimed_at)
        return None
    newer = _newer_version(conn, event)
    if newer is not None:
        conn.execute(
            sa.update(inbox_events)
            .where(ev.id == event_id, ev.status == event.status)
            .values(status=Status.DONE, processed_at=utcnow(), last_error=f"superseded by event {newer}",
                    next_attempt_at=None)
        )
        log.debug("inbox event %s superseded by event %s of the same record", event_id, newer)
        return None
    taken = conn.execute(
        sa.update(inbox_events)
        .where(ev.id == event_id, ev.status == event.status)
        .values(status=Status.PROCESSING, attempts=ev.attempts + 1, claimed_at=utcnow())
    ).rowcount
    if not taken:  # between the read and this update another attempt claimed or finished it
        log.debug("inbox event %s was taken by another attempt meanwhile; leaving it", event_id)
        return None
    return event


_statements: dict[str, sa.Executable] = {}


def _statement(name: str, build: Callable[[], sa.Executable]) -> sa.Executable:
    """A statement of the claim path, built once (with bind parameters) instead of per call."""
    stmt = _statements.get(name)
    if stmt is None:
        stmt = _statements[name] = build()
    return stmt


def _newer_version(conn: Connection, event: Row) -> int | None:
    """A later webhook event of the same record whose version is at least as new, not dead."""
    if event.source != Source.WEBHOOK:
        return None
    timeless = event.zoho_last_modified_time is None

    def build():
        ev = inbox_events.c
        newer = ev.zoho_last_modified_time.is_(None) if timeless else (
            ev.zoho_last_modified_time >= sa.bindparam("modified", type_=ev.zoho_last_modified_time.type))
        return (
            sa.select(ev.id)
            .where(ev.entity == sa.bindparam("entity"), ev.organization_id == sa.bindparam("org"),
                   ev.zoho_id == sa.bindparam("zoho_id"), ev.source.in_(ANNOUNCED), ev.id > sa.bindparam("id"),
                   ev.status != Status.DEAD, newer)
            .order_by(ev.id.desc())
            .limit(1)
        )

    params = {"entity": event.entity, "org": event.organization_id, "zoho_id": event.zoho_id, "id": event.id}
    if not timeless:
        params["modified"] = event.zoho_last_modified_time
    return conn.execute(_statement(f"newer:{timeless}", build), params).scalar()


def _newer_version_of(candidate) -> sa.ScalarSelect:
    """The newest later webhook event of the same record as ``candidate`` (a row of the
    inbox, or an alias of it) whose version is at least as new, and not dead; NULL if none
    (or when ``candidate`` is not a webhook: fetches read Zoho's newest anyway)."""
    cand = candidate.c
    later = inbox_events.alias("later")
    lc = later.c
    at_least_as_new = sa.or_(sa.and_(cand.zoho_last_modified_time.is_(None), lc.zoho_last_modified_time.is_(None)),
                             lc.zoho_last_modified_time >= cand.zoho_last_modified_time)
    return (
        sa.select(sa.func.max(lc.id))
        .where(cand.source == Source.WEBHOOK, lc.entity == cand.entity, lc.organization_id == cand.organization_id,
               lc.zoho_id == cand.zoho_id, lc.source.in_(ANNOUNCED), lc.id > cand.id, lc.status != Status.DEAD,
               at_least_as_new)
        .scalar_subquery()
    )


def claim_batch(conn: Connection, event: Row, limit: int) -> list[Row]:
    """Claim up to ``limit`` more webhook events of ``event``'s entity and organization, to
    be applied with it in one transaction (PostgreSQL only; elsewhere nothing is claimed).

    Taken, in one statement: RECEIVED webhook events that are due (``enqueued_at`` not in
    the future: not held back for their coalescing countdown, see :func:`store`, nor just
    released by another batch, see :func:`release`) and never failed (no attempt log:
    a failed or replayed event is applied alone, where its failure is recorded). Rows
    locked by another batch are skipped (``FOR UPDATE SKIP LOCKED``), so workers draining
    one queue take disjoint batches. Each is claimed as :func:`claim` does (PROCESSING,
    one more attempt, the lease), and one superseded by a newer stored version of its
    record is finished as superseded instead. Their own messages then find them held
    (or finished) and cost one round trip. Returns the events claimed for processing.
    """
    if limit < 1 or conn.dialect.name != "postgresql":
        return []
    now = utcnow()
    cand = inbox_events.alias("cand")
    cc = cand.c
    picked = (
        sa.select(cc.id, _newer_version_of(cand).label("newer"))
        .where(cc.entity == event.entity, cc.organization_id == event.organization_id, cc.source == Source.WEBHOOK,
               cc.status == Status.RECEIVED, cc.id != event.id, cc.attempt_log.is_(None),
               sa.or_(cc.enqueued_at.is_(None), cc.enqueued_at <= now))
        # the oldest first, in the order of the (status, received_at) index: the scan stops
        # after ``limit`` rows instead of sorting every unfinished event of the entity
        .order_by(cc.received_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=cand)
        .cte("picked")
    )
    ev = inbox_events.c
    fresh = picked.c.newer.is_(None)
    rows = conn.execute(
        sa.update(inbox_events)
        .where(ev.id == picked.c.id)
        .values(
            status=sa.case((fresh, Status.PROCESSING.value), else_=Status.DONE.value),
            attempts=sa.case((fresh, ev.attempts + 1), else_=ev.attempts),
            claimed_at=sa.case((fresh, now), else_=ev.claimed_at),
            processed_at=sa.case((fresh, ev.processed_at), else_=now),
            last_error=sa.case((fresh, ev.last_error),
                               else_=sa.literal("superseded by event ") + sa.cast(picked.c.newer, sa.Text)),
        )
        .returning(*inbox_events.c, picked.c.newer)
    ).fetchall()
    superseded = [r.id for r in rows if r.newer is not None]
    if superseded:
        log.debug("inbox events %s superseded by newer versions of their records", superseded)
    return sorted((r for r in rows if r.newer is None), key=lambda r: r.id)


def release(conn: Connection, event_ids: Iterable[int], hold: dt.timedelta) -> None:
    """PROCESSING → RECEIVED, the attempt not counted: events a batch claimed but will not
    apply (they need a Zoho fetch, fail to map, or the batch's write failed). The caller
    sends each one's message again, and its own attempt then applies it alone, where a
    failure is recorded as usual. ``enqueued_at`` is set ``hold`` ahead, so no other batch
    takes them meanwhile (a record that fails to map would be taken and released again and
    again while the queue has a backlog)."""
    ids = list(event_ids)
    if ids:
        conn.execute(
            sa.update(inbox_events)
            .where(inbox_events.c.id.in_(ids), inbox_events.c.status == Status.PROCESSING)
            .values(status=Status.RECEIVED, attempts=inbox_events.c.attempts - 1, enqueued_at=utcnow() + hold)
        )


def finish(conn: Connection, event_id: int, note: str | None = None) -> bool:
    """PROCESSING → DONE. False when another attempt moved the event meanwhile."""
    return bool(finish_many(conn, [event_id], note))


def finish_many(conn: Connection, event_ids: Iterable[int], note: str | None = None) -> int:
    """PROCESSING → DONE for each of ``event_ids`` still PROCESSING, in one statement; how many."""
    ids = list(event_ids)
    if not ids:
        return 0
    return conn.execute(
        sa.update(inbox_events)
        .where(inbox_events.c.id.in_(ids), inbox_events.c.status == Status.PROCESSING)
        .values(status=Status.DONE, processed_at=utcnow(), last_error=note, next_attempt_at=None)
    ).rowcount


def record_failure(conn: Connection, event_id: int, decision: Decision, exc: BaseException,
                   task_name: str) -> Decision:
    """PROCESSING → RETRYING, WAITING or DEAD (with its dead letter), as ``decision`` says.

    Every failed attempt is added to the event's attempt log. Only the attempt that holds
    the event records its failure; otherwise nothing changes and the decision returned is
    :attr:`Action.SUPERSEDED`.
    """
    now = utcnow()
    event = conn.execute(sa.select(inbox_events).where(inbox_events.c.id == event_id)).first()
    if event is None:
        return Decision(Action.DEAD)
    attempts = list(event.attempt_log or []) + [{"at": now.isoformat(), "error": describe(exc)}]
    values = {"last_error": describe(exc), "attempt_log": attempts}
    if decision.action is Action.RETRY:
        values.update(status=Status.RETRYING, enqueued_at=now + dt.timedelta(seconds=decision.countdown))
    elif decision.action is Action.WAIT:
        values.update(status=Status.WAITING, next_attempt_at=decision.wait_until)
    else:
        values.update(status=Status.DEAD, processed_at=now)
    held = conn.execute(
        sa.update(inbox_events)
        .where(inbox_events.c.id == event_id, inbox_events.c.status == Status.PROCESSING)
        .values(**values)
    ).rowcount
    if not held:
        log.info("inbox event %s failed after another attempt took it over; leaving it to that one", event_id)
        return Decision(Action.SUPERSEDED)
    metrics.EVENTS_FAILED.labels(event.entity, str(decision.action)).inc()
    if values["status"] is Status.DEAD:
        metrics.EVENTS_DEAD.labels(event.entity).inc()
        deadletters.add(
            conn, task_name=task_name, entity=event.entity, organization_id=event.organization_id,
            zoho_id=event.zoho_id, exc=exc, attempts=attempts, inbox_event_id=event_id,
            payload={"source": event.source, "content_type": event.content_type, "body": event.body},
        )
    log.log(
        logging.ERROR if values["status"] is Status.DEAD else logging.WARNING,
        "inbox event %s (%s %s) failed: %s → %s", event_id, event.entity, event.zoho_id, describe(exc),
        decision.action,
    )
    return decision


# ------------------------------------------------------------------ the sweeper


class Redrive(enum.StrEnum):
    """Why the sweeper sends an event again."""

    UNSENT = "unsent"  # RECEIVED: its message never reached a worker, or was lost with Redis
    LEASE_EXPIRED = "lease_expired"  # PROCESSING: the worker holding it is gone
    RETRY_LOST = "retry_lost"  # RETRYING: its countdown passed long ago and no retry came
    WAIT_OVER = "wait_over"  # WAITING: its time has come


def due_for_redrive(conn: Connection, older_than: dt.timedelta, lease: dt.timedelta,
                    idle_entities: Iterable[str] = (), limit: int = 1000) -> list[tuple[int, str, Redrive]]:
    """Events the sweeper sends again, as (event id, entity, why).

    RECEIVED events not sent for ``older_than`` (zero when Redis came back empty: every
    queued message was lost with it), or for ``lease`` when their entity's queue is empty
    (``idle_entities``: the message is not waiting in the queue, so a worker took it ahead
    of time — prefetched, or held for its countdown — and was killed); PROCESSING events
    whose lease (``claimed_at``) and last sending are older than ``lease``; RETRYING events
    whose retry was due more than ``lease`` ago; WAITING events whose time has come and
    that were not sent in the last ``lease``.
    """
    now = utcnow()
    ev = inbox_events.c
    sent = sa.func.coalesce(ev.enqueued_at, ev.received_at)
    quiet = sent < now - lease
    idle = list(idle_entities)
    # zero: Redis came back empty, so even a message not due yet (a countdown) went with it
    unsent = sent < now - older_than if older_than > dt.timedelta(0) else sa.true()
    if idle:
        unsent = sa.or_(unsent, sa.and_(ev.entity.in_(idle), quiet))
    why = sa.case(
        (ev.status == Status.RECEIVED, Redrive.UNSENT.value),
        (ev.status == Status.PROCESSING, Redrive.LEASE_EXPIRED.value),
        (ev.status == Status.RETRYING, Redrive.RETRY_LOST.value),
        else_=Redrive.WAIT_OVER.value,
    )
    stmt = (
        sa.select(ev.id, ev.entity, why.label("why"))
        .where(
            sa.or_(
                sa.and_(ev.status == Status.RECEIVED, unsent),
                sa.and_(ev.status == Status.PROCESSING, sa.func.coalesce(ev.claimed_at, ev.received_at) < now - lease,
                        quiet),
                sa.and_(ev.status == Status.RETRYING, quiet),
                sa.and_(ev.status == Status.WAITING, ev.next_attempt_at <= now, quiet),
            )
        )
        .order_by(ev.id)
        .limit(limit)
    )
    return [(row.id, row.entity, Redrive(row.why)) for row in conn.execute(stmt)]


def sweep(engine, older_than: dt.timedelta, enqueue: Callable[[int, str], None],
          lease: dt.timedelta | None = None, idle_entities: Iterable[str] = ()) -> dict[Redrive, int]:
    """Send again every event that should have finished by now; how many, by reason.

    Each event is sent before it is marked sent: a sweep that fails half-way (Redis down)
    marks only what reached Redis, so the next sweep retries the rest at once instead of a
    full ``older_than`` later. The exception is raised again after that marking.
    """
    with engine.connect() as conn:
        due = due_for_redrive(conn, older_than, lease if lease is not None else older_than, idle_entities)
    counts: dict[Redrive, int] = {}
    sent: list[int] = []
    try:
        for event_id, entity, why in due:
            enqueue(event_id, entity)
            sent.append(event_id)
            counts[why] = counts.get(why, 0) + 1
    finally:
        with engine.begin() as conn:
            mark_enqueued(conn, sent)
    return counts


def purge_finished(engine, older_than: dt.timedelta, batch: int = 1000) -> int:
    """Delete DONE events processed longer ago than ``older_than``, in batches; returns how
    many. DEAD events stay with their dead letters until an operator purges those."""
    cutoff = utcnow() - older_than
    total = 0
    while True:
        with engine.begin() as conn:
            ids = conn.execute(sa.select(inbox_events.c.id).where(
                inbox_events.c.status == Status.DONE, inbox_events.c.processed_at < cutoff).limit(batch)).scalars().all()
            if not ids:
                return total
            conn.execute(sa.delete(inbox_events).where(inbox_events.c.id.in_(ids)))
        total += len(ids)
