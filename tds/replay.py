"""Replaying dead letters: the work goes back where it came from.

A webhook or fetch event goes back into the inbox as RECEIVED and is enqueued; a record
that failed during a sync is fetched again by id; a failed sync run is sent again. The
events are enqueued only after the transaction that reset them has committed, so a worker
never picks up an event still marked dead.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy.engine import Engine

from tds import deadletters, inbox


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
