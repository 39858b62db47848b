"""Batches: a worker applies many webhook events of one entity in one transaction, and
every event still ends as it would alone (its own change-log origin, its own dead letter,
coalescing, the lease); related rows that did not change are not rewritten."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tds.db import json_dumps, utcnow
from tds.inbox import events as inbox
from tds.models import change_log, dead_letters, inbox_events, metadata
from tds.process import processor as processing
from tds.receive import payload as webhook_payload
from tds.sinks import sql as sql_sink
from tests.conftest import ORG
from tests.helpers import wait_for

WAREHOUSES = (("901", "Main"), ("902", "Annex"))
products, warehouses = metadata.tables["products"], metadata.tables["warehouses"]


def _item(zoho_id: str, name: str = "", modified: str = "2024-02-26T15:44:57+0200",
          warehouses_=WAREHOUSES, **extra) -> dict:
    return {
        "item_id": zoho_id, "name": name or f"ITEM {zoho_id}", "sku": f"SKU{zoho_id}", "status": "active",
        "rate": Decimal("85.00"), "item_type": "inventory", "product_type": "goods", "unit": "pcs",
        "last_modified_time": modified,
        "warehouses": [{"warehouse_id": wid, "warehouse_name": wname, "status": "active", "is_primary": i == 0,
                        "warehouse_stock_on_hand": Decimal("1.5")} for i, (wid, wname) in enumerate(warehouses_)],
        **extra,
    }


def _store(engine, *records: dict, age: float = 5) -> list[int]:
    """Store item webhooks as the receiver does, received ``age`` seconds ago."""
    from tds import registry

    with engine.begin() as conn:
        ids = [webhook_payload.receive(conn, registry.get("items"), json_dumps({"item": r}).encode(),
                                       "application/json", {"organization_id": ORG}, {}, (ORG,)).id
               for r in records]
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id.in_(ids))
                     .values(received_at=utcnow() - dt.timedelta(seconds=age)))
    return ids


def _events(engine, ids) -> dict:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(inbox_events).where(inbox_events.c.id.in_(ids)))}


def test_a_batch_applies_many_events_at_once_each_logged_with_its_own_event(engine, settings):
    ids = _store(engine, *(_item(f"5{n:03d}") for n in range(12)))
    outcome = processing.process_event(settings, ids[0])
    assert sorted(eid for eid, _ in outcome.finished) == ids  # all of them, in this one attempt
    assert {status for _, status in outcome.finished} == {processing.Result.DONE}
    events = _events(engine, ids)
    assert {e.status for e in events.values()} == {"done"} and {e.attempts for e in events.values()} == {1}
    with engine.connect() as conn:
        logged = dict(conn.execute(sa.select(change_log.c.zoho_id, change_log.c.inbox_event_id)
                                   .where(change_log.c.entity == "items")).fetchall())
        written = conn.execute(sa.select(sa.func.count()).select_from(products)).scalar()
    assert written == 12
    assert logged == {events[i].zoho_id: i for i in ids}  # each change caused by its own event


def test_a_batch_size_of_one_applies_one_event_per_attempt(engine, settings):
    ids = _store(engine, *(_item(f"6{n:03d}") for n in range(3)))
    one = settings.__class__.from_env({**_env(settings), "TDS_WORKER_BATCH": "1"}, env_file=None)
    outcome = processing.process_event(one, ids[0])
    assert [eid for eid, _ in outcome.finished] == [ids[0]]
    assert [e.status for e in _events(engine, ids[1:]).values()] == ["received", "received"]


def _env(settings) -> dict:
    return {"TDS_DATABASE_URL": settings.database_url, "TDS_REDIS_URL": settings.redis_url,
            "ZOHO_ORGANIZATION_ID": ORG, "TDS_COALESCE_SECONDS": "0"}


def test_a_message_for_an_event_a_batch_holds_does_nothing(engine, settings):
    first, mate = _store(engine, _item("7001"), _item("7002"))
    with engine.begin() as conn:  # another worker's batch holds both, and is still writing
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id.in_([first, mate]))
                     .values(status="processing", attempts=1, claimed_at=utcnow()))
    before = _events(engine, [mate])[mate]
    assert processing.process_event(settings, mate).status is processing.Result.SKIPPED
    after = _events(engine, [mate])[mate]
    assert (after.status, after.attempts, after.claimed_at) == ("processing", before.attempts, before.claimed_at)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 0


def _row(conn, event_id):
    return conn.execute(sa.select(inbox_events).where(inbox_events.c.id == event_id)).first()


def test_events_of_a_batch_whose_worker_died_are_redriven_after_the_lease(engine, settings):
    first, *mates = _store(engine, _item("7101"), _item("7102"), _item("7103"))
    with engine.begin() as conn:  # a batch claimed; its worker is then killed before it writes
        event = inbox.claim(conn, first)
        assert [e.id for e in inbox.claim_batch(conn, event, 10)] == mates
    lease = dt.timedelta(seconds=settings.processing_lease)
    with engine.connect() as conn:
        assert inbox.due_for_redrive(conn, dt.timedelta(minutes=5), lease) == []  # the lease is live
    with engine.begin() as conn:
        conn.execute(sa.update(inbox_events).values(claimed_at=utcnow() - 2 * lease, enqueued_at=utcnow() - 2 * lease))
    with engine.connect() as conn:
        due = inbox.due_for_redrive(conn, dt.timedelta(minutes=5), lease)
    assert due == [(e, "items", inbox.Redrive.LEASE_EXPIRED) for e in (first, *mates)]
    for event_id, _, _ in due:  # what the re-sent messages do: the lease ran out, so each is taken
        processing.process_event(settings, event_id)
    assert {e.status for e in _events(engine, [first, *mates]).values()} == {"done"}


def test_two_versions_of_a_record_in_a_batch_store_the_newest(engine, settings):
    first, old, new = _store(engine, _item("7201"), _item("7202", "old", "2024-02-26T15:00:00+0200"),
                             _item("7202", "new", "2024-02-26T16:00:00+0200"))
    outcome = processing.process_event(settings, first)
    events = _events(engine, [first, old, new])
    assert events[old].status == "done" and events[old].last_error == f"superseded by event {new}"
    assert {eid for eid, _ in outcome.finished} == {first, new}
    with engine.connect() as conn:
        assert conn.execute(sa.select(products.c.name).where(products.c.zoho_item_id == "7202")).scalar() == "new"


def test_an_older_version_stored_later_in_the_same_batch_does_not_win(engine, settings):
    """Out of order: the newer version's webhook came first. Both are in the batch; the
    stale-write guard keeps the newer one, and the change is logged as the newer event's."""
    first, new, old = _store(engine, _item("7301"), _item("7302", "new", "2024-02-26T16:00:00+0200"),
                             _item("7302", "old", "2024-02-26T15:00:00+0200"))
    processing.process_event(settings, first)
    assert {e.status for e in _events(engine, [first, new, old]).values()} == {"done"}
    with engine.connect() as conn:
        assert conn.execute(sa.select(products.c.name).where(products.c.zoho_item_id == "7302")).scalar() == "new"
        origin = conn.execute(sa.select(change_log.c.inbox_event_id).where(change_log.c.zoho_id == "7302")).all()
    assert origin == [(new,)]


