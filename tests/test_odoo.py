"""Products and images pushed to Odoo: against the Odoo stand-in over real XML-RPC.

No Odoo server can be installed here; :mod:`tds.sinks.odoo.standin` answers the calls TDS makes
the way Odoo does (see docs/odoo.md).
"""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tds import registry
from tds.cli import cli
from tds.config import set_settings
from tds.mapping import MapContext
from tds.models import odoo_changes, odoo_conflicts, odoo_images, odoo_products, odoo_runs
from tds.runs import RunStatus
from tds.sinks import sql as sql_sink
from tds.sinks.odoo import push as odoo_push
from tds.sinks.odoo.client import OdooClient
from tds.sinks.odoo.standin import OdooStandin
from tests.conftest import ORG
from tests.helpers import signed_post, wait_for
from webhook_receiver import create_app

ITEMS = registry.get("items")


@pytest.fixture
def standin():
    odoo = OdooStandin(db="odoo", login="tds", password="odoo-key")
    odoo.start()
    yield odoo
    odoo.stop()


@pytest.fixture
def odoo_settings(settings, standin, tmp_path):
    s = settings.replace(odoo_url=standin.url, odoo_db="odoo", odoo_username="tds", odoo_api_key="odoo-key",
                         image_dir=str(tmp_path / "images"))
    set_settings(s)  # the worker's tasks read the process-wide settings
    yield s
    set_settings(settings)


def item(item_id="4815000000044001", name="OIL FILTER", rate="85.00", modified="2024-03-01T10:00:00+0300", **extra):
    return {"item_id": item_id, "name": name, "sku": f"SKU-{item_id[-3:]}", "status": "active",
            "rate": Decimal(rate), "purchase_rate": Decimal("60.00"), "description": "Spin-on filter",
            "last_modified_time": modified, **extra}


def land(engine, settings, *records):
    """Items as the mirror holds them after a webhook or a sync."""
    with engine.begin() as conn:
        sql_sink.write(conn, [ITEMS.map(r, MapContext(ORG, settings)) for r in records])


def run(settings, redis_client):
    return odoo_push.push(settings, redis_client, trigger="cli")


def template(standin, zoho_id):
    found = [t for t in standin.templates() if t.get("x_zoho_item_id") == zoho_id]
    assert len(found) <= 1, f"{len(found)} Odoo products for one Zoho item"
    return found[0] if found else None


def writes(standin):
    return standin.count("create") + standin.count("write")


def test_first_run_creates_the_zoho_id_field_and_the_products(engine, odoo_settings, standin, redis_client):
    land(engine, odoo_settings, item(), item("4815000000044002", name="AIR FILTER", rate="12.5"))
    assert "x_zoho_item_id" not in standin.models["product.template"].fields

    result = run(odoo_settings, redis_client).result

    assert standin.count("create", "ir.model.fields") == 1
    assert (result.created, result.failed) == (2, 0)
    oil = template(standin, "4815000000044001")
    assert (oil["name"], oil["list_price"], oil["standard_price"]) == ("OIL FILTER", 85.0, 60.0)
    assert (oil["default_code"], oil["description_sale"]) == ("SKU-001", "Spin-on filter")
    assert (oil["type"], oil["sale_ok"], oil["purchase_ok"], oil["active"]) == ("product", True, True, True)
    variant = standin.models["product.product"].rows[oil["product_variant_id"]]
    assert (variant["product_tmpl_id"], variant["default_code"]) == (oil["id"], "SKU-001")
    with engine.connect() as conn:
        tracked = conn.execute(sa.select(odoo_products).where(odoo_products.c.zoho_item_id == "4815000000044001")).one()
        assert (tracked.odoo_template_id, tracked.odoo_product_id) == (oil["id"], variant["id"])
        assert [r.action for r in conn.execute(sa.select(odoo_changes))] == ["create", "create"]

    run(odoo_settings, redis_client)  # a second run finds the field: it is made once
    assert standin.count("create", "ir.model.fields") == 1


