"""Dead letters: what failed for good, kept with its payload, error and every attempt.

They are listed, replayed (one, by entity, or all) and purged from ``tds dead-letters``.
Replaying puts the work back where it came from: a webhook or fetch event goes back into
the inbox as received and is enqueued; a record that failed during a sync is fetched again
by id; a failed sync run is sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tds import inbox
from tds.db import utcnow
from tds.models import dead_letters, inbox_events


@dataclass(frozen=True)
class Selection:
    ids: tuple[int, ...] = ()
    entity: str | None = None
    everything: bool = False

    def where(self):
        if self.ids:
            return dead_letters.c.id.in_(self.ids)
        if self.entity:
            return dead_letters.c.entity == self.entity
        if self.everything:
            return sa.true()
        raise ValueError("say which dead letters: ids, an entity, or all")


def list_letters(engine: Engine, entity: str | None = None, include_replayed: bool = False, limit: int = 100):
    stmt = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    if entity:
        stmt = stmt.where(dead_letters.c.entity == entity)
    if not include_replayed:
        stmt = stmt.where(dead_letters.c.replayed_at.is_(None))
    with engine.connect() as conn:
        return conn.execute(stmt).fetchall()


def replay(
    engine: Engine,
    selection: Selection,
    enqueue_event: Callable[[int, str], None],
    enqueue_sync: Callable[[str, str], None],
) -> int:
    """Send the selected dead letters' work again; returns how many were replayed.

    By entity or all, only letters not replayed yet are taken; named ids are replayed again
    even if they were before.
    """
    where = selection.where()
    if not selection.ids:
        where = sa.and_(where, dead_letters.c.replayed_at.is_(None))
    events: list[tuple[int, str]] = []
    syncs: list[tuple[str, str]] = []
    with engine.begin() as conn:
        letters = conn.execute(sa.select(dead_letters).where(where).order_by(dead_letters.c.id)).fetchall()
        for letter in letters:
            if letter.inbox_event_id is not None:
                conn.execute(
                    sa.update(inbox_events)
                    .where(inbox_events.c.id == letter.inbox_event_id)
                    .values(status="received", attempts=0, last_error=None, next_attempt_at=None,
                            processed_at=None)
                )
                events.append((letter.inbox_event_id, letter.entity))
            elif letter.zoho_id and letter.organization_id:
                ev = inbox.request_fetch(conn, letter.entity, letter.organization_id, letter.zoho_id,
                                         reason=f"replay of dead letter {letter.id}")
                if not ev.duplicate:
                    events.append((ev.id, ev.entity))
            elif letter.organization_id:
                syncs.append((letter.entity, letter.organization_id))
        inbox.mark_enqueued(conn, [event_id for event_id, _ in events])
        _mark_replayed(conn, [letter.id for letter in letters])
    for event_id, entity in events:
        enqueue_event(event_id, entity)
    for entity, org in syncs:
        enqueue_sync(entity, org)
    return len(letters)


def _mark_replayed(conn, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        conn.execute(
            sa.update(dead_letters)
            .where(dead_letters.c.id.in_(ids))
            .values(replayed_at=utcnow(), replay_count=dead_letters.c.replay_count + 1)
        )


def purge(engine: Engine, selection: Selection) -> int:
    """Delete the selected dead letters for good; returns how many."""
    with engine.begin() as conn:
        return conn.execute(sa.delete(dead_letters).where(selection.where())).rowcount