def test_a_record_that_fails_to_map_is_dead_lettered_alone_while_its_batch_is_applied(
        worker, engine, settings):
    good, bad, other = _store(engine, _item("7401"), _item("7402", rate="eighty-five"), _item("7403"))
    outcome = processing.process_event(settings, good)
    assert {eid for eid, _ in outcome.finished} == {good, other}
    assert (bad, "items") in outcome.follow_up  # released, and sent again to its own attempt
    assert _events(engine, [bad])[bad].status == "received"
    import tasks

    for event_id, entity in outcome.follow_up:
        tasks.enqueue_event(event_id, entity)
    wait_for(lambda: _events(engine, [bad])[bad].status == "dead", timeout=30, what="the dead letter")
    with engine.connect() as conn:
        letters = conn.execute(sa.select(dead_letters.c.inbox_event_id, dead_letters.c.zoho_id)).all()
    assert letters == [(bad, "7402")]
    assert {e.status for e in _events(engine, [good, other]).values()} == {"done"}


def test_a_failing_batch_write_applies_the_first_event_alone_and_releases_the_others(engine, settings, monkeypatch):
    first, *mates = _store(engine, _item("7501"), _item("7502"), _item("7503"))
    real = processing._write_batch

    def broken(conn, event, batch):
        real(conn, event, batch)
        raise RuntimeError("the batch's transaction fails at commit time")

    monkeypatch.setattr(processing, "_write_batch", broken)
    resent = []
    outcome = processing.process_event(settings, first, resend=lambda e, entity: resent.append(e))
    assert outcome.finished == [(first, processing.Result.DONE)] and resent == mates
    events = _events(engine, [first, *mates])
    assert events[first].status == "done"
    assert [(events[m].status, events[m].attempts) for m in mates] == [("received", 0), ("received", 0)]
    monkeypatch.undo()
    with engine.begin() as conn:  # released ones are not taken by another batch meanwhile
        assert inbox.claim_batch(conn, _row(conn, first), 10) == []
    for m in mates:
        assert processing.process_event(settings, m).status is processing.Result.DONE


