"""Replaying dead letters and past inbox events: the work goes back where it came from.

A webhook or fetch event goes back into the inbox as RECEIVED and is enqueued; a record
that failed during a sync is fetched again by id; a failed sync run is sent again. The
events are enqueued only after the transaction that reset them has committed, so a worker
never picks up an event still marked dead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tds.inbox import deadletters
from tds.inbox import events as inbox
from tds.models import inbox_events


def replay_dead_letters(
    engine: Engine,
    selection: deadletters.Selection,
    enqueue_event: Callable[[int, str], None],
    enqueue_sync: Callable[[str, str], None],
) -> int:
    """Send the selected dead letters' work again; returns how many were replayed."""
    events: list[tuple[int, str]] = []
    syncs: list[tuple[str, str]] = []
    with engine.begin() as conn:
        letters = deadletters.take_for_replay(conn, selection)
        for letter in letters:
            if letter.inbox_event_id is not None:
                inbox.reset_for_replay(conn, [letter.inbox_event_id])
                events.append((letter.inbox_event_id, letter.entity))
            elif letter.zoho_id and letter.organization_id:
                ev = inbox.request_fetch(conn, letter.entity, letter.organization_id, letter.zoho_id,
                                         reason=f"replay of dead letter {letter.id}")
                if not ev.duplicate:
                    events.append((ev.id, ev.entity))
            elif letter.organization_id:
                syncs.append((letter.entity, letter.organization_id))
        inbox.mark_enqueued(conn, [event_id for event_id, _ in events])
    for event_id, entity in events:
        enqueue_event(event_id, entity)
    for entity, org in syncs:
        enqueue_sync(entity, org)
    return len(letters)


@dataclass(frozen=True)
class ReplayedEvent:
    id: int
    entity: str
    zoho_id: str
    status: str  # before the replay
    received_at: dt.datetime


def replay_events(engine: Engine, since: dt.datetime, enqueue_event: Callable[[int, str], None],
                  entity: str | None = None, zoho_id: str | None = None, dry_run: bool = False,
                  limit: int = 100_000) -> list[ReplayedEvent]:
    """Process again the inbox events received since ``since`` (of one entity, one record).

    Idempotent: each event is applied again through the stale-write guard, which keeps
    whatever newer version is stored, and older events of a record are finished as
    superseded by its newest one (:func:`tds.inbox.events.claim`); replaying twice changes nothing.
    ``dry_run`` only lists what would be replayed.
    """
    ev = inbox_events.c
    stmt = sa.select(ev.id, ev.entity, ev.zoho_id, ev.status, ev.received_at).where(ev.received_at >= since)
    if entity:
        stmt = stmt.where(ev.entity == entity)
    if zoho_id:
        stmt = stmt.where(ev.zoho_id == zoho_id.strip())
    with engine.begin() as conn:
        chosen = [ReplayedEvent(*row) for row in conn.execute(stmt.order_by(ev.id).limit(limit))]
        if dry_run:
            return chosen
        inbox.reset_for_replay(conn, [e.id for e in chosen])
    sent = []
    try:
        for event in chosen:
            enqueue_event(event.id, event.entity)
            sent.append(event.id)
    finally:  # what did not reach Redis is RECEIVED and unsent: the sweeper sends it
        with engine.begin() as conn:
            inbox.mark_enqueued(conn, sent)
    return chosen
