"""The contract between TDS and Zoho, for every entity in every shape the simulator writes:
``canonical``, ``sparse``, ``varied`` and ``minimal`` (only what Zoho documents as always
there, derived from each resource's description).

For each shape, one full sync into a database of its own; then, per entity:

* the full sync dead-lettered nothing and stored every record;
* a reconcile right after agrees everywhere (100 %), and a second one makes no detail call;
* an update in the simulator arrives by incremental sync, and by webhook through the real
  receiver and worker.

A pure test maps every record once without each optional field (:func:`shapes.drop_one`).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tds import db as tds_db
from tds import registry, schema, services
from tds.mapping import MapContext
from tds.models import dead_letters
from tds.simulator import shapes
from tds.simulator.config import SimulatorConfig
from tds.simulator.families import RESOURCES
from tds.simulator.server import SimulatorServer
from tds.sinks import sql as sql_sink
from tds.sync import availability, reconcile, synchronizer
from tds.zoho import shared as zoho_shared
from tests.conftest import ORG, PG_HOST_URL, WEBHOOK_SECRET, _admin
from tests.helpers import wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app

SHAPES = ("canonical", "sparse", "varied", "minimal")

SYNC_WAVES = (
    ("warehouses", "users", "crm_accounts"),
    ("items", "customers", "vendors", "crm_contacts"),
    ("price_lists", "invoices", "bills", "sales_orders", "stock_adjustments"),
    ("payments", "credit_notes"),
)

ENTITY_NAMES = [e.name for e in registry.ENTITIES]


def resource_of(entity: registry.Entity):
    """The simulator's resource serving ``entity``'s list."""
    path = entity.list_path.strip("/")
    for res in RESOURCES.values():
        if entity.api == "crm" and res.crm and res.crm_module == path:
            return res
        if entity.api != "crm" and not res.crm and path in {p for p, _ in res.paths()}:
            return res
    raise LookupError(entity.name)


def simulated(sim, org, entity: registry.Entity) -> list[dict]:
    """The simulator's (canonical) records of ``entity``."""
    res = resource_of(entity)
    rows = sim.store.records(None if res.crm else org, res.name)
    if entity.route_field:
        rows = [r for r in rows if r.get(entity.route_field) == entity.route_value]
    return rows


def without_module(sim, org, entity) -> bool:
    res = resource_of(entity)
    return shapes.missing(sim.config, None if res.crm else org, res)


@pytest.fixture(scope="module", params=SHAPES)
def contract(request, database_url, redis_url, celery_worker_session):
    """A tiny simulator in one shape, fully synced into a database of its own, with the
    real worker and a receiver the simulator sends its webhooks to."""
    shape = request.param
    name = f"{database_url.rsplit('/', 1)[1]}_contract"
    url = f"{PG_HOST_URL}/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    schema.upgrade(url)
    server = SimulatorServer(SimulatorConfig(scale="tiny", shapes=shape,
                                             full_counts=registry.simulator_counts())).start()
    sim = server.simulator
    org = sim.config.organizations[0]
    settings = use(settings_for(server, url, redis_url, org, TDS_CRM="on", TDS_ZOHO_RATE_LIMIT="1000000"))
    client = zoho_shared.zoho_client(settings)
    receiver = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    results = {}

    def run(entity):
        return availability.sync_entity(settings, registry.get(entity), org, client)

    try:
        for wave in SYNC_WAVES:
            with ThreadPoolExecutor(len(wave)) as pool:
                for entity, result in zip(wave, pool.map(run, wave)):
                    results[entity] = result
        sim.configure(webhook_url=f"http://127.0.0.1:{receiver.server_port}/api/zoho/webhooks",
                      webhook_secret=WEBHOOK_SECRET, webhook_payload="detail", webhooks_enabled=True)
        yield {"sim": sim, "org": org, "engine": tds_db.get_engine(url), "results": results, "shape": shape,
               "settings": settings, "client": client}
    finally:
        sim.configure(webhook_url=None, webhook_secret=None)
        receiver.shutdown()
        receiver.server_close()
        server.stop()
        services.reset()
        tds_db.get_engine(url).dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _entity_or_skip(contract, name: str) -> registry.Entity:
    entity = registry.get(name)
    if without_module(contract["sim"], contract["org"], entity):
        assert isinstance(contract["results"][name], availability.Unavailable), contract["results"][name]
        pytest.skip(f"the organization has no {name} under {contract['shape']}")
    return entity


def _stored(engine, entity, org) -> dict[str, dict]:
    tbl = sql_sink.table(entity.table)
    with engine.connect() as conn:
        return {r[0]: r[1] for r in conn.execute(sa.select(tbl.c[entity.zoho_id_column], tbl.c.zoho_metadata).where(
            tbl.c.organization_id == org, tbl.c.deleted_at.is_(None)))}


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_full_sync_stores_every_record_without_a_dead_letter(contract, name):
    entity = _entity_or_skip(contract, name)
    result, engine, org = contract["results"][name], contract["engine"], contract["org"]
    with engine.connect() as conn:
        letters = conn.execute(sa.select(dead_letters.c.error).where(dead_letters.c.entity == name)).scalars().all()
    assert letters == [] and result.records_failed == 0
    want = {str(r[entity.id_field]) for r in simulated(contract["sim"], org, entity)}
    assert want and set(_stored(engine, entity, org)) == want