def test_unchanged_products_cost_no_write_and_a_change_writes_only_its_fields(engine, odoo_settings, standin,
                                                                              redis_client):
    land(engine, odoo_settings, item(rate="85.10"), item("4815000000044002", name="AIR FILTER"))
    run(odoo_settings, redis_client)
    before = writes(standin)

    again = run(odoo_settings, redis_client)
    assert (again.result.unchanged, again.result.written) == (2, 0)
    assert writes(standin) == before
    assert again.odoo_calls == 2  # fields_get and one search_read for both products

    land(engine, odoo_settings, item(rate="90.00", modified="2024-03-02T10:00:00+0300"))
    changed = run(odoo_settings, redis_client)
    assert (changed.result.updated, changed.result.unchanged) == (1, 1)
    assert writes(standin) == before + 1
    assert template(standin, "4815000000044001")["list_price"] == 90.0
    with engine.connect() as conn:
        last = conn.execute(sa.select(odoo_changes).order_by(odoo_changes.c.id.desc())).first()
    assert (last.action, last.fields) == ("update", {"list_price": 90.0})
    with engine.connect() as conn:  # Odoo still held what TDS sent: a change, not a conflict
        assert conn.execute(sa.select(sa.func.count()).select_from(odoo_conflicts)).scalar() == 0


def test_an_edit_in_odoo_is_overwritten_and_the_conflict_logged(engine, odoo_settings, standin, redis_client):
    land(engine, odoo_settings, item())
    run(odoo_settings, redis_client)
    oil = template(standin, "4815000000044001")
    someone = OdooClient(standin.url, "odoo", "tds", "odoo-key")
    someone.execute("product.template", "write", [oil["id"]], {"list_price": 1.0, "name": "oil filter (cheap)"})

    result = run(odoo_settings, redis_client).result

    assert (result.conflicts, result.updated) == (1, 1)
    oil = template(standin, "4815000000044001")
    assert (oil["list_price"], oil["name"]) == (85.0, "OIL FILTER")
    with engine.connect() as conn:
        conflict = conn.execute(sa.select(odoo_conflicts)).one()
    assert conflict.zoho_item_id == "4815000000044001" and conflict.odoo_template_id == oil["id"]
    assert conflict.fields == {"list_price": {"odoo": 1.0, "zoho": 85.0},
                               "name": {"odoo": "oil filter (cheap)", "zoho": "OIL FILTER"}}
    out = CliRunner().invoke(cli, ["odoo", "conflicts"])
    assert out.exit_code == 0 and "oil filter (cheap)" in out.output and "1 conflicts" in out.output


def test_deleted_or_inactive_in_zoho_is_archived_never_unlinked(engine, odoo_settings, standin, redis_client):
    land(engine, odoo_settings, item(), item("4815000000044002"), item("4815000000044003"))
    run(odoo_settings, redis_client)
    products = ITEMS_TABLE()
    with engine.begin() as conn:  # what a delete webhook leaves in the mirror: a soft-deleted row
        conn.execute(sa.update(products).where(products.c.zoho_item_id == "4815000000044001")
                     .values(deleted_at=sa.func.now()))
    land(engine, odoo_settings, item("4815000000044002", status="inactive", modified="2024-03-02T10:00:00+0300"),
         item("4815000000044009", status="inactive"))  # never in Odoo: stays out

    result = run(odoo_settings, redis_client).result

    assert (result.archived, result.created) == (2, 0)
    assert standin.count("unlink") == 0
    assert template(standin, "4815000000044001")["active"] is False
    archived = template(standin, "4815000000044002")
    assert archived["active"] is False
    assert standin.models["product.product"].rows[archived["product_variant_id"]]["active"] is False
    assert template(standin, "4815000000044003")["active"] is True
    assert template(standin, "4815000000044009") is None
    assert run(odoo_settings, redis_client).result.archived == 0  # archived once

    land(engine, odoo_settings, item("4815000000044002", modified="2024-03-03T10:00:00+0300"))  # active again
    assert run(odoo_settings, redis_client).result.updated == 1
    assert template(standin, "4815000000044002")["active"] is True
    out = CliRunner().invoke(cli, ["odoo", "stats"])
    assert out.exit_code == 0 and "archived: 2" in out.output and "1 archived" in out.output


def ITEMS_TABLE():
    from tds.models import metadata

    return metadata.tables[ITEMS.table]


