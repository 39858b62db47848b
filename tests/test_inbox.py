"""Inbox bookkeeping under concurrent attempts: nothing finished is undone, nothing asked for is lost."""

from __future__ import annotations

import sqlalchemy as sa

from tds.inbox import events as inbox
from tds.inbox.decisions import Action
from tds.models import dead_letters, inbox_events
from tds.process import failures
from tds.zoho.errors import ZohoFatalError, ZohoTransientError
from tests.conftest import ORG


def _status(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events.c.status).where(inbox_events.c.id == event_id)).scalar_one()


def _set_status(engine, event_id, status):
    with engine.begin() as conn:
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id == event_id).values(status=status))


def test_fetch_asked_for_again_while_running_is_fetched_again(engine, settings):
    with engine.begin() as conn:
        first = inbox.request_fetch(conn, "items", ORG, "111", reason="stock adjustment")
        queued_twice = inbox.request_fetch(conn, "items", ORG, "111", reason="stock adjustment")
    assert not first.duplicate and queued_twice.duplicate  # still waiting in the queue: asked once

    _set_status(engine, first.id, "processing")  # a worker is reading Zoho right now
    with engine.begin() as conn:
        again = inbox.request_fetch(conn, "items", ORG, "111", reason="second stock adjustment")
    assert again.id == first.id and not again.duplicate  # the caller enqueues it once more
    assert _status(engine, first.id) == "received"

    with engine.begin() as conn:  # the running attempt ends: it must not mark the new request done
        assert not inbox.finish(conn, first.id)
    assert _status(engine, first.id) == "received"


def _fail(settings, engine, event_id, exc, retries):
    """What the task's retry policy does with a failed attempt."""
    with engine.begin() as conn:
        return inbox.record_failure(conn, event_id, failures.decide(settings, exc, retries), exc, "tds.process_event")


def test_failure_after_another_attempt_finished_changes_nothing(engine, settings):
    with engine.begin() as conn:
        event = inbox.request_fetch(conn, "items", ORG, "222", reason="missing reference")
    _set_status(engine, event.id, "done")  # a second delivery already finished it
    decision = _fail(settings, engine, event.id, ZohoFatalError("boom"), 0)
    assert decision.action is Action.SUPERSEDED
    assert _status(engine, event.id) == "done"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar() == 0


def test_failure_of_the_running_attempt_is_recorded(engine, settings):
    with engine.begin() as conn:
        event = inbox.request_fetch(conn, "items", ORG, "333", reason="missing reference")
    _set_status(engine, event.id, "processing")
    decision = _fail(settings, engine, event.id, ZohoTransientError("503"), 0)
    assert decision.action is Action.RETRY and 0 < decision.countdown <= settings.task_retry_backoff_max
    assert _status(engine, event.id) == "retrying"
    _set_status(engine, event.id, "processing")
    decision = _fail(settings, engine, event.id, ZohoFatalError("400 bad"), 1)
    assert decision.action is Action.DEAD and _status(engine, event.id) == "dead"
    with engine.connect() as conn:
        letter = conn.execute(sa.select(dead_letters)).one()
    assert [a["error"] for a in letter.attempts] == ["ZohoTransientError: 503", "ZohoFatalError: 400 bad"]
