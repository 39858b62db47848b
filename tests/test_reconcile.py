"""Reconciliation: every difference between Zoho and the mirror is found, and repaired on request."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import sqlalchemy as sa

from tds import registry
from tds.mappers.documents import invoice_line_items, invoices
from tds.mappers.items import products
from tds.sync import reconcile
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared
from tests.simulated import settings_for, use

ENTITIES = ("warehouses", "items", "customers", "invoices", "users", "price_lists")


def _synced(simulator_factory, database_url, redis_url, names=ENTITIES, **extra):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, **extra))
    client = zoho_shared.zoho_client(settings)
    for name in names:
        sync.full_sync(settings, registry.get(name), org, client)
    return sim, org, settings, client


def test_reconcile_with_nothing_changed_costs_one_call_per_list_page(engine, database_url, redis_url, redis_client,
                                                                     simulator_factory):
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url)
    sim.simulator.reset_counters()
    report = reconcile.reconcile(settings, [registry.get(n) for n in ENTITIES], [org], client)

    calls = sim.simulator.counters()
    assert report.healthy and report.health_score == 100.0 and report.label == "healthy"
    for entity in report.entities:
        assert entity.match_percent == 100.0, entity
        assert entity.zoho_count == entity.here_count == entity.matched
    expected = {
        "GET /inventory/v1/settings/warehouses": 1,
        "GET /inventory/v1/items": math.ceil(len(sim.simulator.store.records(org, "items")) / 200),
        "GET /books/v3/contacts": math.ceil(sum(1 for c in sim.simulator.store.records(org, "contacts")
                                                 if c["contact_type"] == "customer") / 200),
        "GET /books/v3/invoices": math.ceil(len(sim.simulator.store.records(org, "invoices")) / 200),
        "GET /books/v3/users": 1,
        "GET /inventory/v1/pricebooks": 1,
    }
    listed = {k: v for k, v in calls.items() if k.startswith("GET ")}
    assert listed == expected  # no detail call at all
    assert calls["api_calls_total"] == sum(expected.values()) == sum(e.api_calls for e in report.entities)


def test_every_kind_of_difference_is_found_and_dry_run_changes_nothing(engine, database_url, redis_url,
                                                                       redis_client, simulator_factory):
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("invoices",))
    entity = registry.get("invoices")
    ids = sim.simulator.store.ids(org, "invoices")
    gone, stale = ids[0], ids[1]
    sim.simulator.delete(org, "invoices", gone)
    sim.simulator.update(org, "invoices", stale, {"reference_number": "EDITED"}, send_webhook=False)
    added = sim.simulator.create(org, "invoices", send_webhook=False)["invoice_id"]
    with engine.begin() as conn:  # a figure changed here without a new Zoho time: drift
        drifted = ids[2]
        row = conn.execute(sa.select(invoices.c.id, invoices.c.zoho_metadata).where(
            invoices.c.zoho_invoice_id == drifted)).one()
        conn.execute(sa.update(invoices).where(invoices.c.id == row.id).values(
            zoho_metadata={**row.zoho_metadata, "balance": "-1"}))

    rep = reconcile.reconcile_entity(settings, entity, org, client, dry_run=True)

    assert (rep.missing_here, rep.gone_from_zoho, rep.stale_here, rep.drift) == ([added], [gone], [stale], [drifted])
    assert rep.would_repair == 3 and rep.would_delete == 1 and rep.repaired == rep.deleted == 0
    assert rep.match_percent < 100
    with engine.connect() as conn:
        assert conn.execute(sa.select(invoices.c.deleted_at).where(invoices.c.zoho_invoice_id == gone)).scalar() is None
        assert conn.execute(sa.select(sa.func.count()).select_from(invoices).where(
            invoices.c.zoho_invoice_id == added)).scalar() == 0

    fixed = reconcile.reconcile_entity(settings, entity, org, client, repair=True)
    assert fixed.repaired == 3 and fixed.deleted == 1
    with engine.connect() as conn:
        gone_row = conn.execute(sa.select(invoices).where(invoices.c.zoho_invoice_id == gone)).one()
        assert gone_row.deleted_at is not None  # soft: the row and its raw record stay
        assert conn.execute(sa.select(sa.func.count()).select_from(invoice_line_items).where(
            invoice_line_items.c.invoice_id == gone_row.id)).scalar() == 0  # its lines went with it
        assert conn.execute(sa.select(invoices.c.reference_number).where(
            invoices.c.zoho_invoice_id == stale)).scalar() == "EDITED"
    again = reconcile.reconcile_entity(settings, entity, org, client)
    assert again.match_percent == 100.0 and again.here_count == again.zoho_count


def test_a_repair_that_would_delete_too_much_deletes_nothing(engine, database_url, redis_url, redis_client,
                                                             simulator_factory):
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("items",))
    ids = sim.simulator.store.ids(org, "items")
    doomed = ids[: math.ceil(len(ids) * 0.08)]  # 8 % of the items, above the 5 % guard
    for item_id in doomed:
        sim.simulator.delete(org, "items", item_id)

    rep = reconcile.reconcile_entity(settings, registry.get("items"), org, client, repair=True)

    assert sorted(rep.gone_from_zoho) == sorted(doomed) and rep.deleted == 0
    assert rep.warnings and "nothing deleted" in rep.warnings[0] and "5 %" in rep.warnings[0]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(products).where(
            products.c.deleted_at.is_not(None))).scalar() == 0

    lenient = use(settings.replace(reconcile_max_delete_percent=10))
    assert reconcile.reconcile_entity(lenient, registry.get("items"), org, client, repair=True).deleted == len(doomed)


def test_tds_reconcile_command_reports_writes_json_and_exits_by_health(engine, database_url, redis_url, redis_client,
                                                                      simulator_factory, tmp_path):
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("items", "invoices"))
    cfg = sim.simulator.config
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
           "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
           "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "TDS_ZOHO_RATE_LIMIT": "100000"}
    command = [sys.executable, "-m", "tds.cli", "reconcile", "--entities", "items", "--entities", "invoices"]

    healthy = subprocess.run([*command, "--json", str(tmp_path / "ok.json")], env={**env, "TDS_IMAGE_DIR":
                             str(tmp_path / "images")}, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert healthy.returncode == 0, healthy.stderr + healthy.stdout
    assert "health score 100.0/100 (healthy)" in healthy.stdout
    ok = json.loads((tmp_path / "ok.json").read_text())
    assert ok["label"] == "healthy"
    with_image = sum(1 for i in sim.simulator.store.records(org, "items") if i.get("image_document_id"))
    images = next(e for e in ok["entities"] if e["entity"] == "items")["details"]["images"]
    assert images["with_image"] == with_image > 0 and images["present"] == 0 and images["percent"] == 0.0
    assert f"items ({org}) images: 0.0 % match ({with_image} missing) of {with_image} items with an image" \
        in healthy.stdout

    for invoice_id in sim.simulator.store.ids(org, "invoices")[:5]:  # 2 % of 250 invoices
        sim.simulator.delete(org, "invoices", invoice_id)
    unhealthy = subprocess.run([*command, "--json", str(tmp_path / "bad.json"), "--dry-run"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    assert unhealthy.returncode == 1, unhealthy.stderr + unhealthy.stdout
    report = json.loads((tmp_path / "bad.json").read_text())
    by_entity = {e["entity"]: e for e in report["entities"]}
    assert by_entity["invoices"]["gone_from_zoho"]["count"] == 5 and by_entity["invoices"]["would_delete"] == 5
    assert by_entity["items"]["match_percent"] == 100.0 and not report["healthy"]

    from tds.sync.reports import latest_report

    assert latest_report(settings)["entities"][1]["gone_from_zoho"]["count"] == 5


def test_rows_listed_without_a_time_are_compared_by_their_fields_never_called_stale(
        engine, database_url, redis_url, redis_client, simulator_factory):
    """Zoho lists users and price lists without ``last_modified_time``: a reconcile right after a
    full sync agrees, a change shows as drift (not stale), and a repair makes the next one agree."""
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("users", "price_lists"))
    page = client.iter_pages(registry.get("users"), org)
    assert all("last_modified_time" not in row for row in next(iter(page)))  # the simulator lists them untimed
    users, price_lists = registry.get("users"), registry.get("price_lists")
    for entity in (users, price_lists):
        assert reconcile.reconcile_entity(settings, entity, org, client).match_percent == 100.0

    changed = sim.simulator.store.ids(org, "users")[1]
    sim.simulator.update(org, "users", changed, {"name": "Renamed In Zoho"}, send_webhook=False)
    rep = reconcile.reconcile_entity(settings, users, org, client, repair=True)
    assert (rep.stale_here, rep.drift, rep.repaired) == ([], [changed], 1)
    again = reconcile.reconcile_entity(settings, users, org, client)
    assert again.match_percent == 100.0 and again.drift == []


def test_repair_exits_by_the_state_after_it(engine, database_url, redis_url, redis_client, simulator_factory,
                                            tmp_path):
    """``--repair`` that mends every difference exits 0 (the state after the repair, not before);
    one that leaves something off (the delete guard held) exits 1 and says how many."""
    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("items", "invoices"))
    cfg = sim.simulator.config
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
           "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
           "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "TDS_ZOHO_RATE_LIMIT": "100000",
           "TDS_IMAGE_DIR": str(tmp_path / "images")}

    def tds(*args):
        return subprocess.run([sys.executable, "-m", "tds.cli", "reconcile", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    ids = sim.simulator.store.ids(org, "invoices")
    for invoice_id in ids[:2]:
        sim.simulator.delete(org, "invoices", invoice_id)
    for invoice_id in ids[2:5]:
        sim.simulator.update(org, "invoices", invoice_id, {"reference_number": "EDITED"}, send_webhook=False)
    repaired = tds("--repair", "-e", "invoices")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr  # 2 % was off before, nothing after
    assert "still off" in repaired.stdout
    assert tds("-e", "invoices").returncode == 0

    items = sim.simulator.store.ids(org, "items")
    doomed = items[: math.ceil(len(items) * 0.08)]  # above the 5 % a repair may delete
    for item_id in doomed:
        sim.simulator.delete(org, "items", item_id)
    held = tds("--repair", "-e", "items", "--json", str(tmp_path / "held.json"))
    assert held.returncode == 1, held.stdout + held.stderr
    report = json.loads((tmp_path / "held.json").read_text())
    assert report["entities"][0]["still_off"] == len(doomed)


def test_a_refused_token_fails_the_reconcile_with_exit_7_and_keeps_the_score(
        engine, database_url, redis_url, redis_client, simulator_factory, tmp_path):
    """A reconcile that could not read Zoho is a failed run: exit 7, no match shown, and the
    stored score stays the last successful reconcile's."""
    from tds.sync.reports import latest_report

    sim, org, settings, client = _synced(simulator_factory, database_url, redis_url, names=("items",))
    cfg = sim.simulator.config
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
           "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": "wrong",
           "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "TDS_ZOHO_RATE_LIMIT": "100000",
           "TDS_IMAGE_DIR": str(tmp_path / "images")}
    before = reconcile.reconcile(settings, [registry.get("items")], [org], client)
    for key in redis_client.scan_iter("tds:zoho:oauth:*"):
        redis_client.delete(key)

    refused = subprocess.run([sys.executable, "-m", "tds.cli", "reconcile", "-e", "items", "-e", "users"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)

    out = refused.stdout + refused.stderr
    assert refused.returncode == 7, out
    assert "failed: Zoho refused the credentials" in out and "100.00" not in out
    assert "users" in refused.stdout and "not run" in out  # the token is not asked for again per entity
    assert "no successful reconcile, 2 entities failed" in refused.stdout
    stored = latest_report(settings)
    assert stored["health_score"] == before.health_score == 100.0
    assert {f["entity"]: f["reason"] for f in stored["last_failed"]} == {"items": "zoho_auth"}