def test_prices_follow_the_items_currency_and_the_old_rule_only_when_asked(engine, odoo_settings, standin,
                                                                           redis_client):
    land(engine, odoo_settings, item("4815000000044001", rate="10", currency_code="USD"),
         item("4815000000044002", rate="50"),
         item("4815000000044003", rate="7", currency_code="EUR"))
    result = run(odoo_settings, redis_client).result
    assert template(standin, "4815000000044001")["list_price"] == 15000.0  # 1 USD = 1500 IQD by default
    assert template(standin, "4815000000044002")["list_price"] == 50.0  # no currency: IQD, unconverted
    assert template(standin, "4815000000044003") is None  # no EUR rate: not pushed, and said so
    assert result.failed == 1
    with engine.connect() as conn:
        failed = conn.execute(sa.select(odoo_changes).where(odoo_changes.c.action == "failed")).one()
    assert failed.zoho_item_id == "4815000000044003" and "EUR" in failed.fields["error"]

    old_rule = odoo_settings.replace(odoo_usd_below=100.0, odoo_currency_rates=(("USD", 1480.0), ("EUR", 1600.0)))
    run(old_rule, redis_client)
    assert template(standin, "4815000000044002")["list_price"] == 74000.0  # under 100: USD
    assert template(standin, "4815000000044002")["standard_price"] == 88800.0
    assert template(standin, "4815000000044003")["list_price"] == 11200.0


def _downloaded(engine, settings, zoho_item_id: str, content: bytes) -> str:
    """What the image download stores for a product: the file and its row (tds.sync.images)."""
    from pathlib import Path

    from tds.mappers.items import products
    from tds.sync import images

    with engine.connect() as conn:
        org, reference = conn.execute(sa.select(products.c.organization_id, products.c.zoho_image_document_id)
                                      .where(products.c.zoho_item_id == zoho_item_id)).one()
    folder = Path(settings.image_dir) / "products"
    images._store(engine, folder, images.Job(org, zoho_item_id), reference, "photo.jpg", content, "jpg",
                  "image/jpeg", note=None)
    return str(folder / f"{zoho_item_id}.jpg")


def test_the_image_is_uploaded_when_it_changed(engine, odoo_settings, standin, redis_client, tmp_path):
    land(engine, odoo_settings, item())
    path = _downloaded(engine, odoo_settings, "4815000000044001", b"\xff\xd8\xff\xe0first image")

    assert run(odoo_settings, redis_client).result.images == 1
    assert base64.b64decode(template(standin, "4815000000044001")["image_1920"]) == b"\xff\xd8\xff\xe0first image"
    before = writes(standin)
    assert run(odoo_settings, redis_client).result.images == 0
    assert writes(standin) == before

    _downloaded(engine, odoo_settings, "4815000000044001", b"\xff\xd8\xff\xe0second image")
    assert run(odoo_settings, redis_client).result.images == 1
    assert base64.b64decode(template(standin, "4815000000044001")["image_1920"]) == b"\xff\xd8\xff\xe0second image"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(odoo_images)).scalar() == 2
    out = CliRunner().invoke(cli, ["odoo", "images"])
    assert out.exit_code == 0 and "2 images" in out.output and path in out.output


def test_an_item_webhook_reaches_odoo_through_the_worker(worker, engine, odoo_settings, standin):
    client = create_app(odoo_settings).test_client()
    assert signed_post(client, "items", {"item": item(name="BRAKE PAD", warehouses=[])}).status_code == 202

    pushed = wait_for(lambda: template(standin, "4815000000044001"), what="the product in Odoo")
    assert pushed["name"] == "BRAKE PAD"
    with engine.connect() as conn:
        assert conn.execute(sa.select(odoo_runs.c.trigger)).scalar() == "webhook"


def test_odoo_down_is_retried_not_lost(worker, engine, odoo_settings, standin):
    standin.stop()
    client = create_app(odoo_settings).test_client()
    assert signed_post(client, "items", {"item": item(name="SPARK PLUG", warehouses=[])}).status_code == 202

    def failed_runs():
        with engine.connect() as conn:
            return conn.execute(sa.select(odoo_runs.c.error).where(odoo_runs.c.status == "failed")).scalars().all()

    errors = wait_for(failed_runs, what="a push that found Odoo down")
    assert "OdooUnavailable" in errors[0]
    assert template(standin, "4815000000044001") is None
    standin.start()  # Odoo is back at the same address

    pushed = wait_for(lambda: template(standin, "4815000000044001"), what="the retried push")
    assert pushed["name"] == "SPARK PLUG"