def _xmin(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT zoho_warehouse_id, xmin::text FROM warehouses")).fetchall())


def test_an_unchanged_warehouse_is_not_rewritten_and_a_changed_one_is(engine, settings):
    processing.process_event(settings, _store(engine, _item("7601"))[0])
    before = _xmin(engine)
    assert set(before) == {"901", "902"}
    processing.process_event(settings, _store(engine, _item("7602", warehouses_=(("901", "Main"),
                                                                                  ("902", "Annex renamed"))))[0])
    after = _xmin(engine)
    assert after["901"] == before["901"]  # not touched: no row lock, no new version
    assert after["902"] != before["902"]
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(warehouses.c.zoho_warehouse_id, warehouses.c.name)).all())
    assert names == {"901": "Main", "902": "Annex renamed"}


@pytest.mark.parametrize("batch", ["1", "50"])
def test_stock_levels_link_their_warehouse_in_a_batch_or_alone(engine, settings, batch):
    env = {**_env(settings), "TDS_WORKER_BATCH": batch}
    one = settings.__class__.from_env(env, env_file=None)
    ids = _store(engine, _item("7701"), _item("7702", warehouses_=(("903", "Far"),)))
    processing.process_event(one, ids[0])
    if batch == "1":
        processing.process_event(one, ids[1])
    with engine.connect() as conn:
        unlinked = conn.execute(sa.text("SELECT count(*) FROM stock_levels WHERE warehouse_id IS NULL")).scalar()
        levels = conn.execute(sa.text("SELECT count(*) FROM stock_levels")).scalar()
    assert levels == 3 and unlinked == 0


def test_a_body_waiting_for_its_coalescing_countdown_is_not_taken_by_a_batch(engine, settings):
    from tds import registry

    items = registry.get("items")
    partial = {k: v for k, v in _item("7301").items() if k != "warehouses"}  # list-style: needs a Zoho fetch
    with engine.begin() as conn:
        first, waiting = (webhook_payload.receive(conn, items, json_dumps({"item": r}).encode(), "application/json",
                                                  {"organization_id": ORG}, {}, (ORG,), sent=True,
                                                  coalesce_seconds=30)
                          for r in (_item("7300"), partial))
        assert (first.countdown, waiting.countdown) == (0, 30)  # only the incomplete body waits
    with engine.begin() as conn:
        assert inbox.claim_batch(conn, inbox.claim(conn, first.id), 10) == []
    assert _events(engine, [waiting.id])[waiting.id].status == "received"


def test_an_event_is_claimed_on_a_new_connection_when_postgresql_dropped_the_old_one(engine, settings):
    first, second = _store(engine, _item("7401"), _item("7402"))
    one = settings.__class__.from_env({**_env(settings), "TDS_WORKER_BATCH": "1"}, env_file=None)
    assert processing.process_event(one, first).status is processing.Result.DONE  # the pools hold connections now
    with engine.connect() as conn:  # PostgreSQL restarted, as far as those connections can tell
        killed = conn.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed
    assert processing.process_event(one, second).status is processing.Result.DONE


def test_an_emptied_redis_resends_a_body_held_for_its_countdown_too(engine, settings):
    from tds import registry

    partial = {k: v for k, v in _item("7501").items() if k != "warehouses"}  # needs a fetch: held back
    with engine.begin() as conn:
        held = webhook_payload.receive(conn, registry.get("items"), json_dumps({"item": partial}).encode(),
                                       "application/json", {"organization_id": ORG}, {}, (ORG,), sent=True,
                                       coalesce_seconds=30)
    lease = dt.timedelta(seconds=settings.processing_lease)
    with engine.connect() as conn:
        assert inbox.due_for_redrive(conn, dt.timedelta(minutes=5), lease) == []
        assert [e for e, _, _ in inbox.due_for_redrive(conn, dt.timedelta(0), lease)] == [held.id]


def test_a_waiting_fetch_asked_for_again_cannot_be_claimed_until_the_asking_write_commits(engine, settings):
    with engine.begin() as conn:
        request = inbox.request_fetch(conn, "items", ORG, "7601", reason="missing reference")
    with engine.connect() as asking, engine.connect() as worker:
        with asking.begin():  # a write that found 7601 missing asks for it again, still uncommitted
            assert inbox.request_missing(asking, [sql_sink.MissingReference("items", ORG, "7601")]) == []
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                with worker.begin():  # the fetch would fill only what it sees: it must wait
                    worker.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
                    inbox.claim(worker, request.id)
        with worker.begin():
            assert inbox.claim(worker, request.id) is not None
