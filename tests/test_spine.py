"""Webhook → inbox → Redis → real Celery worker → row, with the stale-write guard."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tds.mappers.items import products, stock_levels, warehouses
from tds.models import dead_letters, inbox_events
from tests.conftest import ORG
from tests.helpers import signed_post, wait_for
from webhook_receiver import create_app


def item(item_id="3850050000000077005", modified="2024-02-26T15:44:57+0200", name="OIL FILTER", rate="85.00", **extra):
    record = {
        "item_id": item_id,
        "name": name,
        "sku": "Z587",
        "status": "active",
        "rate": Decimal(rate),
        "purchase_rate": Decimal("60.00"),
        "stock_on_hand": Decimal("3.000000"),
        "tax_percentage": 0,
        "item_type": "inventory",
        "product_type": "goods",
        "image_document_id": "3850050000000077012",
        "image_name": "Z587-profile.jpg",
        "created_time": "2023-02-07T11:44:42+0200",
        "last_modified_time": modified,
        "warehouses": [
            {"warehouse_id": "2799904000000376323", "warehouse_name": "Main", "status": "active",
             "is_primary": True, "warehouse_stock_on_hand": Decimal("2.000000"),
             "warehouse_available_stock": Decimal("2.000000"), "warehouse_committed_stock": Decimal("0.000000")},
            {"warehouse_id": "2799904000000376324", "warehouse_name": "بغداد", "status": "active",
             "is_primary": False, "warehouse_stock_on_hand": Decimal("1.000000")},
        ],
    }
    record.update(extra)
    return record


def product_row(engine, item_id="3850050000000077005"):
    with engine.connect() as conn:
        return conn.execute(sa.select(products).where(products.c.zoho_item_id == item_id)).first()


def test_webhook_lands_as_a_row(worker, engine, settings):
    client = create_app(settings).test_client()
    resp = signed_post(client, "items", {"item": item()})
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["duplicate"] is False

    row = wait_for(lambda: product_row(engine), what="the product row")
    assert row.name == "OIL FILTER"
    assert row.unit_price == Decimal("85.00")
    assert row.stock_quantity == Decimal("3.000000")
    assert row.organization_id == ORG
    assert row.zoho_metadata["image_name"] == "Z587-profile.jpg"
    with engine.connect() as conn:
        levels = conn.execute(sa.select(stock_levels).order_by(stock_levels.c.zoho_warehouse_id)).fetchall()
        names = {w.zoho_warehouse_id: w.name for w in conn.execute(sa.select(warehouses))}
        status = conn.execute(sa.select(inbox_events.c.status)).scalar_one()
    assert [lv.stock_on_hand for lv in levels] == [Decimal("2"), Decimal("1")]
    assert all(lv.warehouse_id is not None for lv in levels)
    assert names["2799904000000376324"] == "بغداد"
    assert status == "done"


def test_same_webhook_twice_is_one_row(worker, engine, settings):
    client = create_app(settings).test_client()
    first = signed_post(client, "products", {"item": item()})
    second = signed_post(client, "products", {"item": item()})
    assert first.status_code == second.status_code == 202
    assert second.get_json() == {**first.get_json(), "duplicate": True}
    wait_for(lambda: product_row(engine), what="the product row")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_events)).scalar() == 1


def test_older_update_after_newer_keeps_newer(worker, engine, settings):
    client = create_app(settings).test_client()
    newer = item(name="NEW NAME", rate="99.50", modified="2024-03-01T10:00:00+0300")
    older = item(name="OLD NAME", rate="10.00", modified="2024-03-01T09:59:59+0300")
    assert signed_post(client, "items", {"item": newer}).status_code == 202
    wait_for(lambda: product_row(engine), what="the newer row")
    assert signed_post(client, "items", {"item": older}).status_code == 202
    with engine.connect() as conn:
        wait_for(lambda: conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                      .where(inbox_events.c.status == "done")).scalar() == 2,
                 what="both events processed")
    row = product_row(engine)
    assert row.name == "NEW NAME"
    assert row.unit_price == Decimal("99.50")


def test_bad_signature_is_refused_and_nothing_stored(engine, settings):
    client = create_app(settings, enqueue=lambda *a: None).test_client()
    resp = signed_post(client, "items", {"item": item()}, secret="SomeOtherSecret99")
    assert resp.status_code == 401
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_events)).scalar() == 0


def test_invalid_record_goes_to_dead_letter(worker, engine, settings):
    client = create_app(settings).test_client()
    bad = item()
    bad["rate"] = "not-a-number"
    resp = signed_post(client, "items", {"item": bad})
    assert resp.status_code == 202
    with engine.connect() as conn:
        letter = wait_for(lambda: conn.execute(sa.select(dead_letters)).first(), what="the dead letter")
    assert "rate" in letter.error
    assert product_row(engine) is None


def test_version_without_a_time_never_overwrites_one_with_a_time(worker, engine, settings):
    from tds.config import set_settings
    from tds.mappers.users import users

    settings = settings.replace(fetch_detail="never")  # in auto a timeless body is fetched instead
    set_settings(settings)
    client = create_app(settings).test_client()
    timed = {"user_id": "4600000000055", "name": "Timed Name", "email": "a@example.com", "status": "active",
             "last_modified_time": "2024-03-01T10:00:00+0300"}
    untimed = {**timed, "name": "Untimed Name"}
    del untimed["last_modified_time"]
    assert signed_post(client, "users", {"user": timed}).status_code == 202
    with engine.connect() as conn:
        wait_for(lambda: conn.execute(sa.select(users.c.name)).scalar() == "Timed Name", what="the user row")
    assert signed_post(client, "users", {"user": untimed}).status_code == 202
    with engine.connect() as conn:
        wait_for(lambda: conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                      .where(inbox_events.c.status == "done")).scalar() == 2,
                 what="both events processed")
        assert conn.execute(sa.select(users.c.name)).scalar_one() == "Timed Name"


def test_two_edits_in_one_second_are_two_events(worker, engine, settings):
    """Zoho's times have one-second resolution: a second edit within the same second is a
    new event and is applied (equal time overwrites), while a redelivery is a duplicate."""
    client = create_app(settings).test_client()

    def done():
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                .where(inbox_events.c.status == "done")).scalar()

    first = signed_post(client, "items", {"item": item(name="FIRST EDIT")})
    wait_for(lambda: done() == 1, what="the first edit")
    second = signed_post(client, "items", {"item": item(name="SECOND EDIT")})  # same last_modified_time
    again = signed_post(client, "items", {"item": item(name="SECOND EDIT")})  # a redelivery
    assert first.get_json()["duplicate"] is False and second.get_json()["duplicate"] is False
    assert again.get_json() == {**second.get_json(), "duplicate": True}
    wait_for(lambda: done() == 2, what="the second edit")
    assert product_row(engine).name == "SECOND EDIT"