def test_push_runs_are_recorded_with_the_run_statuses(engine, odoo_settings, standin, redis_client):
    land(engine, odoo_settings, item())
    run(odoo_settings, redis_client)
    standin.stop()
    with pytest.raises(Exception, match="Odoo"):
        run(odoo_settings, redis_client)
    standin.start()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(odoo_runs).order_by(odoo_runs.c.id)).fetchall()
    assert [RunStatus(r.status) for r in rows] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
    assert all(r.finished_at is not None for r in rows) and rows[0].created == 1 and rows[1].error


def test_sync_once_and_status_from_the_cli(engine, odoo_settings, standin, redis_client):
    land(engine, odoo_settings, item())
    runner = CliRunner()
    out = runner.invoke(cli, ["odoo", "sync-once"])
    assert out.exit_code == 0, out.output
    assert "created 1" in out.output
    out = runner.invoke(cli, ["odoo", "status"])
    assert out.exit_code == 0, out.output
    assert "login: ok" in out.output and "1 active, 0 archived" in out.output and "cli succeeded" in out.output
    out = runner.invoke(cli, ["odoo", "changes", "--action", "create"])
    assert "1 changes" in out.output and "OIL FILTER" in out.output
    out = runner.invoke(cli, ["odoo", "monitor", "--count", "1", "--interval", "0"])
    assert out.exit_code == 0 and "in Odoo: 1 active" in out.output
    standin.stop()
    assert "login: failed" in runner.invoke(cli, ["odoo", "status"]).output
    standin.start()


def test_odoo_settings_defaults_and_bad_values():
    from tds.config import ConfigError, Settings

    s = Settings.from_env({}, env_file=None)
    assert not s.odoo_enabled and s.odoo_sync_period == 300
    assert dict(s.odoo_currency_rates) == {"USD": 1500.0} and s.odoo_currency == "IQD" and s.odoo_usd_below == 0
    assert dict(s.odoo_field_map)["unit_price"] == "list_price"
    assert dict(s.odoo_product_defaults) == {"type": "product", "sale_ok": True, "purchase_ok": True}
    custom = Settings.from_env({"ODOO_URL": "https://erp.example.com/", "ODOO_API_KEY": "k3y",
                                "ODOO_FIELD_MAP": "name=name, sku=barcode", "ODOO_CURRENCY_RATES": "usd=1310,eur=1400"},
                               env_file=None)
    assert custom.odoo_enabled and custom.odoo_url == "https://erp.example.com"
    assert custom.odoo_field_map == (("name", "name"), ("sku", "barcode"))
    assert dict(custom.odoo_currency_rates) == {"USD": 1310.0, "EUR": 1400.0}
    assert "k3y" not in repr(custom)
    with pytest.raises(ConfigError, match="ODOO_DB"):
        custom.require_odoo_credentials()
    for env in ({"ODOO_CURRENCY_RATES": "USD"}, {"ODOO_CURRENCY_RATES": "USD=0"}, {"ODOO_CURRENCY": "dollars"},
                {"ODOO_USD_BELOW": "-1"}, {"ODOO_URL": "erp.example.com"}):
        with pytest.raises(ConfigError, match=next(iter(env))):
            Settings.from_env(env, env_file=None)


def test_odoo_tasks_have_their_queue_and_are_scheduled_only_when_odoo_is_set(base_settings):
    from tasks.celery_app import create_celery
    from tds.queues import ODOO_PUSH, ODOO_PUSH_EVENT, ODOO_QUEUE, all_queues, route_task

    assert ODOO_QUEUE in all_queues()
    assert route_task(ODOO_PUSH, (), {}, {}) == route_task(ODOO_PUSH_EVENT, (1,), {}, {}) == {"queue": ODOO_QUEUE}
    assert "odoo-push" not in create_celery(base_settings, include=()).conf.beat_schedule
    on = create_celery(base_settings.replace(odoo_url="http://odoo:8069", odoo_sync_period=120), include=())
    assert on.conf.beat_schedule["odoo-push"]["schedule"] == 120.0
    assert on.conf.beat_schedule["odoo-push"]["task"] == ODOO_PUSH
