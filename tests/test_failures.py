"""Nothing is lost: lost messages are re-driven, transient failures retried, the rest dead-lettered."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading

import sqlalchemy as sa

from tasks import enqueue_event
from tds.inbox import events as inbox
from tds.mappers.items import products
from tds.models import dead_letters, inbox_events
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app


def _event(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events).where(inbox_events.c.id == event_id)).one()


def _product(engine, item_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(products).where(products.c.zoho_item_id == item_id)).first()


def test_event_whose_message_was_lost_is_redriven_by_the_sweeper(worker, engine, database_url, redis_url,
                                                                  simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    record = sim.simulator.store.records(org, "items")[0]
    lost = []
    client = create_app(settings, enqueue=lambda event_id, entity, countdown=0: lost.append(event_id)).test_client()
    resp = signed_post(client, "items", {"item": record}, org=org)
    assert resp.status_code == 202
    event_id = resp.get_json()["event_id"]
    assert lost == [event_id] and _product(engine, record["item_id"]) is None  # the message never reached Redis

    # not yet old enough: the sweeper leaves it alone
    assert inbox.sweep(engine, dt.timedelta(minutes=5), enqueue_event) == {}
    assert inbox.sweep(engine, dt.timedelta(seconds=0), enqueue_event) == {inbox.Redrive.UNSENT: 1}
    wait_for(lambda: _event(engine, event_id).status == "done", what="the re-driven event")
    assert _product(engine, record["item_id"]).name == record["name"]


def test_transient_zoho_failure_is_retried_until_it_succeeds(worker, engine, database_url, redis_url,
                                                             simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_ZOHO_MAX_ATTEMPTS="1",
                                TDS_ZOHO_BREAKER_FAILURES="1000"))
    item = sim.simulator.store.records(org, "items")[1]
    partial = {k: v for k, v in item.items() if k not in ("warehouses", "locations")}  # needs a detail fetch
    sim.simulator.configure(error_rate=1.0)
    client = create_app(settings).test_client()
    event_id = signed_post(client, "items", {"item": partial}, org=org).get_json()["event_id"]

    wait_for(lambda: _event(engine, event_id).status == "retrying", what="a retry to be scheduled")
    assert _product(engine, item["item_id"]) is None
    sim.simulator.configure(error_rate=0.0)
    wait_for(lambda: _event(engine, event_id).status == "done", timeout=60, what="the retried event")
    event = _event(engine, event_id)
    assert event.attempts >= 2
    assert _product(engine, item["item_id"]).name == item["name"]


def test_retries_exhausted_goes_to_dead_letter_with_every_attempt(worker, engine, database_url, redis_url,
                                                                  simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_ZOHO_MAX_ATTEMPTS="1",
                                TDS_TASK_MAX_RETRIES="2", TDS_ZOHO_BREAKER_FAILURES="1000"))
    item = sim.simulator.store.records(org, "items")[2]
    partial = {k: v for k, v in item.items() if k not in ("warehouses", "locations")}
    sim.simulator.configure(error_rate=1.0)
    client = create_app(settings).test_client()
    event_id = signed_post(client, "items", {"item": partial}, org=org).get_json()["event_id"]

    wait_for(lambda: _event(engine, event_id).status == "dead", timeout=60, what="the dead letter")
    with engine.connect() as conn:
        letter = conn.execute(sa.select(dead_letters)).one()
    assert letter.inbox_event_id == event_id and letter.entity == "items" and letter.zoho_id == item["item_id"]
    assert len(letter.attempts) == 3  # the first try and two retries
    assert letter.error_class.startswith("Zoho")
    assert json.loads(letter.payload["body"])["item"]["item_id"] == item["item_id"]
    assert _product(engine, item["item_id"]) is None


@contextlib.contextmanager
def flower_view(app):
    """Watch the worker's task events the way Flower does (an event receiver feeding a
    ``celery.events.State``); yields the state and the list of events seen."""
    state, seen, ready = app.events.State(), [], threading.Event()

    def on_event(event):
        seen.append(event)
        state.event(event)

    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": on_event})
        consume_ready = receiver.on_consume_ready

        def on_ready(*args, **kwargs):
            consume_ready(*args, **kwargs)
            ready.set()

        receiver.on_consume_ready = on_ready
        thread = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True)
        thread.start()
        assert ready.wait(10), "the event receiver did not start"
        try:
            yield state, seen
        finally:
            receiver.should_stop = True
            thread.join(10)


def test_flower_shows_retries_as_retry_and_the_dead_letter_as_failure(worker, engine, database_url, redis_url,
                                                                      simulator_factory):
    import tasks

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_ZOHO_MAX_ATTEMPTS="1",
                                TDS_TASK_MAX_RETRIES="2", TDS_ZOHO_BREAKER_FAILURES="1000"))
    item = sim.simulator.store.records(org, "items")[3]
    partial = {k: v for k, v in item.items() if k not in ("warehouses", "locations")}
    sim.simulator.configure(error_rate=1.0)
    with flower_view(tasks.app) as (state, seen):
        event_id = signed_post(create_app(settings).test_client(), "items", {"item": partial},
                               org=org).get_json()["event_id"]
        wait_for(lambda: _event(engine, event_id).status == "dead", timeout=60, what="the dead letter")

        def the_task():
            return next((t for t in state.tasks.values()  # Flower shows args as their repr
                         if t.name == "tds.process_event" and (t.args or "").lstrip("[(").startswith(f"{event_id},")),
                        None)

        wait_for(lambda: the_task() is not None and the_task().state == "FAILURE", timeout=20,
                 what="Flower to see the task fail")
    task = the_task()
    kinds = [e["type"] for e in seen if e.get("uuid") == task.uuid]
    assert kinds.count("task-retried") == 2  # each retry is shown as RETRY
    assert kinds[-1] == "task-failed" and "task-succeeded" not in kinds
    assert (task.exception or "").startswith("Zoho")  # the transient Zoho error that used up the retries
