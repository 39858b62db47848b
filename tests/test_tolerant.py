"""What real organizations send never stops a whole entity: tolerant conversions, the
required fields of each entity, the enabled entities, and modules an organization lacks."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tds import mapping, registry
from tds.config import ConfigError, Settings
from tds.mapping import MapContext, MappingError
from tds.models import inbox_events, metadata, sync_runs, sync_state
from tds.process.processor import needs_detail
from tests.conftest import ORG, WEBHOOK_SECRET
from tests.helpers import signed_post
from webhook_receiver import create_app

UTC = dt.timezone.utc

# ----------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("value,want", [
    (12, Decimal("12")), (Decimal("85.00"), Decimal("85.00")), (12.5, Decimal("12.5")), ("85.00", Decimal("85.00")),
    (" 85.00 ", Decimal("85.00")), ("1,234.50", Decimal("1234.50")), ("-1,234,567.125", Decimal("-1234567.125")),
    ("", None), ("   ", None), (None, None),
])
def test_numbers_in_every_form_zoho_writes_them(value, want):
    assert mapping.dec(value, "total") == want


@pytest.mark.parametrize("value", ["abc", "12.5.1", "SAR 12.00", True, {"amount": 1}, [1]])
def test_an_unreadable_number_names_the_field_and_the_value(value):
    with pytest.raises(MappingError) as exc:
        mapping.dec(value, "total")
    assert str(exc.value) == f"total: {value!r} is not a number"


@pytest.mark.parametrize("value,want", [(5, Decimal("5")), ("5", Decimal("5")), ("5%", Decimal("5")),
                                        ("12.5 %", Decimal("12.5")), ("", None), (None, None)])
def test_percentages_with_or_without_the_sign(value, want):
    assert mapping.percent(value, "tax_percentage") == want


def test_an_unreadable_percentage_names_the_field_and_the_value():
    with pytest.raises(MappingError, match=r"^tax_percentage: 'five' is not a number$"):
        mapping.percent("five%", "tax_percentage")


@pytest.mark.parametrize("value,want", [
    (None, (None, None)), ("", (None, None)), (12.5, (Decimal("12.5"), None)), ("12.50", (Decimal("12.50"), None)),
    ("5%", (None, Decimal("5"))), ("1,000.00", (Decimal("1000.00"), None)),
])
def test_discount_as_an_amount_or_a_percentage(value, want):
    assert mapping.discount(value) == want


WANT_TIME = dt.datetime(2024, 2, 26, 12, 44, 57, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2024-02-26T15:44:57+0300", "2024-02-26T15:44:57+03:00", "2024-02-26T12:44:57Z",
                                   "2024-02-26T15:44:57 0300", "2024-02-26T05:44:57-0700"])
def test_times_with_every_offset_form(value):
    assert mapping.parse_zoho_time(value, "last_modified_time") == WANT_TIME


@pytest.mark.parametrize("value,what", [("yesterday", "a Zoho time"), ("2024-02-26T15:44:57", "a Zoho time with an offset"),
                                        (1708951497, "a Zoho time")])
def test_an_unreadable_time_names_the_field_and_the_value(value, what):
    with pytest.raises(MappingError) as exc:
        mapping.parse_zoho_time(value, "created_time")
    assert str(exc.value) == f"created_time: {value!r} is not {what}"


def test_dates_empty_or_readable():
    assert mapping.parse_date("", "due_date") is None and mapping.parse_date(None, "due_date") is None
    assert mapping.parse_date("2024-02-26", "due_date") == dt.date(2024, 2, 26)
    with pytest.raises(MappingError, match=r"^due_date: '26/02/2024' is not a date$"):
        mapping.parse_date("26/02/2024", "due_date")


@pytest.mark.parametrize("value,want", [(True, True), (False, False), ("true", True), ("FALSE", False), ("1", True),
                                        (0, False), ("yes", True), ("", None), (None, None)])
def test_booleans_as_json_or_strings(value, want):
    assert mapping.boolean(value, "is_primary") is want


def test_an_unreadable_boolean_names_the_field_and_the_value():
    with pytest.raises(MappingError, match=r"^is_primary: 'maybe' is not true or false$"):
        mapping.boolean("maybe", "is_primary")


def test_whole_numbers():
    assert mapping.integer("30", "payment_terms") == 30 and mapping.integer(30.0, "payment_terms") == 30
    assert mapping.integer("", "payment_terms") is None
    with pytest.raises(MappingError, match=r"^payment_terms: '30.5' is not a whole number$"):
        mapping.integer("30.5", "payment_terms")


# ----------------------------------------------------------------------------- required and optional

# Zoho's documented credit note: sub_total, total, balance and taxes[]; no tax_total
CREDIT_NOTE = {"creditnote_id": "9001", "creditnote_number": "CN-00001", "customer_id": "7001",
               "customer_name": "Acme", "date": "2024-02-26", "status": "open", "sub_total": "1,000.00",
               "total": 1150, "balance": "1150.00", "taxes": [{"tax_name": "VAT", "tax_amount": "150.00"}],
               "last_modified_time": "2024-02-26T15:44:57+0300"}


def credit_note(**changes):
    record = {k: v for k, v in {**CREDIT_NOTE, **changes}.items() if v is not ...}
    return registry.get("credit_notes").map(record, MapContext(ORG)).values


def test_credit_note_without_tax_total_keeps_the_record_and_derives_the_tax():
    values = credit_note()
    assert (values["subtotal"], values["tax_total"], values["total_amount"], values["balance"]) == (
        Decimal("1000.00"), Decimal("150.00"), Decimal("1150"), Decimal("1150.00"))


def test_tax_from_total_sub_total_and_adjustment_only_when_exact():
    assert credit_note(taxes=..., adjustment="-10")["tax_total"] == Decimal("160.00")
    assert credit_note(taxes=...)["tax_total"] is None  # no adjustment given: not exact
    assert credit_note(taxes=..., adjustment=0, discount="5%")["tax_total"] is None
    assert credit_note(taxes=..., adjustment=0, is_inclusive_tax="true")["tax_total"] is None


def test_optional_figures_missing_are_stored_as_null():
    values = credit_note(sub_total=..., taxes=..., balance=None, status="")
    assert (values["subtotal"], values["tax_total"], values["balance"], values["status"]) == (None, None, None, None)


@pytest.mark.parametrize("field", ["creditnote_id", "creditnote_number", "customer_id", "date", "total"])
def test_a_record_is_refused_only_for_what_identifies_it(field):
    with pytest.raises(MappingError, match=f"missing required field\\(s\\): {field}$"):
        credit_note(**{field: ""})


def test_an_unreadable_figure_names_the_field_and_the_value():
    with pytest.raises(MappingError, match=r"^balance: 'n/a' is not a number$"):
        credit_note(balance="n/a")


def test_every_entity_requires_only_its_identity():
    required = {e.name: e.required_fields for e in registry.ENTITIES}
    assert required["credit_notes"] == ("creditnote_id", "creditnote_number", "customer_id", "date", "total")
    assert required["payments"] == ("payment_id", "payment_number", "customer_id", "date", "amount")
    for entity in registry.ENTITIES:
        assert not set(entity.required_fields) & {"tax_total", "sub_total", "balance", "status",
                                                  "last_modified_time", "Modified_Time"}, entity.name


def test_webhook_body_is_fetched_for_a_missing_identity_or_time_never_for_an_optional_figure():
    entity = registry.get("credit_notes")
    body = {**CREDIT_NOTE, "line_items": []}
    assert not needs_detail(entity, body, "auto")
    assert not needs_detail(entity, {k: v for k, v in body.items() if k not in ("balance", "sub_total")}, "auto")
    assert needs_detail(entity, {**body, "customer_id": ""}, "auto")
    assert needs_detail(entity, {k: v for k, v in body.items() if k != "last_modified_time"}, "auto")


# ----------------------------------------------------------------------------- enabled entities


def settings_with(**env) -> Settings:
    return Settings.from_env({"ZOHO_ORGANIZATION_ID": ORG, **env}, env_file=None)


def names(settings):
    return [e.name for e in registry.enabled(settings)]


def test_every_entity_but_crm_by_default():
    assert names(settings_with()) == [e.name for e in registry.ENTITIES if e.api != "crm"]


def test_crm_on_when_asked_or_when_the_token_has_a_crm_scope():
    assert "crm_accounts" in names(settings_with(TDS_CRM="on"))
    assert "crm_contacts" in names(settings_with(ZOHO_SCOPES="ZohoBooks.fullaccess.all, ZohoCRM.modules.ALL"))
    assert "crm_accounts" not in names(settings_with(ZOHO_SCOPES="ZohoCRM.modules.ALL", TDS_CRM="off"))


def test_tds_entities_picks_by_name_or_slug():
    assert names(settings_with(TDS_ENTITIES="invoices, products,credit-notes")) == ["items", "invoices",
                                                                                    "credit_notes"]


def test_tds_entities_with_an_unknown_name_or_crm_while_crm_is_off_is_a_configuration_error():
    with pytest.raises(ConfigError, match="^TDS_ENTITIES: unknown entity 'invoicez'"):
        registry.enabled(settings_with(TDS_ENTITIES="invoices,invoicez"))
    with pytest.raises(ConfigError, match="TDS_ENTITIES names crm_accounts but CRM is off"):
        registry.enabled(settings_with(TDS_ENTITIES="crm_accounts"))
    assert names(settings_with(TDS_ENTITIES="crm_accounts", TDS_CRM="on")) == ["crm_accounts"]
    with pytest.raises(ConfigError, match="TDS_CRM must be one of on, off, auto"):
        settings_with(TDS_CRM="maybe")


def test_webhook_for_a_switched_off_entity_is_404_and_nothing_is_stored(engine, settings):
    sent = []
    app = create_app(settings.replace(entities=("items", "customers")), enqueue=lambda *a: sent.append(a))
    client = app.test_client()
    resp = signed_post(client, "invoices", {"invoice": {"invoice_id": "1", "invoice_number": "INV-1"}})
    assert resp.status_code == 404
    assert resp.get_json()["error"] == ("invoices is switched off here (TDS_ENTITIES, TDS_CRM); "
                                        "the webhook was not stored")
    assert signed_post(client, "items", {"item": {"item_id": "5", "name": "Filter"}}).status_code == 202
    with engine.connect() as conn:
        assert [r.entity for r in conn.execute(sa.select(inbox_events))] == ["items"]
    assert len(sent) == 1


# ----------------------------------------------------------------------------- modules that are not there


def _sync(sim, database_url, redis_url, tmp_path, *args, **env):
    cfg = sim.simulator.config
    environ = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
               "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
               "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": cfg.organizations[0],
               "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, **env}
    return subprocess.run([sys.executable, "-m", "tds.cli", "sync", "--full", *args], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_sync_goes_on_past_modules_the_organization_lacks_and_retries_them(engine, database_url, redis_url,
                                                                           redis_client, simulator_factory, tmp_path):
    sim = simulator_factory(scale="tiny", shapes="varied")
    org = sim.simulator.config.organizations[0]
    proc = _sync(sim, database_url, redis_url, tmp_path, "--entities", "warehouses", "stock_adjustments",
                 "crm_accounts", "users")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"stock_adjustments ({org}): unavailable (code 5): Invalid URL Passed",
        f"crm_accounts ({org}): unavailable (code INVALID_URL_PATTERN): "
        "Please check if the URL trying to access is a correct one",
    ]
    with engine.connect() as conn:
        state = {r.entity: r for r in conn.execute(sa.select(sync_state))}
        runs = {r.entity: r.status for r in conn.execute(sa.select(sync_runs))}
        assert conn.execute(sa.select(sa.func.count()).select_from(metadata.tables["users"])).scalar() > 0
    assert {e: s.status for e, s in state.items()} == {"warehouses": "available", "users": "available",
                                                       "stock_adjustments": "unavailable",
                                                       "crm_accounts": "unavailable"}
    assert (state["stock_adjustments"].unavailable_code, state["stock_adjustments"].unavailable_reason) == (
        "5", "Invalid URL Passed")
    assert state["stock_adjustments"].unavailable_since is not None
    assert runs == {"warehouses": "succeeded", "users": "succeeded", "stock_adjustments": "unavailable",
                    "crm_accounts": "unavailable"}

    # the organization turns the module on: the next full run syncs it
    sim.simulator.config.shapes = "canonical"
    proc = _sync(sim, database_url, redis_url, tmp_path, "--entities", "stock_adjustments")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sync_state).where(sync_state.c.entity == "stock_adjustments")).one()
        stored = conn.execute(sa.select(sa.func.count()).select_from(metadata.tables["stock_adjustments"])).scalar()
    assert (row.status, row.unavailable_code, row.unavailable_reason, row.unavailable_since) == (
        "available", None, None, None)
    assert stored == len(sim.simulator.store.records(org, "inventoryadjustments")) > 0


def test_a_real_failure_still_fails_the_sync(engine, database_url, redis_url, redis_client, simulator_factory,
                                            tmp_path):
    sim = simulator_factory(scale="tiny")
    proc = _sync(sim, database_url, redis_url, tmp_path, "--entities", "users", ZOHO_REFRESH_TOKEN="1000.wrong")
    assert proc.returncode == 7  # Zoho refused the credentials (docs/operations.md, exit codes)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sync_state.c.status)).first() is None


def test_the_celery_sync_of_a_module_the_organization_lacks_is_unavailable_not_dead(worker, engine, database_url,
                                                                                    redis_url, simulator_factory):
    from tasks import send_sync
    from tds.models import dead_letters
    from tests.helpers import wait_for
    from tests.simulated import settings_for, use

    sim = simulator_factory(scale="tiny", shapes="varied")
    org = sim.simulator.config.organizations[0]
    use(settings_for(sim, database_url, redis_url, org))
    send_sync("stock_adjustments", org)

    def finished():
        with engine.connect() as conn:
            return conn.execute(sa.select(sync_runs.c.status).where(sync_runs.c.status != "running")).scalar()

    assert wait_for(finished, timeout=60, what="the sync run") == "unavailable"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sync_state.c.status)).scalar_one() == "unavailable"
        assert conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar() == 0


# ----------------------------------------------------------------------------- simulator shapes


def _served(shape: str, seed: int = 42):
    from tds.simulator import shapes
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.families import RESOURCES
    from tds.simulator.state import Simulator

    sim = Simulator(SimulatorConfig(scale="tiny", seed=seed, shapes=shape))
    org = sim.config.organizations[0]
    return {name: [shapes.present(sim.config, RESOURCES[name], r) for r in sim.store.records(org, name)]
            for name in ("creditnotes", "bills", "items", "warehouses")}


def test_varied_shapes_are_deterministic_per_seed_and_mix_every_form():
    from tds.simulator.formats import dumps

    served = _served("varied")
    assert dumps(served) == dumps(_served("varied")) and dumps(served) != dumps(_served("varied", seed=7))
    values = [v for records in served.values() for r in records for v in
              [*r.values(), *(x for li in r.get("line_items", []) for x in li.values())]]
    assert any(isinstance(v, str) and "," in v and v.replace(",", "").replace(".", "").isdigit() for v in values)
    assert any(isinstance(v, str) and v.endswith("%") for v in values)
    times = [v for v in values if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]{8}.*", v)]
    assert {re.sub(r".*T[\d:]{8}", "", v) for v in times} == {"+0300", "+03:00", "Z"}
    assert "true" in values or "false" in values
    assert None in values
    assert any(k.endswith("_formatted") for records in served.values() for r in records for k in r)


def test_varied_shapes_write_a_credit_note_allocation_amount_either_way():
    allocations = [a for r in _served("varied")["creditnotes"] for a in r.get("invoices") or []]
    assert {"amount_applied" in a for a in allocations} == {True, False}  # Zoho documents "amount" too
    assert all(("amount" in a) != ("amount_applied" in a) for a in allocations)


def test_sparse_shapes_leave_out_the_optional_figures():
    served = _served("sparse")
    assert all("tax_total" not in r and "taxes" in r for r in served["creditnotes"])
    assert all("tax_total" not in r and "taxes" not in r and "sub_total" not in r for r in served["bills"])
    assert all("rate" not in r and "stock_on_hand" not in r for r in served["items"])


def test_canonical_shapes_are_the_stored_records():
    from tds.simulator import shapes
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.families import RESOURCES

    record = {"invoice_id": "1", "total": Decimal("1.00")}
    assert shapes.present(SimulatorConfig(), RESOURCES["invoices"], record) is record
    with pytest.raises(ValueError, match="shapes is 'canonical', 'sparse', 'varied' or 'minimal'"):
        SimulatorConfig(shapes="odd")
