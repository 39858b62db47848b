"""Deletions within a minute: Zoho's workflow rule on deletion calls the webhook URL with
``&event=deleted``; the real receiver stores it, the real worker confirms with Zoho and
soft-deletes the record with its child rows and a change-log entry. Never a reconcile."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tds import registry
from tds.mappers.documents import invoice_line_items, invoices
from tds.models import change_log, inbox_events
from tds.simulator.config import SimulatorConfig
from tds.simulator.server import SimulatorServer
from tds.sync import availability
from tds.zoho import shared as zoho_shared
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app


@pytest.fixture(scope="module")
def tiny_sim():
    sim = SimulatorServer(SimulatorConfig(scale="tiny", full_counts=registry.simulator_counts())).start()
    yield sim
    sim.stop()


@pytest.fixture
def deleting(tiny_sim, worker, engine, database_url, redis_url):
    """Invoices synced into the test database; the simulator sends its webhooks (deletions
    too) to a receiver served over HTTP, the real worker processes them."""
    sim = tiny_sim.simulator
    org = sim.config.organizations[0]
    settings = use(settings_for(tiny_sim, database_url, redis_url, org, TDS_ZOHO_RATE_LIMIT="1000000"))
    client = zoho_shared.zoho_client(settings)
    for name in ("customers", "items", "invoices"):
        assert availability.sync_entity(settings, registry.get(name), org, client).records_failed == 0
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sim.configure(webhook_url=f"http://127.0.0.1:{server.server_port}/api/zoho/webhooks",
                  webhook_secret=WEBHOOK_SECRET, webhook_payload="detail", webhooks_enabled=True)
    try:
        yield {"sim": sim, "org": org, "engine": engine, "client": app.test_client()}
    finally:
        sim.configure(webhook_url=None, webhook_secret=None)
        server.shutdown()
        server.server_close()
        wait_for(lambda: _unfinished(engine) == 0, timeout=60, what="every inbox event finished")


def _unfinished(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                            .where(inbox_events.c.status.not_in(("done", "dead")),
                                   inbox_events.c.source != "fetch")).scalar()


def _invoice(engine, zid):
    with engine.connect() as conn:
        return conn.execute(sa.select(invoices).where(invoices.c.zoho_invoice_id == zid)).first()


def _event(engine, zid, source="deletion"):
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events).where(inbox_events.c.zoho_id == zid,
                                                          inbox_events.c.source == source)).first()


def test_a_record_deleted_in_zoho_is_soft_deleted_within_a_minute_by_webhook(deleting):
    sim, org, engine = deleting["sim"], deleting["org"], deleting["engine"]
    invoice = next(r for r in sim.store.records(org, "invoices") if r.get("line_items"))
    zid = invoice["invoice_id"]
    row = _invoice(engine, zid)
    assert row.deleted_at is None
    started = time.monotonic()
    sim.delete(org, "invoices", zid)
    gone = wait_for(lambda: (r := _invoice(engine, zid)).deleted_at is not None and r, timeout=60,
                    what="the invoice soft-deleted")
    assert time.monotonic() - started < 60
    with engine.connect() as conn:
        lines = conn.execute(sa.select(sa.func.count()).select_from(invoice_line_items)
                             .where(invoice_line_items.c.invoice_id == gone.id)).scalar()
        logged = conn.execute(sa.select(change_log.c.action, change_log.c.source)
                              .where(change_log.c.zoho_id == zid, change_log.c.action == "deleted")).all()
    assert lines == 0
    assert logged == [("deleted", "webhook")]
    assert _event(engine, zid).status == "done"


def test_a_deletion_of_a_record_never_stored_is_finished_without_a_zoho_call(deleting):
    sim, org, engine = deleting["sim"], deleting["org"], deleting["engine"]
    new = sim.create(org, "invoices", {}, send_webhook=False)
    sim.stats.reset()
    sim.delete(org, "invoices", new["invoice_id"])
    event = wait_for(lambda: (e := _event(engine, new["invoice_id"])) is not None and e.status == "done" and e,
                     what="the deletion finished")
    assert "not stored here" in event.last_error
    assert not [k for k in sim.stats.snapshot() if "/invoices/{id}" in k]
    assert _invoice(engine, new["invoice_id"]) is None


def test_a_deletion_older_than_the_stored_version_is_ignored(deleting):
    sim, org, engine = deleting["sim"], deleting["org"], deleting["engine"]
    invoice = sim.store.records(org, "invoices")[1]
    old = {**invoice, "last_modified_time": "2020-01-01T00:00:00+0300"}
    resp = signed_post(deleting["client"], "invoices", {"invoice": old}, org=org, event="deleted")
    assert resp.status_code == 202
    wait_for(lambda: (e := _event(engine, invoice["invoice_id"])) is not None and e.status == "done",
             what="the deletion finished")
    assert "older than the stored" in _event(engine, invoice["invoice_id"]).last_error
    assert _invoice(engine, invoice["invoice_id"]).deleted_at is None


def test_a_deletion_of_a_record_zoho_still_has_is_applied_as_an_update(deleting):
    sim, org, engine = deleting["sim"], deleting["org"], deleting["engine"]
    invoice = sim.store.records(org, "invoices")[2]
    changed = sim.update(org, "invoices", invoice["invoice_id"], {"reference_number": "STILL-THERE"},
                         send_webhook=False)
    resp = signed_post(deleting["client"], "invoices", {"invoice": changed}, org=org, event="deleted")
    assert resp.status_code == 202
    row = wait_for(lambda: (r := _invoice(engine, invoice["invoice_id"])).reference_number == "STILL-THERE" and r,
                   what="the invoice updated from Zoho")
    assert row.deleted_at is None


def test_an_edit_and_a_deletion_with_the_same_body_are_two_events_and_an_unknown_event_is_refused(deleting):
    org, engine, client = deleting["org"], deleting["engine"], deleting["client"]
    invoice = deleting["sim"].store.records(org, "invoices")[3]
    assert signed_post(client, "invoices", {"invoice": invoice}, org=org).status_code == 202
    assert signed_post(client, "invoices", {"invoice": invoice}, org=org, event="deleted").status_code == 202
    with engine.connect() as conn:
        sources = sorted(conn.execute(sa.select(inbox_events.c.source)
                                      .where(inbox_events.c.zoho_id == invoice["invoice_id"])).scalars())
    assert sources == ["deletion", "webhook"]
    refused = signed_post(client, "invoices", {"invoice": invoice}, org=org, event="bogus")
    assert refused.status_code == 400 and "unknown event" in refused.get_data(as_text=True)
