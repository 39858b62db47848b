"""Incremental sync: only what changed since the cursor, nothing missed at its edges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from tds import registry
from tds.mappers.documents import invoices, payments
from tds.mapping import parse_zoho_time
from tds.models import sync_runs, sync_state
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared
from tests.simulated import settings_for, use


def _cursor(engine, org, entity):
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_state.c.cursor).where(sync_state.c.organization_id == org,
                                                                 sync_state.c.entity == entity)).scalar()


def _start(simulator_factory, database_url, redis_url, **extra):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, **extra))
    return sim, org, settings, zoho_shared.zoho_client(settings)


def test_incremental_sync_picks_up_exactly_the_changed_records(engine, database_url, redis_url, redis_client,
                                                                simulator_factory):
    sim, org, settings, client = _start(simulator_factory, database_url, redis_url)
    entity = registry.get("invoices")
    full = sync.full_sync(settings, entity, org, client)
    cursor = _cursor(engine, org, "invoices")
    assert cursor is not None and full.records_written == len(sim.simulator.store.records(org, "invoices"))

    changed = set(sim.simulator.mutate(org, "invoices", 4, send_webhooks=False))
    sim.simulator.reset_counters()
    result = sync.incremental_sync(settings, entity, org, client)

    calls = sim.simulator.counters()
    assert calls["GET /books/v3/invoices"] == 1  # one filtered page instead of every page
    assert calls.get("GET /books/v3/invoices/{id}", 0) == len(changed)  # only changed records cost a detail
    assert result.records_written == len(changed)
    assert result.since == cursor - dt.timedelta(seconds=settings.sync_lookback)
    with engine.connect() as conn:
        rows = {r.zoho_invoice_id: r for r in conn.execute(sa.select(invoices).where(
            invoices.c.zoho_invoice_id.in_(changed)))}
        run = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc())).first()
    for invoice_id in changed:
        src = sim.simulator.store.get(org, "invoices", invoice_id)
        assert rows[invoice_id].zoho_last_modified_time == parse_zoho_time(src["last_modified_time"])
        assert rows[invoice_id].total_amount == Decimal(str(src["total"]))
    assert (run.mode, run.status, run.records_written) == ("incremental", "succeeded", len(changed))
    newest = max(parse_zoho_time(sim.simulator.store.get(org, "invoices", i)["last_modified_time"]) for i in changed)
    assert _cursor(engine, org, "invoices") == newest


def test_two_records_sharing_the_cursors_second_across_runs_are_both_synced(engine, database_url, redis_url,
                                                                            redis_client, simulator_factory):
    """Zoho's filter means "modified after", and times have one-second resolution: a record
    saved in the cursor's very second after a run read the list is found by the lookback."""
    sim, org, settings, client = _start(simulator_factory, database_url, redis_url)
    entity = registry.get("items")
    sync.full_sync(settings, entity, org, client)
    first, second = sim.simulator.store.ids(org, "items")[:2]
    box = sim.simulator.store.org(org)

    moment = int(dt.datetime.now(dt.timezone.utc).timestamp()) + 5
    sim.simulator.update(org, "items", first, {"rate": 11.5}, send_webhook=False)
    box.stamp("items", first, moment)
    sync.incremental_sync(settings, entity, org, client)
    assert _cursor(engine, org, "items") == dt.datetime.fromtimestamp(moment, dt.timezone.utc)

    sim.simulator.update(org, "items", second, {"rate": 22.5}, send_webhook=False)
    box.stamp("items", second, moment)  # the same second, saved after the first run listed
    sync.incremental_sync(settings, entity, org, client)

    from tds.mappers.items import products

    with engine.connect() as conn:
        rates = dict(conn.execute(sa.select(products.c.zoho_item_id, products.c.unit_price).where(
            products.c.zoho_item_id.in_([first, second]))).all())
    assert rates == {first: Decimal("11.5"), second: Decimal("22.5")}

    # the same second without the lookback is lost: the window is what saves it
    third = sim.simulator.store.ids(org, "items")[2]
    sim.simulator.update(org, "items", third, {"rate": 33.5}, send_webhook=False)
    box.stamp("items", third, moment)
    blind = settings.replace(sync_lookback=0)
    sync.incremental_sync(blind, entity, org, client)
    with engine.connect() as conn:
        assert conn.execute(sa.select(products.c.unit_price).where(
            products.c.zoho_item_id == third)).scalar() != Decimal("33.5")


def test_an_edit_to_an_old_payment_is_picked_up(engine, database_url, redis_url, redis_client, simulator_factory):
    """The cursor is the modification time, never the document date."""
    sim, org, settings, client = _start(simulator_factory, database_url, redis_url)
    entity = registry.get("payments")
    sync.full_sync(settings, entity, org, client)
    oldest = min(sim.simulator.store.records(org, "customerpayments"), key=lambda p: p["date"])
    sim.simulator.update(org, "customerpayments", oldest["payment_id"], {"reference_number": "CHANGED-42"},
                         send_webhook=False)

    result = sync.incremental_sync(settings, entity, org, client)

    assert result.records_written == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.zoho_payment_id == oldest["payment_id"])).one()
    assert row.reference_number == "CHANGED-42"
    assert row.payment_date.isoformat() == oldest["date"]  # still the old document date


def test_incremental_without_a_cursor_reads_everything(engine, database_url, redis_url, redis_client,
                                                       simulator_factory):
    sim, org, settings, client = _start(simulator_factory, database_url, redis_url)
    result = sync.incremental_sync(settings, registry.get("customers"), org, client)
    expected = [c for c in sim.simulator.store.records(org, "contacts") if c["contact_type"] == "customer"]
    assert result.records_written == len(expected) and result.since is None
    assert _cursor(engine, org, "customers") is not None


def test_a_failed_incremental_run_leaves_the_cursor_where_it_was(engine, database_url, redis_url, redis_client,
                                                                 simulator_factory):
    sim, org, settings, client = _start(simulator_factory, database_url, redis_url, TDS_ZOHO_MAX_ATTEMPTS="1",
                                        TDS_ZOHO_BREAKER_FAILURES="1000")
    entity = registry.get("invoices")
    sync.full_sync(settings, entity, org, client)
    before = _cursor(engine, org, "invoices")
    sim.simulator.mutate(org, "invoices", 2, send_webhooks=False)
    sim.simulator.configure(error_rate=1.0)
    try:
        sync.incremental_sync(settings, entity, org, client)
    except Exception:
        pass
    else:
        raise AssertionError("the sync should have failed")
    sim.simulator.configure(error_rate=0.0)
    with engine.connect() as conn:
        run = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc())).first()
    assert run.status == "failed" and _cursor(engine, org, "invoices") == before
    assert sync.incremental_sync(settings, entity, org, client).records_written == 2
