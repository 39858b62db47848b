"""Dead letters: what failed for good, kept with its payload, error and every attempt.

An inbox event reaches here through :func:`tds.inbox.events.record_failure`; a sync task or a
record that failed during a sync through :func:`add` directly. They are listed, shown whole, replayed
(:mod:`tds.inbox.replay`) and purged from ``tds dead-letters``. Letters stay until an operator
purges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tds.db import utcnow
from tds.inbox.decisions import describe
from tds.models import dead_letters


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


def add(conn: Connection, *, task_name: str, entity: str, exc: BaseException, payload: dict,
        organization_id: str | None = None, zoho_id: str | None = None, attempts: list | None = None,
        inbox_event_id: int | None = None) -> None:
    """Keep one letter; ``attempts`` defaults to this one failure."""
    now = utcnow()
    conn.execute(
        sa.insert(dead_letters).values(
            inbox_event_id=inbox_event_id,
            task_name=task_name,
            entity=entity,
            organization_id=organization_id,
            zoho_id=zoho_id,
            payload=payload,
            error_class=exc.__class__.__name__,
            error=describe(exc),
            attempts=attempts if attempts is not None else [{"at": now.isoformat(), "error": describe(exc)}],
            created_at=now,
        )
    )


def list_letters(engine: Engine, entity: str | None = None, include_replayed: bool = False, limit: int = 100):
    stmt = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    if entity:
        stmt = stmt.where(dead_letters.c.entity == entity)
    if not include_replayed:
        stmt = stmt.where(dead_letters.c.replayed_at.is_(None))
    with engine.connect() as conn:
        return conn.execute(stmt).fetchall()


def get_letter(engine: Engine, letter_id: int):
    """One dead letter, whole (``None`` when there is no such letter)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id)).first()


def take_for_replay(conn: Connection, selection: Selection):
    """The selected letters, marked replayed. By entity or all, only letters not replayed
    yet are taken; named ids are taken again even if they were replayed before."""
    where = selection.where()
    if not selection.ids:
        where = sa.and_(where, dead_letters.c.replayed_at.is_(None))
    letters = conn.execute(sa.select(dead_letters).where(where).order_by(dead_letters.c.id)).fetchall()
    _mark_replayed(conn, [letter.id for letter in letters])
    return letters


def _mark_replayed(conn: Connection, ids: Iterable[int]) -> None:
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


def was_replayed(conn: Connection, inbox_event_id: int) -> bool:
    """Whether a dead letter of this inbox event was replayed (its writes come from a replay)."""
    return conn.execute(sa.select(dead_letters.c.id).where(
        dead_letters.c.inbox_event_id == inbox_event_id, dead_letters.c.replayed_at.is_not(None)).limit(1)
    ).first() is not None