@pytest.mark.parametrize("child,amounts", [("payment_invoices", "customerpayments"), ("credit_note_invoices", "creditnotes")])
def test_allocations_are_stored_with_their_links(contract, child, amounts):
    sim, org, engine = contract["sim"], contract["org"], contract["engine"]
    allocations = [a for r in sim.store.records(org, amounts) for a in r.get("invoices") or []]
    assert allocations, f"the tiny data set has {amounts} allocations"
    tbl = sql_sink.table(child)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tbl.c.zoho_invoice_id, tbl.c.invoice_id, tbl.c.amount_applied)).fetchall()
    assert sorted(r.zoho_invoice_id for r in rows) == sorted(str(a["invoice_id"]) for a in allocations)
    assert all(r.invoice_id is not None for r in rows)  # linked to the stored invoices
    if contract["shape"] != "minimal":  # minimal documents no amount: stored as NULL
        assert sorted(r.amount_applied for r in rows) == sorted(a["amount_applied"] for a in allocations)


def _detail_calls(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items()
            if v and (("{id}" in k and not k.endswith("/image")) or "itemdetails" in k)}


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_a_reconcile_right_after_the_sync_agrees_and_a_second_fetches_nothing(contract, name):
    entity = _entity_or_skip(contract, name)
    settings, client, org, sim = contract["settings"], contract["client"], contract["org"], contract["sim"]
    first = reconcile.reconcile_entity(settings, entity, org, client, repair=True)
    assert (first.match_percent, first.stale_here, first.drift, first.missing_here, first.gone_from_zoho) == (
        100.0, [], [], [], []), first.as_dict()
    sim.stats.reset()
    second = reconcile.reconcile_entity(settings, entity, org, client, repair=True)
    assert second.match_percent == 100.0
    assert _detail_calls(sim.stats.snapshot()) == {}


def _rename(contract, entity, send_webhook: bool) -> tuple[str, str]:
    sim, org = contract["sim"], contract["org"]
    res = resource_of(entity)
    record = simulated(sim, org, entity)[0]
    zid = str(record[entity.id_field])
    new = f"{record[res.name_field]} {'w' if send_webhook else 'i'}"
    sim.update(None if res.crm else org, res.name, zid, {res.name_field: new}, send_webhook=send_webhook)
    return zid, new


def _stored_name(contract, entity, zid: str):
    raw = _stored(contract["engine"], entity, contract["org"]).get(zid) or {}
    return raw.get(resource_of(entity).name_field)


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_an_update_arrives_by_incremental_sync(contract, name):
    entity = _entity_or_skip(contract, name)
    zid, new = _rename(contract, entity, send_webhook=False)
    result = synchronizer.incremental_sync(contract["settings"], entity, contract["org"], contract["client"])
    assert result.records_failed == 0
    assert _stored_name(contract, entity, zid) == new


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_an_update_arrives_by_webhook(contract, name):
    entity = _entity_or_skip(contract, name)
    if not resource_of(entity).slug and not resource_of(entity).slug_for:
        pytest.skip(f"Zoho sends no webhook for {name}")
    zid, new = _rename(contract, entity, send_webhook=True)
    wait_for(lambda: _stored_name(contract, entity, zid) == new, timeout=30, what=f"{name} {zid} renamed")


# ----------------------------------------------------------------------------- one field at a time


@pytest.fixture(scope="module")
def tiny():
    from tds.simulator.state import Simulator

    return Simulator(SimulatorConfig(scale="tiny", full_counts=registry.simulator_counts()))


@pytest.mark.parametrize("name", ENTITY_NAMES)
def test_every_entity_maps_with_any_one_optional_field_missing(tiny, name):
    entity = registry.get(name)
    res = resource_of(entity)
    records = simulated(tiny, tiny.config.organizations[0], entity)[:3]
    assert records
    tried = 0
    for record in records:
        whole = entity.map(record, MapContext(ORG))
        rows = {table: len(found) for table, found in whole.children.items()}
        for path, variant in shapes.drop_one(res, record):
            mapped = entity.map(variant, MapContext(ORG))  # never a MappingError
            if "[]." in path:  # a child field missing: every child row is still there
                assert {t: len(found) for t, found in mapped.children.items()} == rows, path
                assert mapped.skipped == 0, path
            tried += 1
    assert tried > len(records)


def test_minimal_keeps_the_identity_and_the_child_ids_only():
    res = RESOURCES["creditnotes"]
    record = {"creditnote_id": "1", "creditnote_number": "CN-1", "customer_id": "7", "customer_name": "A",
              "date": "2024-01-01", "total": 5, "balance": 5, "last_modified_time": "2024-01-01T00:00:00+0300",
              "invoices": [{"invoice_id": "9", "amount_applied": 5, "invoice_number": "I-9"}]}
    assert shapes.minimal(res, record) == {
        "creditnote_id": "1", "creditnote_number": "CN-1", "customer_id": "7", "date": "2024-01-01", "total": 5,
        "last_modified_time": "2024-01-01T00:00:00+0300", "invoices": [{"invoice_id": "9"}]}
    users = RESOURCES["users"]
    assert "last_modified_time" not in shapes.minimal(users, {"user_id": "1", "name": "N", "email": "e@x",
                                                              "last_modified_time": "x", "role_id": "3"})
    dropped = dict(shapes.drop_one(res, record))
    assert set(dropped) == {"customer_name", "balance", "invoices", "invoices[].amount_applied",
                            "invoices[].invoice_number"}
    assert dropped["invoices[].amount_applied"]["invoices"] == [{"invoice_id": "9", "invoice_number": "I-9"}]
