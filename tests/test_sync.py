"""Full sync from the simulator: every record lands, every mapped field matches."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from tds import registry
from tds.mappers.contacts import customers
from tds.mappers.items import products, stock_levels
from tds.mapping import parse_zoho_time
from tds.models import sync_runs, sync_state
from tds.simulator import shapes
from tds.simulator.families import RESOURCES
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared
from tests.simulated import settings_for, use


def _dec(value):
    """A figure as Zoho may write it (85.00, "85.00", "1,234.50", "5%", "" or null)."""
    return None if value is None or str(value).strip() == "" else Decimal(str(value).rstrip("%").replace(",", ""))


@pytest.mark.slow
@pytest.mark.parametrize("shape,scale", [("canonical", "full"), ("sparse", "small"), ("varied", "small")])
def test_full_sync_of_items_matches_the_simulator(engine, database_url, redis_url, redis_client, simulator_factory,
                                                  shape, scale):
    sim = simulator_factory(scale=scale, shapes=shape)
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    client = zoho_shared.zoho_client(settings)
    stored = {r["item_id"]: r for r in sim.simulator.store.records(org, "items")}
    expected = {i: shapes.present(sim.simulator.config, RESOURCES["items"], r) for i, r in stored.items()}
    n = len(expected)
    assert n == 2218 if scale == "full" else n > 100

    result = sync.full_sync(settings, registry.get("items"), org, client)
    assert result.records_seen == n and result.records_written == n

    with engine.connect() as conn:
        rows = {r.zoho_item_id: r for r in conn.execute(sa.select(products))}
        levels = conn.execute(sa.select(stock_levels.c.zoho_item_id, sa.func.sum(stock_levels.c.stock_on_hand))
                              .group_by(stock_levels.c.zoho_item_id)).all()
        run = conn.execute(sa.select(sync_runs)).one()
        state = conn.execute(sa.select(sync_state)).one()
    assert set(rows) == set(expected)
    for item_id, src in expected.items():
        row = rows[item_id]
        assert row.organization_id == org
        assert row.name == src["name"]
        assert row.sku == (src.get("sku") or None)
        assert row.unit_price == _dec(src.get("rate"))
        assert row.purchase_price == _dec(src.get("purchase_rate"))
        assert row.stock_quantity == _dec(src.get("stock_on_hand"))
        assert row.is_active == (src["status"] == "active")
        assert row.tax_rate == _dec(src.get("tax_percentage"))
        assert row.category_name == (src.get("category_name") or None)
        assert row.item_type == src.get("item_type")
        assert row.unit == (src.get("unit") or None)
        assert row.zoho_image_document_id == (src.get("image_document_id") or None)
        assert row.image_name == (src.get("image_name") or None)
        assert row.zoho_last_modified_time == parse_zoho_time(src["last_modified_time"])
        assert row.zoho_metadata == src
    # per-warehouse stock came from the bulk detail endpoint and adds up to stock on hand
    tracked = {i: _dec(s["stock_on_hand"]) for i, s in stored.items() if s.get("stock_on_hand") is not None}
    sums = {item_id: total for item_id, total in levels}
    assert tracked and all(sums[i] == total for i, total in tracked.items())
    calls = sim.simulator.counters()
    pages, details = -(-n // 200), -(-n // 100)
    assert calls.get("GET /inventory/v1/itemdetails", 0) == details  # 100 ids a call
    assert not any(k.startswith("GET /inventory/v1/items/") for k in calls)
    assert (run.status, run.records_seen, run.records_written) == ("succeeded", n, n)
    assert run.api_calls == calls["GET /inventory/v1/items"] + calls["GET /inventory/v1/itemdetails"] == pages + details
    assert state.cursor == max(parse_zoho_time(s["last_modified_time"]) for s in expected.values())


def test_full_sync_of_customers_and_a_second_run_changes_nothing(engine, database_url, redis_url, redis_client,
                                                                   simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[1]
    settings = use(settings_for(sim, database_url, redis_url, org))
    client = zoho_shared.zoho_client(settings)
    expected = {r["contact_id"]: r for r in sim.simulator.store.records(org, "contacts")
                if r["contact_type"] == "customer"}

    first = sync.full_sync(settings, registry.get("customers"), org, client)
    with engine.connect() as conn:
        rows = {r.zoho_contact_id: r for r in conn.execute(sa.select(customers))}
    assert first.records_seen == len(expected) == len(rows)
    for contact_id, src in expected.items():
        row = rows[contact_id]
        assert row.name == src["contact_name"]
        assert row.email == (src.get("email") or None)
        assert row.customer_type == src.get("customer_sub_type")
        assert row.currency_code == src.get("currency_code")
        assert row.outstanding_receivable == _dec(src.get("outstanding_receivable_amount"))

    second = sync.full_sync(settings, registry.get("customers"), org, client)
    assert second.records_seen == first.records_seen
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() == len(expected)


def test_overlapping_syncs_of_one_entity_are_refused(engine, database_url, redis_url, redis_client,
                                                    simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    lock = redis_client.lock(f"tds:lock:sync:{org}:items", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        with pytest.raises(sync.SyncAlreadyRunning):
            sync.full_sync(settings, registry.get("items"), org, zoho_shared.zoho_client(settings))
    finally:
        lock.release()


def test_sync_runs_as_a_celery_task(worker, engine, database_url, redis_url, simulator_factory):
    from tasks import send_sync
    from tests.helpers import wait_for

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    use(settings_for(sim, database_url, redis_url, org))
    expected = {r["contact_id"] for r in sim.simulator.store.records(org, "contacts")
                if r["contact_type"] == "customer"}
    send_sync("customers", org)

    def finished():
        with engine.connect() as conn:
            return conn.execute(sa.select(sync_runs.c.status).where(sync_runs.c.status != "running")).scalar()

    assert wait_for(finished, timeout=60, what="the sync run") == "succeeded"
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(customers.c.zoho_contact_id)).scalars()) == expected


def test_tds_sync_command(engine, database_url, redis_url, redis_client, simulator_factory, tmp_path):
    import os
    import subprocess
    import sys

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    cfg = sim.simulator.config
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
           "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
           "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org}
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "sync", "--full", "--entities", "items", "customers"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    items = len(sim.simulator.store.records(org, "items"))
    assert f"items ({org}): {items} written" in proc.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(products)).scalar() == items
        assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar() > 0

    missing = {k: v for k, v in env.items() if k != "ZOHO_REFRESH_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "sync", "--full", "--entities", "items"],
                          env=missing, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "configuration error: ZOHO_REFRESH_TOKEN is not set; it is needed to call Zoho"


def test_second_full_sync_fetches_only_changed_records(engine, database_url, redis_url, redis_client,
                                                       simulator_factory):
    from tds.mappers.documents import invoices

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    client = zoho_shared.zoho_client(settings)
    entity = registry.get("invoices")
    total = len(sim.simulator.store.records(org, "invoices"))

    first = sync.full_sync(settings, entity, org, client)
    assert (first.records_seen, first.records_written, first.records_unchanged) == (total, total, 0)

    sim.simulator.reset_counters()
    second = sync.full_sync(settings, entity, org, client)
    assert (second.records_seen, second.records_written, second.records_unchanged) == (total, 0, total)
    assert sim.simulator.counters().get("GET /books/v3/invoices/{id}", 0) == 0

    changed = sim.simulator.mutate(org, "invoices", 3, send_webhooks=False)
    sim.simulator.reset_counters()
    third = sync.full_sync(settings, entity, org, client)
    assert (third.records_written, third.records_unchanged) == (3, total - 3)
    assert sim.simulator.counters().get("GET /books/v3/invoices/{id}", 0) == 3
    with engine.connect() as conn:
        rows = {r.zoho_invoice_id: r for r in conn.execute(sa.select(invoices).where(
            invoices.c.zoho_invoice_id.in_(changed)))}
    for invoice_id in changed:
        src = sim.simulator.store.get(org, "invoices", invoice_id)
        assert rows[invoice_id].zoho_last_modified_time == parse_zoho_time(src["last_modified_time"])
        assert rows[invoice_id].total_amount == _dec(src["total"])

    sim.simulator.reset_counters()
    forced = sync.full_sync(settings, entity, org, client, refetch=True)
    assert forced.records_unchanged == 0
    assert sim.simulator.counters().get("GET /books/v3/invoices/{id}", 0) == total


def test_change_without_a_new_time_is_still_fetched(engine, database_url, redis_url, redis_client,
                                                   simulator_factory):
    """Zoho can move a figure (a balance, stock) without touching last_modified_time; the
    list row shows it, so the record is fetched again."""
    from tds.mappers.documents import invoices

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    client = zoho_shared.zoho_client(settings)
    entity = registry.get("invoices")
    sync.full_sync(settings, entity, org, client)

    target = sim.simulator.store.records(org, "invoices")[0]
    with sim.simulator.store.lock:  # an edit made behind the API, keeping the time
        raw = sim.simulator.store.rows(org, "invoices")[target["invoice_id"]]
        raw["balance"] = Decimal(str(raw["balance"])) + Decimal("1.00")
    sim.simulator.reset_counters()
    again = sync.full_sync(settings, entity, org, client)
    assert again.records_written == 1
    assert sim.simulator.counters().get("GET /books/v3/invoices/{id}", 0) == 1
    with engine.connect() as conn:
        balance = conn.execute(sa.select(invoices.c.balance).where(
            invoices.c.zoho_invoice_id == target["invoice_id"])).scalar_one()
    assert balance == Decimal(str(raw["balance"]))
