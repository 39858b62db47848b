"""Every mirrored entity against the simulator: full sync of the default data set, webhooks
for creates and updates (including stock adjustments the simulator itself announces to a
running receiver), missing references, out-of-order versions and removed lines.

The full sync runs once for the module into a database of its own (the per-test ``engine``
fixture empties the shared test database), then each entity's rows are compared field by
field with the simulator's canonical records.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tds import db as tds_db
from tds import registry, schema, services
from tds.mappers.contacts import customer_contact_persons, customers, vendor_contact_persons, vendors
from tds.mappers.crm import crm_accounts, crm_contacts
from tds.mappers.documents import (
    bill_line_items,
    bills,
    credit_note_invoices,
    credit_note_line_items,
    credit_note_refunds,
    credit_notes,
    invoice_line_items,
    invoices,
    payment_invoices,
    payments,
    sales_order_line_items,
    sales_orders,
)
from tds.mappers.items import products, stock_levels, warehouses
from tds.mappers.pricebooks import price_list_items, price_lists
from tds.mappers.stock import stock_adjustment_line_items, stock_adjustments
from tds.mappers.users import users
from tds.mapping import parse_zoho_time
from tds.models import dead_letters, inbox_events, sync_state
from tds.simulator import shapes
from tds.simulator.config import SimulatorConfig
from tds.simulator.families import RESOURCES
from tds.simulator.resources import list_row
from tds.simulator.server import SimulatorServer
from tds.sync import availability
from tds.zoho import shared as zoho_shared
from tests.conftest import PG_HOST_URL, WEBHOOK_SECRET, _admin
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app

FAST_LIMIT = {"TDS_ZOHO_RATE_LIMIT": "1000000"}

# ----------------------------------------------------------------------------- expectations
# Written from Zoho's field names, independently of the mappers.


def d(value):
    """A figure as Zoho may write it: 85.00, "85.00", "1,234.50", "5%", "" or null."""
    if value is None or str(value).strip() == "":
        return None
    return Decimal(str(value).strip().rstrip("%").replace(",", ""))


def b(value):
    """A boolean as Zoho may write it: true or "true"."""
    return value if not isinstance(value, str) else {"true": True, "false": False}.get(value.lower())


def n(value):
    return None if value in (None, "") else int(value)


def tax(src):
    """The tax total: Zoho's, else Σ taxes[].tax_amount (docs/entities.md)."""
    if d(src.get("tax_total")) is not None:
        return d(src["tax_total"])
    if isinstance(src.get("taxes"), list):
        return sum((d(t["tax_amount"]) for t in src["taxes"]), Decimal("0"))
    return None


def t(value):
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def day(value):
    return None if not value else dt.date.fromisoformat(value[:10])


def zt(value):
    return parse_zoho_time(value) if value else None


def addr(value):
    kept = {k: v for k, v in (value or {}).items() if v not in (None, "")}
    return kept or None


def mirror(src: dict, id_field: str = "last_modified_time") -> dict:
    return {"zoho_last_modified_time": zt(src.get(id_field)), "zoho_metadata": src, "deleted_at": None}


def full_name(src):
    joined = " ".join(p for p in (t(src.get("first_name")), t(src.get("last_name"))) if p)
    return joined or t(src.get("contact_name"))


def contact_common(src):
    status = src.get("status") or "active"
    return {
        "full_name": full_name(src), "company_name": t(src.get("company_name")), "email": t(src.get("email")),
        "phone": t(src.get("phone")), "mobile": t(src.get("mobile")), "is_active": status == "active",
        "status": status, "currency_code": t(src.get("currency_code")), "payment_terms": n(src.get("payment_terms")),
        "payment_terms_label": t(src.get("payment_terms_label")),
        "billing_address": addr(src.get("billing_address")), "shipping_address": addr(src.get("shipping_address")),
        "zoho_created_time": zt(src.get("created_time")), **mirror(src),
    }


def expect_customer(src):
    return {"name": src["contact_name"], "customer_type": src.get("customer_sub_type"),
            "outstanding_receivable": d(src.get("outstanding_receivable_amount")),
            "unused_credits": d(src.get("unused_credits_receivable_amount")), **contact_common(src)}


def expect_vendor(src):
    arabic = next((cf.get("value") for cf in src.get("custom_fields", []) if cf.get("api_name") == "cf_vendor_name_ar"),
                  None)
    return {"vendor_name": src["contact_name"], "vendor_name_ar": t(arabic),
            "outstanding_payable": d(src.get("outstanding_payable_amount")), **contact_common(src)}


def expect_persons(src):
    return {p["contact_person_id"]: {"first_name": t(p.get("first_name")), "last_name": t(p.get("last_name")),
                                     "email": t(p.get("email")), "phone": t(p.get("phone")),
                                     "mobile": t(p.get("mobile")), "is_primary": bool(b(p.get("is_primary_contact")))}
            for p in src.get("contact_persons", [])}


def doc_money(src):
    return {"currency_code": t(src.get("currency_code")), "exchange_rate": d(src.get("exchange_rate")),
            "subtotal": d(src.get("sub_total")), "tax_total": tax(src), "discount_amount": d(src.get("discount")),
            "total_amount": d(src["total"]), "reference_number": t(src.get("reference_number")),
            "zoho_created_time": zt(src.get("created_time")), **mirror(src)}


def expect_invoice(src):
    return {"invoice_number": src["invoice_number"], "zoho_customer_id": src["customer_id"],
            "customer_name": src["customer_name"], "invoice_date": day(src["date"]), "due_date": day(src.get("due_date")),
            "status": src["status"], "amount_paid": d(src.get("payment_made")),
            "credits_applied": d(src.get("credits_applied")), "balance": d(src.get("balance")), "salesperson_name": t(src.get("salesperson_name")), **doc_money(src)}


def expect_credit_note(src):
    return {"creditnote_number": src["creditnote_number"], "zoho_customer_id": src["customer_id"],
            "customer_name": src["customer_name"], "creditnote_date": day(src["date"]), "status": src["status"],
            "balance": d(src.get("balance")), **doc_money(src)}


def expect_bill(src):
    return {"bill_number": src["bill_number"], "zoho_vendor_id": src["vendor_id"], "vendor_name": src["vendor_name"],
            "bill_date": day(src["date"]), "due_date": day(src.get("due_date")), "status": src["status"],
            "amount_paid": d(src.get("payment_made")), "balance": d(src.get("balance")), **doc_money(src)}


def expect_sales_order(src):
    return {"salesorder_number": src["salesorder_number"], "zoho_customer_id": src["customer_id"],
            "customer_name": src["customer_name"], "order_date": day(src["date"]),
            "shipment_date": day(src.get("shipment_date")), "status": src["status"],
            "order_status": t(src.get("order_status")), "shipped_status": t(src.get("shipped_status")),
            "invoiced_status": t(src.get("invoiced_status")), "paid_status": t(src.get("paid_status")),
            "delivery_method": t(src.get("delivery_method")), "salesperson_name": t(src.get("salesperson_name")),
            **doc_money(src)}


def expect_lines(src):
    return {line["line_item_id"]: {
        "zoho_item_id": t(line.get("item_id")), "line_order": n(line["item_order"]), "name": t(line.get("name")),
        "description": t(line.get("description")), "sku": t(line.get("sku")), "unit": t(line.get("unit")),
        "quantity": d(line["quantity"]), "rate": d(line.get("rate")), "discount_amount": d(line.get("discount")),
        "tax_id": t(line.get("tax_id")), "tax_name": t(line.get("tax_name")),
        "tax_percentage": d(line.get("tax_percentage")), "line_total": d(line.get("item_total")),
    } for line in src["line_items"]}


def expect_payment(src):
    return {"payment_number": src["payment_number"], "zoho_customer_id": src["customer_id"],
            "customer_name": src["customer_name"], "payment_date": day(src["date"]), "amount": d(src["amount"]),
            "unused_amount": d(src.get("unused_amount")), "bank_charges": d(src.get("bank_charges")),
            "currency_code": t(src.get("currency_code")), "payment_mode": t(src.get("payment_mode")),
            "reference_number": t(src.get("reference_number")), "notes": t(src.get("description")),
            "status": t(src.get("status")), "account_name": t(src.get("account_name")),
            "zoho_created_time": zt(src.get("created_time")), **mirror(src)}


def expect_user(src):
    return {"name": src["name"], "email": src["email"], "role": t(src.get("user_role")),
            "role_name": t(src.get("role_name")), "zoho_role_id": t(src.get("role_id")), "status": src["status"],
            "is_active": src["status"] == "active", "user_type": t(src.get("user_type")),
            # Zoho lists users without a time, and a full sync stores what the list gives
            "zoho_created_time": zt(src.get("created_time")), **mirror(list_row(RESOURCES["users"], src))}


def expect_price_list(src):
    return {"name": src["name"], "description": t(src.get("description")), "currency_code": src["currency_code"],
            "pricebook_type": src["pricebook_type"], "percentage": d(src.get("percentage")),
            "is_increase": b(src["is_increase"]), "rounding_type": t(src.get("rounding_type")),
            "sales_or_purchase_type": t(src.get("sales_or_purchase_type")), "is_default": b(src["is_default"]),
            "status": src["status"], "is_active": src["status"] == "active", **mirror(src)}


def expect_price_items(src):
    out = {}
    for e in src["pricebook_items"]:
        pct = e["pricebook_discount"]
        out[e["item_id"]] = {"zoho_pricebook_item_id": e["pricebook_item_id"], "name": e["name"],
                             "rate": d(e["pricebook_rate"]), "discount_amount": None,
                             "discount_percent": d(pct[:-1]) if pct else None}
    return out


def expect_adjustment(src):
    return {"reference_number": t(src.get("reference_number")), "adjustment_date": day(src["date"]),
            "adjustment_type": t(src.get("adjustment_type")), "reason": t(src.get("reason")),
            "description": t(src.get("description")), "status": t(src.get("status")), **mirror(src)}


def expect_adjustment_lines(src):
    return {line["line_item_id"]: {
        "zoho_item_id": line["item_id"], "zoho_warehouse_id": t(line.get("warehouse_id") or line.get("location_id")),
        "name": t(line.get("name")), "quantity_adjusted": d(line["quantity_adjusted"]),
        "value_adjusted": d(line.get("value_adjusted")),
    } for line in src["line_items"]}


def expect_warehouse(src):
    return {"name": src["warehouse_name"], "status": src["status"], "is_primary": b(src["is_primary"]),
            "is_active": src["status"] == "active", "address": t(src.get("address")), "city": t(src.get("city")),
            "country": t(src.get("country"))}


def owner(src):
    o = src.get("Owner") or {}
    return {"owner_name": o.get("name"), "zoho_owner_id": o.get("id"), "owner_email": o.get("email")}


def expect_crm_account(src):
    return {"name": src["Account_Name"], "account_number": t(src.get("Account_Number")),
            "account_type": t(src.get("Account_Type")), "industry": t(src.get("Industry")),
            "phone": t(src.get("Phone")), "website": t(src.get("Website")), "billing_city": t(src.get("Billing_City")),
            "billing_country": t(src.get("Billing_Country")), "zoho_created_time": zt(src.get("Created_Time")),
            **owner(src), **mirror(src, "Modified_Time")}


def expect_crm_contact(src):
    account = src.get("Account_Name") or {}
    return {"first_name": t(src.get("First_Name")), "last_name": src["Last_Name"], "full_name": src["Full_Name"],
            "email": t(src.get("Email")), "phone": t(src.get("Phone")), "mobile": t(src.get("Mobile")),
            "title": t(src.get("Title")), "mailing_city": t(src.get("Mailing_City")),
            "mailing_country": t(src.get("Mailing_Country")), "zoho_crm_account_id": account.get("id"),
            "account_name": account.get("name"), "zoho_created_time": zt(src.get("Created_Time")),
            **owner(src), **mirror(src, "Modified_Time")}


def differences(expected: dict, rows: dict, what: str) -> list[str]:
    """Every (record, column) where the row differs from the expectation, plus missing/extra records."""
    out = []
    missing, extra = set(expected) - set(rows), set(rows) - set(expected)
    if missing:
        out.append(f"{what}: {len(missing)} missing, e.g. {sorted(missing)[:3]}")
    if extra:
        out.append(f"{what}: {len(extra)} unexpected, e.g. {sorted(extra)[:3]}")
    for key, want in expected.items():
        row = rows.get(key)
        if row is None:
            continue
        got = row if isinstance(row, dict) else row._mapping
        for col, value in want.items():
            if got[col] != value:
                out.append(f"{what} {key}.{col}: stored {got[col]!r}, Zoho {value!r}")
    return out


def by(conn, table, key):
    return {r._mapping[key]: r for r in conn.execute(sa.select(table))}


def children_by_parent(conn, table, parent_col, key, parent_key_of):
    """{(parent Zoho id, child key): row} for a child table."""
    out = {}
    for r in conn.execute(sa.select(table)):
        out[(parent_key_of[r._mapping[parent_col]], r._mapping[key])] = r
    return out


# ----------------------------------------------------------------------------- full sync fixture

SYNC_WAVES = (
    ("warehouses", "users", "crm_accounts"),
    ("items", "customers", "vendors", "crm_contacts"),
    ("price_lists", "invoices", "bills", "sales_orders", "stock_adjustments"),
    ("payments", "credit_notes"),
)


#: (shapes, scale): Zoho's usual shapes at full size, and the sparse and varied shapes small
SHAPES = (("canonical", "full"), ("sparse", "small"), ("varied", "small"))


@pytest.fixture(scope="module", params=SHAPES, ids=[shapes for shapes, _ in SHAPES])
def synced(request, database_url, redis_url):
    """A simulator data set, fully synced into a database of its own, once per shape."""
    shapes, scale = request.param
    name = f"{database_url.rsplit('/', 1)[1]}_entities"
    url = f"{PG_HOST_URL}/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    schema.upgrade(url)
    sim = SimulatorServer(SimulatorConfig(scale=scale, shapes=shapes, full_counts=registry.simulator_counts())).start()
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, url, redis_url, org, **FAST_LIMIT))
    client = zoho_shared.zoho_client(settings)
    results = {}

    def run(entity):
        return availability.sync_entity(settings, registry.get(entity), org, client)

    try:
        for wave in SYNC_WAVES:
            with ThreadPoolExecutor(len(wave)) as pool:
                for entity, result in zip(wave, pool.map(run, wave)):
                    results[entity] = result
        yield {"sim": sim.simulator, "org": org, "engine": tds_db.get_engine(url), "results": results,
               "shapes": shapes}
    finally:
        sim.stop()
        services.reset()
        tds_db.get_engine(url).dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def records(synced, resource, **match):
    """The records as the simulator served them (in the shapes of this run); none for a
    module the organization does not have."""
    sim, res = synced["sim"], RESOURCES[resource]
    org = None if res.crm else synced["org"]
    if shapes.missing(sim.config, org, res):
        return []
    rows = [shapes.present(sim.config, res, r) for r in sim.store.records(org, resource)]
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def require_module(synced, resource):
    if not records(synced, resource):
        pytest.skip(f"the organization has no {resource} under {synced['shapes']} shapes (see the counts test)")


@pytest.mark.slow
def test_full_sync_counts_equal_the_simulator(synced):
    sim = synced["sim"]
    counts = sim.store.counts
    if synced["shapes"] == "canonical":  # full size: the registry's data set
        assert counts == registry.simulator_counts()
    missing = {"varied": {"stock_adjustments", "crm_accounts", "crm_contacts"}}.get(synced["shapes"], set())
    with synced["engine"].connect() as conn:
        for e in registry.ENTITIES:
            entity, n = e.name, counts[e.simulated[0]]
            stored = conn.execute(sa.select(sa.func.count()).select_from(sa.table(e.table))).scalar()
            result = synced["results"].get(entity)
            if entity in missing:  # the list answered 404: unavailable, the rest went on
                assert isinstance(result, availability.Unavailable) and stored == 0, entity
                state = conn.execute(sa.select(sync_state).where(sync_state.c.entity == entity)).one()
                assert (state.status, state.unavailable_code) == ("unavailable", result.code), entity
                continue
            assert n > 0 and stored == n, entity
            if result is not None:
                assert result.records_written == n, entity
                assert result.records_failed == 0, entity
        assert conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar() == 0
        # every reference resolved: documents were synced after their parties and items
        for table, col in ((invoices, "customer_id"), (payments, "customer_id"), (credit_notes, "customer_id"),
                           (bills, "vendor_id"), (sales_orders, "customer_id")):
            assert conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c[col].is_(None))).scalar() == 0


@pytest.mark.slow
def test_full_sync_contacts_match_field_by_field(synced):
    with synced["engine"].connect() as conn:
        cust = by(conn, customers, "zoho_contact_id")
        vend = by(conn, vendors, "zoho_vendor_id")
        cust_ids = {r.id: z for z, r in cust.items()}
        vend_ids = {r.id: z for z, r in vend.items()}
        cpersons = children_by_parent(conn, customer_contact_persons, "customer_id", "zoho_contact_person_id", cust_ids)
        vpersons = children_by_parent(conn, vendor_contact_persons, "vendor_id", "zoho_contact_person_id", vend_ids)
    src_c = records(synced, "contacts", contact_type="customer")
    src_v = records(synced, "contacts", contact_type="vendor")
    problems = differences({s["contact_id"]: expect_customer(s) for s in src_c}, cust, "customer")
    problems += differences({s["contact_id"]: expect_vendor(s) for s in src_v}, vend, "vendor")
    problems += differences({(s["contact_id"], p): v for s in src_c for p, v in expect_persons(s).items()},
                            cpersons, "customer person")
    problems += differences({(s["contact_id"], p): v for s in src_v for p, v in expect_persons(s).items()},
                            vpersons, "vendor person")
    assert not problems, "\n".join(problems[:20])
    assert any(r.vendor_name_ar for r in vend.values()) and any(r.vendor_name_ar is None for r in vend.values())


DOCUMENTS = (
    # resource, table, key column, expectation, line table, line parent column
    ("invoices", invoices, "zoho_invoice_id", expect_invoice, invoice_line_items, "invoice_id"),
    ("creditnotes", credit_notes, "zoho_creditnote_id", expect_credit_note, credit_note_line_items, "credit_note_id"),
    ("bills", bills, "zoho_bill_id", expect_bill, bill_line_items, "bill_id"),
    ("salesorders", sales_orders, "zoho_salesorder_id", expect_sales_order, sales_order_line_items, "sales_order_id"),
)


@pytest.mark.slow
@pytest.mark.parametrize("resource,table,key,expect,line_table,parent_col", DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_full_sync_documents_and_lines_match_field_by_field(synced, resource, table, key, expect, line_table,
                                                           parent_col):
    src = records(synced, resource)
    id_field = RESOURCES[resource].id_field
    with synced["engine"].connect() as conn:
        rows = by(conn, table, key)
        parent_ids = {r.id: z for z, r in rows.items()}
        lines = children_by_parent(conn, line_table, parent_col, "zoho_line_item_id", parent_ids)
        product_of = {r.id: r.zoho_item_id for r in conn.execute(sa.select(products.c.id, products.c.zoho_item_id))}
        party = customers if resource != "bills" else vendors
        party_key = "zoho_contact_id" if resource != "bills" else "zoho_vendor_id"
        party_of = {r.id: r._mapping[party_key] for r in conn.execute(sa.select(party))}
    problems = differences({s[id_field]: expect(s) for s in src}, rows, resource)
    problems += differences({(s[id_field], lid): v for s in src for lid, v in expect_lines(s).items()}, lines,
                            f"{resource} line")
    party_col = "vendor_id" if resource == "bills" else "customer_id"
    zoho_party_col = "zoho_vendor_id" if resource == "bills" else "zoho_customer_id"
    for zid, row in rows.items():
        if party_of.get(row._mapping[party_col]) != row._mapping[zoho_party_col]:
            problems.append(f"{resource} {zid}: foreign key to the wrong party")
    for (doc, lid), line in lines.items():
        if line.zoho_item_id and product_of.get(line.product_id) != line.zoho_item_id:
            problems.append(f"{resource} {doc} line {lid}: product foreign key not filled")
    assert not problems, "\n".join(problems[:20])
    assert sum(len(s["line_items"]) for s in src) == len(lines) > len(src)


@pytest.mark.slow
def test_full_sync_payments_and_applications_match(synced):
    src = records(synced, "customerpayments")
    with synced["engine"].connect() as conn:
        rows = by(conn, payments, "zoho_payment_id")
        apps = children_by_parent(conn, payment_invoices, "payment_id", "zoho_invoice_id",
                                  {r.id: z for z, r in rows.items()})
        invoice_of = {r.id: r.zoho_invoice_id for r in conn.execute(sa.select(invoices.c.id, invoices.c.zoho_invoice_id))}
    problems = differences({s["payment_id"]: expect_payment(s) for s in src}, rows, "payment")
    problems += differences({(s["payment_id"], a["invoice_id"]): {"invoice_number": a["invoice_number"],
                                                                  "amount_applied": d(a["amount_applied"])}
                             for s in src for a in s["invoices"]}, apps, "payment invoice")
    problems += [f"payment application {k}: invoice foreign key" for k, a in apps.items()
                 if invoice_of.get(a.invoice_id) != a.zoho_invoice_id]
    assert not problems, "\n".join(problems[:20])
    assert apps


@pytest.mark.slow
def test_full_sync_credit_note_applications_and_refunds_match(synced):
    src = records(synced, "creditnotes")
    with synced["engine"].connect() as conn:
        ids = {r.id: r.zoho_creditnote_id for r in conn.execute(sa.select(credit_notes))}
        apps = children_by_parent(conn, credit_note_invoices, "credit_note_id", "zoho_invoice_id", ids)
        refunds = children_by_parent(conn, credit_note_refunds, "credit_note_id", "zoho_refund_id", ids)
    problems = differences({(s["creditnote_id"], a["invoice_id"]): {"invoice_number": a["invoice_number"],
                                                                    # Zoho documents "amount" here too
                                                                    "amount_applied": d(a.get("amount_applied",
                                                                                              a.get("amount"))),
                                                                    "applied_date": day(a.get("date"))}
                            for s in src for a in s["invoices"]}, apps, "credit note invoice")
    problems += differences({(s["creditnote_id"], r["creditnote_refund_id"]): {
        "refund_date": day(r["date"]), "refund_mode": r["refund_mode"], "amount": d(r["amount"]),
        "description": t(r.get("description"))} for s in src for r in s["refunds"]}, refunds, "refund")
    assert not problems, "\n".join(problems[:20])
    assert apps and refunds and all(a.invoice_id is not None for a in apps.values())


@pytest.mark.slow
def test_full_sync_users_price_lists_warehouses_and_stock_match(synced):
    org = synced["org"]
    with synced["engine"].connect() as conn:
        user_rows = by(conn, users, "zoho_user_id")
        lists = by(conn, price_lists, "zoho_pricebook_id")
        entries = children_by_parent(conn, price_list_items, "price_list_id", "zoho_item_id",
                                     {r.id: z for z, r in lists.items()})
        wh = by(conn, warehouses, "zoho_warehouse_id")
        prod_ids = {r.id: r.zoho_item_id for r in conn.execute(sa.select(products.c.id, products.c.zoho_item_id))}
        levels = children_by_parent(conn, stock_levels, "product_id", "zoho_warehouse_id", prod_ids)
    problems = differences({s["user_id"]: expect_user(s) for s in records(synced, "users")}, user_rows, "user")
    books = records(synced, "pricebooks")
    problems += differences({s["pricebook_id"]: expect_price_list(s) for s in books}, lists, "price list")
    problems += differences({(s["pricebook_id"], item): v for s in books for item, v in expect_price_items(s).items()},
                            entries, "price list item")
    problems += differences({s["warehouse_id"]: expect_warehouse(s) for s in records(synced, "warehouses")}, wh,
                            "warehouse")
    shape = synced["sim"].store.org(org).shape
    prefix = "warehouse_" if shape == "warehouses" else "location_"
    want_levels = {}
    for item in records(synced, "items"):
        for lv in item.get(shape) or []:
            want_levels[(item["item_id"], lv[prefix[:-1] + "_id"])] = {
                "stock_on_hand": d(lv[prefix + "stock_on_hand"]), "available_stock": d(lv[prefix + "available_stock"]),
                "committed_stock": d(lv[prefix + "committed_stock"]),
                "available_for_sale_stock": d(lv[prefix + "available_for_sale_stock"]),
            }
    problems += differences(want_levels, levels, "stock level")
    assert not problems, "\n".join(problems[:20])
    assert {r.pricebook_type for r in lists.values()} == {"per_item", "fixed_percentage"}
    assert all(e.product_id is not None for e in entries.values())
    assert all(lv.warehouse_id is not None for lv in levels.values())


@pytest.mark.slow
def test_full_sync_stock_adjustments_and_lines_match_field_by_field(synced):
    require_module(synced, "inventoryadjustments")
    src = records(synced, "inventoryadjustments")
    with synced["engine"].connect() as conn:
        rows = by(conn, stock_adjustments, "zoho_adjustment_id")
        lines = children_by_parent(conn, stock_adjustment_line_items, "stock_adjustment_id", "zoho_line_item_id",
                                   {r.id: z for z, r in rows.items()})
        product_of = {r.id: r.zoho_item_id for r in conn.execute(sa.select(products.c.id, products.c.zoho_item_id))}
        warehouse_ids = set(conn.execute(sa.select(warehouses.c.zoho_warehouse_id)).scalars())
    problems = differences({s["inventory_adjustment_id"]: expect_adjustment(s) for s in src}, rows,
                           "stock adjustment")
    problems += differences({(s["inventory_adjustment_id"], lid): v for s in src
                             for lid, v in expect_adjustment_lines(s).items()}, lines, "stock adjustment line")
    for (adj, lid), line in lines.items():
        if product_of.get(line.product_id) != line.zoho_item_id:
            problems.append(f"stock adjustment {adj} line {lid}: product foreign key not filled")
        if line.zoho_warehouse_id not in warehouse_ids:
            problems.append(f"stock adjustment {adj} line {lid}: unknown warehouse {line.zoho_warehouse_id}")
    assert not problems, "\n".join(problems[:20])
    assert sum(len(s["line_items"]) for s in src) == len(lines) > len(src)
    assert all(r.reason for r in rows.values()) and {r.adjustment_type for r in rows.values()} == {"quantity"}
    assert any(line.quantity_adjusted < 0 for line in lines.values())
    assert any(line.quantity_adjusted > 0 for line in lines.values())


@pytest.mark.slow
def test_full_sync_crm_accounts_and_contacts_match(synced):
    require_module(synced, "crm_accounts")
    with synced["engine"].connect() as conn:
        accounts = by(conn, crm_accounts, "zoho_crm_account_id")
        contacts = by(conn, crm_contacts, "zoho_crm_contact_id")
    account_of = {r.id: z for z, r in accounts.items()}
    problems = differences({s["id"]: expect_crm_account(s) for s in records(synced, "crm_accounts")}, accounts,
                           "crm account")
    problems += differences({s["id"]: expect_crm_contact(s) for s in records(synced, "crm_contacts")}, contacts,
                            "crm contact")
    problems += [f"crm contact {z}: account foreign key" for z, r in contacts.items()
                 if r.zoho_crm_account_id and account_of.get(r.account_id) != r.zoho_crm_account_id]
    assert not problems, "\n".join(problems[:20])


# ----------------------------------------------------------------------------- webhooks

@pytest.fixture(scope="module")
def small_sim():
    # every test starts with an empty Redis, so each one refreshes the access token once
    sim = SimulatorServer(SimulatorConfig(scale="tiny", token_refresh_limit=0,
                                          full_counts=registry.simulator_counts())).start()
    yield sim
    sim.stop()


@pytest.fixture
def live(small_sim, worker, engine, database_url, redis_url):
    """The real worker pointed at the small simulator; a receiver test client."""
    org = small_sim.simulator.config.organizations[0]
    settings = use(settings_for(small_sim, database_url, redis_url, org, **FAST_LIMIT))
    yield {"sim": small_sim.simulator, "org": org, "client": create_app(settings).test_client(), "engine": engine,
           "settings": settings}
    # let follow-up fetches finish before the next test empties the tables under them
    wait_for(lambda: all_done(engine), timeout=60, what="every inbox event finished")
    services.reset()


def one(engine, table, **where):
    with engine.connect() as conn:
        stmt = sa.select(table)
        for col, value in where.items():
            stmt = stmt.where(table.c[col] == value)
        return conn.execute(stmt).first()


def post(live, slug, key, record):
    resp = signed_post(live["client"], slug, {key: record}, org=live["org"])
    assert resp.status_code == 202, resp.get_json()
    return resp


def all_done(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                            .where(inbox_events.c.status.not_in(("done", "dead")))).scalar() == 0


WEBHOOK_CASES = (
    # slug, resource, table, zoho id column, create fields, update changes, (column, expected after update)
    ("items", "items", products, "zoho_item_id", {}, {"rate": Decimal("123.45")}, ("unit_price", Decimal("123.45"))),
    ("customers", "contacts", customers, "zoho_contact_id", {"contact_type": "customer"}, {"phone": "+966100000001"},
     ("phone", "+966100000001")),
    ("vendors", "contacts", vendors, "zoho_vendor_id", {"contact_type": "vendor"}, {"phone": "+966100000002"},
     ("phone", "+966100000002")),
    ("invoices", "invoices", invoices, "zoho_invoice_id", {}, {"reference_number": "PO-UPDATED"},
     ("reference_number", "PO-UPDATED")),
    ("payments", "customerpayments", payments, "zoho_payment_id", {}, {"reference_number": "TRX-UPDATED"},
     ("reference_number", "TRX-UPDATED")),
    ("credit-notes", "creditnotes", credit_notes, "zoho_creditnote_id", {}, {"reference_number": "CN-UPDATED"},
     ("reference_number", "CN-UPDATED")),
    ("bills", "bills", bills, "zoho_bill_id", {}, {"reference_number": "VINV-UPDATED"},
     ("reference_number", "VINV-UPDATED")),
    ("orders", "salesorders", sales_orders, "zoho_salesorder_id", {}, {"reference_number": "PO-SO-UPDATED"},
     ("reference_number", "PO-SO-UPDATED")),
    ("salesorders", "salesorders", sales_orders, "zoho_salesorder_id", {}, {"status": "void"}, ("status", "void")),
    ("users", "users", users, "zoho_user_id", {"status": "active"}, {"status": "inactive"}, ("is_active", False)),
    ("prices", "pricebooks", price_lists, "zoho_pricebook_id", {}, {"percentage": Decimal("7.50")},
     ("percentage", Decimal("7.50"))),
    ("stock", "inventoryadjustments", stock_adjustments, "zoho_adjustment_id", {},
     {"reference_number": "ADJ-UPDATED"}, ("reference_number", "ADJ-UPDATED")),
)


@pytest.mark.parametrize("slug,resource,table,idcol,fields,changes,check", WEBHOOK_CASES,
                         ids=[c[0] for c in WEBHOOK_CASES])
def test_webhook_create_then_update_lands(live, slug, resource, table, idcol, fields, changes, check):
    sim, org, res = live["sim"], live["org"], RESOURCES[resource]
    created = sim.create(org, resource, fields, send_webhook=False)
    zid = created[res.id_field]
    post(live, slug, res.detail_key, created)
    row = wait_for(lambda: one(live["engine"], table, **{idcol: zid}), timeout=20, what=f"the {slug} row")
    assert row.zoho_metadata == created
    updated = sim.update(org, resource, zid, changes, send_webhook=False)
    post(live, slug, res.detail_key, updated)
    column, value = check
    # the update's time, not the checked column, says it landed: a created record may already hold the value
    mtime = parse_zoho_time(updated[res.mtime_field])
    row = wait_for(lambda: (r := one(live["engine"], table, **{idcol: zid})) is not None
                   and r.zoho_last_modified_time == mtime and r, timeout=20, what=f"the updated {slug} row")
    assert row._mapping[column] == value


def test_invoice_before_its_customer_is_stored_then_linked(live):
    sim, org = live["sim"], live["org"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    post(live, "invoices", "invoice", invoice)
    row = wait_for(lambda: one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"]),
                   what="the invoice row")
    assert row.zoho_customer_id == invoice["customer_id"]
    customer = wait_for(lambda: one(live["engine"], customers, zoho_contact_id=invoice["customer_id"]),
                        what="the fetched customer")
    linked = wait_for(lambda: (r := one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"]))
                      .customer_id is not None and r, what="the customer foreign key")
    assert linked.customer_id == customer.id
    # line items' products were fetched and linked the same way
    with live["engine"].connect() as conn:
        wait_for(lambda: conn.execute(sa.select(sa.func.count()).select_from(invoice_line_items).where(
            invoice_line_items.c.zoho_item_id.is_not(None), invoice_line_items.c.product_id.is_(None))).scalar() == 0,
            what="line product foreign keys")


def test_list_form_webhook_is_completed_from_the_detail(live):
    sim, org = live["sim"], live["org"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    body = list_row(RESOURCES["invoices"], invoice)
    assert "line_items" not in body and "sub_total" not in body
    post(live, "invoices", "invoice", body)
    row = wait_for(lambda: one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"]), what="the invoice")
    assert row.subtotal == invoice["sub_total"] and row.tax_total == invoice["tax_total"]
    with live["engine"].connect() as conn:
        lines = conn.execute(sa.select(invoice_line_items.c.zoho_line_item_id)
                             .where(invoice_line_items.c.invoice_id == row.id)).scalars().all()
    assert sorted(lines) == sorted(line["line_item_id"] for line in invoice["line_items"])


def _line_rows(engine, zoho_invoice_id):
    with engine.connect() as conn:
        return {r.zoho_line_item_id: r for r in conn.execute(
            sa.select(invoice_line_items).join(invoices, invoices.c.id == invoice_line_items.c.invoice_id)
            .where(invoices.c.zoho_invoice_id == zoho_invoice_id))}


def test_removed_line_disappears(live):
    sim, org = live["sim"], live["org"]
    items = sim.store.records(org, "items")[:3]
    invoice = sim.create(org, "invoices", {"line_items": [{"item_id": i["item_id"], "quantity": 2} for i in items]},
                         send_webhook=False)
    post(live, "invoices", "invoice", invoice)
    wait_for(lambda: len(_line_rows(live["engine"], invoice["invoice_id"])) == 3, what="three lines")
    kept = invoice["line_items"][:2]
    updated = sim.update(org, "invoices", invoice["invoice_id"], {"line_items": kept}, send_webhook=False)
    post(live, "invoices", "invoice", updated)
    lines = wait_for(lambda: (rows := _line_rows(live["engine"], invoice["invoice_id"])) and len(rows) == 2 and rows,
                     what="the removed line gone")
    assert set(lines) == {line["line_item_id"] for line in kept}
    row = one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"])
    assert row.total_amount == updated["total"] and row.subtotal == updated["sub_total"]


def test_200_shuffled_versions_of_one_invoice_newest_wins_lines_included(live):
    sim, org = live["sim"], live["org"]
    pool = [i for i in sim.store.records(org, "items") if i["status"] == "active"]
    rng = random.Random(7)
    invoice = sim.create(org, "invoices", {"line_items": [{"item_id": pool[0]["item_id"], "quantity": 1}]},
                         send_webhook=False)
    versions = [invoice]
    for n in range(199):
        lines = [dict(line) for line in versions[-1]["line_items"]]
        roll = rng.random()
        if roll < 0.3 or len(lines) == 1:
            lines.append({"item_id": rng.choice(pool)["item_id"], "quantity": rng.randint(1, 9)})
        elif roll < 0.5:
            lines.pop(rng.randrange(len(lines)))
        else:
            rng.choice(lines)["quantity"] = Decimal(rng.randint(1, 50))
        versions.append(sim.update(org, "invoices", invoice["invoice_id"], {"line_items": lines},
                                   send_webhook=False))
    newest = versions[-1]
    shuffled = versions[:]
    rng.shuffle(shuffled)
    for version in shuffled:
        post(live, "invoices", "invoice", version)
    wait_for(lambda: all_done(live["engine"]), timeout=60, what="all 200 versions processed")
    row = one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"])
    assert row.zoho_last_modified_time == parse_zoho_time(newest["last_modified_time"])
    assert row.total_amount == newest["total"] and row.subtotal == newest["sub_total"]
    assert row.zoho_metadata == newest
    lines = _line_rows(live["engine"], invoice["invoice_id"])
    want = expect_lines(newest)
    assert set(lines) == set(want)
    assert not differences(want, lines, "line")


def test_contact_that_changes_type_moves_between_tables(live):
    sim, org = live["sim"], live["org"]
    contact = sim.create(org, "contacts", {"contact_type": "customer"}, send_webhook=False)
    cid = contact["contact_id"]
    post(live, "customers", "contact", contact)
    wait_for(lambda: one(live["engine"], customers, zoho_contact_id=cid), what="the customer")

    as_vendor = sim.update(org, "contacts", cid, {"contact_type": "vendor"}, send_webhook=False)
    post(live, "customers", "contact", as_vendor)  # either path: the record's contact_type decides
    vendor = wait_for(lambda: one(live["engine"], vendors, zoho_vendor_id=cid), what="the vendor row")
    assert vendor.deleted_at is None
    assert one(live["engine"], customers, zoho_contact_id=cid).deleted_at is not None

    post(live, "customers", "contact", contact)  # the older customer version, late: changes nothing
    back = sim.update(org, "contacts", cid, {"contact_type": "customer"}, send_webhook=False)
    post(live, "vendors", "contact", back)
    wait_for(lambda: one(live["engine"], customers, zoho_contact_id=cid).deleted_at is None, what="customer again")
    wait_for(lambda: all_done(live["engine"]), what="all events processed")
    assert one(live["engine"], vendors, zoho_vendor_id=cid).deleted_at is not None
    assert one(live["engine"], customers, zoho_contact_id=cid).zoho_last_modified_time == \
        parse_zoho_time(back["last_modified_time"])


def test_item_that_becomes_inactive_and_invoice_that_becomes_void_follow(live):
    sim, org = live["sim"], live["org"]
    item = sim.create(org, "items", {}, send_webhook=False)
    post(live, "items", "item", item)
    wait_for(lambda: one(live["engine"], products, zoho_item_id=item["item_id"]), what="the item")
    post(live, "items", "item", sim.update(org, "items", item["item_id"], {"status": "inactive"}, send_webhook=False))
    wait_for(lambda: one(live["engine"], products, zoho_item_id=item["item_id"]).is_active is False,
             what="the item inactive")
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    post(live, "invoices", "invoice", invoice)
    wait_for(lambda: one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"]), what="the invoice")
    void = sim.update(org, "invoices", invoice["invoice_id"], {"status": "void"}, send_webhook=False)
    post(live, "invoices", "invoice", void)
    row = wait_for(lambda: (r := one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"])).status == "void"
                   and r, what="the invoice void")
    assert row.balance == Decimal("0")


def test_stock_adjustment_refetches_its_items(live):
    sim, org = live["sim"], live["org"]
    shape = sim.store.org(org).shape
    item = next(i for i in sim.store.records(org, "items") if i.get(shape))
    post(live, "items", "item", item)
    wait_for(lambda: one(live["engine"], products, zoho_item_id=item["item_id"]), what="the item")
    prefix = "warehouse_" if shape == "warehouses" else "location_"
    warehouse_key = prefix + "id"
    rows = [dict(r) for r in item[shape]]
    rows[0][prefix + "stock_on_hand"] += 7
    changed = sim.update(org, "items", item["item_id"], {shape: rows}, send_webhook=False)
    adjustment = {
        "inventory_adjustment_id": "990000000000001", "date": "2025-07-01", "reason": "Stocktaking",
        "adjustment_type": "quantity", "reference_number": "ADJ-1", "status": "adjusted",
        "last_modified_time": changed["last_modified_time"],
        "line_items": [{"line_item_id": "990000000000002", "item_id": item["item_id"], "name": item["name"],
                        "quantity_adjusted": Decimal("7.000000"), warehouse_key: rows[0][warehouse_key]}],
    }
    post(live, "stock", "inventory_adjustment", adjustment)
    row = wait_for(lambda: (r := one(live["engine"], products, zoho_item_id=item["item_id"])).stock_quantity
                   == changed["stock_on_hand"] and r, what="the item re-fetched with the new stock")
    assert row.zoho_last_modified_time == parse_zoho_time(changed["last_modified_time"])
    adj = one(live["engine"], stock_adjustments, zoho_adjustment_id="990000000000001")
    line = one(live["engine"], stock_adjustment_line_items, stock_adjustment_id=adj.id)
    assert line.quantity_adjusted == Decimal("7") and line.product_id == row.id
    with live["engine"].connect() as conn:
        level = conn.execute(sa.select(stock_levels).where(stock_levels.c.product_id == row.id,
                                                           stock_levels.c.zoho_warehouse_id == line.zoho_warehouse_id)).one()
    assert level.stock_on_hand == rows[0][prefix + "stock_on_hand"]


@pytest.fixture
def receiving(live):
    """The receiver served over HTTP, and the simulator sending its own webhooks to it."""
    server = make_server("127.0.0.1", 0, create_app(live["settings"]), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sim = live["sim"]
    sim.configure(webhook_url=f"http://127.0.0.1:{server.server_port}/api/zoho/webhooks",
                  webhook_secret=WEBHOOK_SECRET, webhook_payload="detail", webhooks_enabled=True)
    try:
        yield live
    finally:
        sim.configure(webhook_url=None, webhook_secret=None)
        server.shutdown()
        server.server_close()


def test_simulator_adjustment_webhook_brings_the_new_stock(receiving):
    live = receiving
    sim, org, engine = live["sim"], live["org"], live["engine"]
    shape = sim.store.org(org).shape
    prefix = "warehouse_" if shape == "warehouses" else "location_"
    item = next(i for i in sim.store.records(org, "items")
                if i["item_type"] == "inventory" and i["status"] == "active" and len(i.get(shape) or []) > 1)
    post(live, "items", "item", item)
    stored = wait_for(lambda: one(engine, products, zoho_item_id=item["item_id"]), what="the item")
    assert stored.stock_quantity == item["stock_on_hand"]
    wid = item[shape][1][prefix + "id"]
    webhooks_before = len(sim.webhook_log)

    adjustment = sim.create(org, "inventoryadjustments", {
        "reason": "Stocktaking results",
        "line_items": [{"item_id": item["item_id"], prefix + "id": wid, "quantity_adjusted": 9}]})
    new = sim.store.get(org, "items", item["item_id"])
    assert new["stock_on_hand"] == item["stock_on_hand"] + 9
    sent = list(sim.webhook_log)[webhooks_before:]
    assert [(e["slug"], e["status"]) for e in sent] == [("stock", 202)]  # the adjustment only, accepted

    row = wait_for(lambda: (r := one(engine, products, zoho_item_id=item["item_id"])).stock_quantity
                   == new["stock_on_hand"] and r, timeout=30, what="the item re-fetched with the adjusted stock")
    assert row.zoho_last_modified_time == parse_zoho_time(new["last_modified_time"])
    with engine.connect() as conn:
        levels = {lv.zoho_warehouse_id: lv for lv in conn.execute(
            sa.select(stock_levels).where(stock_levels.c.product_id == row.id))}
    want = {lv[prefix + "id"]: {"stock_on_hand": d(lv[prefix + "stock_on_hand"]),
                                "available_stock": d(lv[prefix + "available_stock"]),
                                "committed_stock": d(lv[prefix + "committed_stock"]),
                                "available_for_sale_stock": d(lv[prefix + "available_for_sale_stock"])}
            for lv in new[shape]}
    assert not differences(want, levels, "stock level")
    assert levels[wid].stock_on_hand == d(item[shape][1][prefix + "stock_on_hand"]) + 9

    adj = wait_for(lambda: one(engine, stock_adjustments,
                               zoho_adjustment_id=adjustment["inventory_adjustment_id"]), what="the adjustment")
    assert not differences({adjustment["inventory_adjustment_id"]: expect_adjustment(adjustment)},
                           {adj.zoho_adjustment_id: adj}, "stock adjustment")
    with engine.connect() as conn:
        lines = {ln.zoho_line_item_id: ln for ln in conn.execute(
            sa.select(stock_adjustment_line_items).where(stock_adjustment_line_items.c.stock_adjustment_id == adj.id))}
    assert not differences(expect_adjustment_lines(adjustment), lines, "stock adjustment line")
    assert all(ln.product_id == row.id for ln in lines.values())


def test_document_with_a_non_numeric_total_goes_to_the_dead_letter(live):
    sim, org = live["sim"], live["org"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    invoice["total"] = "about a hundred"
    post(live, "invoices", "invoice", invoice)
    with live["engine"].connect() as conn:
        letter = wait_for(lambda: conn.execute(sa.select(dead_letters)).first(), what="the dead letter")
    assert "total" in letter.error
    assert one(live["engine"], invoices, zoho_invoice_id=invoice["invoice_id"]) is None


def test_vendor_arabic_name_field_is_configurable():
    from tds.mappers.contacts import vendor_name_ar

    record = {"custom_fields": [{"label": "Arabic Name", "api_name": "cf_arabic", "value": "مؤسسة الهدى"}]}
    assert vendor_name_ar(record, "Arabic Name") == "مؤسسة الهدى"
    assert vendor_name_ar(record, "cf_arabic") == "مؤسسة الهدى"
    assert vendor_name_ar(record, "cf_vendor_name_ar") is None
    assert vendor_name_ar({"cf_vendor_name_ar": "شركة"}, "cf_vendor_name_ar") == "شركة"


def test_foreign_keys_follow_a_changed_customer_and_item(live):
    """A document moved to another customer, and a line changed to another item, point at
    the new rows, never at the old ones."""
    sim, org, engine = live["sim"], live["org"], live["engine"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    post(live, "invoices", "invoice", invoice)
    first = wait_for(lambda: (r := one(engine, invoices, zoho_invoice_id=invoice["invoice_id"]))
                     and r.customer_id is not None and r, what="the invoice linked to its customer")
    other_customer = next(c for c in sim.store.records(org, "contacts")
                          if c["contact_type"] == "customer" and c["contact_id"] != invoice["customer_id"])
    item_line = next(line for line in invoice["line_items"] if line.get("item_id"))
    other_item = next(i for i in sim.store.records(org, "items") if i["item_id"] != item_line["item_id"])
    lines = [{**line, "item_id": other_item["item_id"]} if line["line_item_id"] == item_line["line_item_id"]
             else line for line in invoice["line_items"]]
    moved = sim.update(org, "invoices", invoice["invoice_id"],
                       {"customer_id": other_customer["contact_id"], "line_items": lines}, send_webhook=False)
    post(live, "invoices", "invoice", moved)

    def relinked():
        row = one(engine, invoices, zoho_invoice_id=invoice["invoice_id"])
        line = _line_rows(engine, invoice["invoice_id"])[item_line["line_item_id"]]
        return row.zoho_customer_id == other_customer["contact_id"] and row.customer_id is not None \
            and line.product_id is not None and (row, line)

    row, line = wait_for(relinked, what="the invoice and line linked to the new customer and item")
    assert row.customer_id != first.customer_id
    assert row.customer_id == one(engine, customers, zoho_contact_id=other_customer["contact_id"]).id
    assert line.zoho_item_id == other_item["item_id"]
    assert line.product_id == one(engine, products, zoho_item_id=other_item["item_id"]).id


def test_record_deleted_in_zoho_is_soft_deleted(live):
    sim, org, engine = live["sim"], live["org"], live["engine"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    post(live, "invoices", "invoice", invoice)
    wait_for(lambda: one(engine, invoices, zoho_invoice_id=invoice["invoice_id"]), what="the invoice")
    sim.delete(org, "invoices", invoice["invoice_id"])
    # a later webhook in list form makes TDS fetch the record, and Zoho answers 404
    stale = {**list_row(RESOURCES["invoices"], invoice), "last_modified_time": invoice["last_modified_time"]}
    stale["status"] = "void"
    post(live, "invoices", "invoice", stale)
    row = wait_for(lambda: (r := one(engine, invoices, zoho_invoice_id=invoice["invoice_id"]))
                   and r.deleted_at is not None and r, what="the soft delete")
    assert row.status == invoice["status"]  # the row is kept as it was, only marked deleted
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar() == 0


def test_reference_zoho_does_not_know_is_dead_lettered_with_the_reason(live):
    sim, org, engine = live["sim"], live["org"], live["engine"]
    invoice = sim.create(org, "invoices", {}, send_webhook=False)
    orphan = {**invoice, "customer_id": "9999999999999999999"}
    post(live, "invoices", "invoice", orphan)
    row = wait_for(lambda: one(engine, invoices, zoho_invoice_id=invoice["invoice_id"]), what="the invoice")
    assert row.zoho_customer_id == "9999999999999999999" and row.customer_id is None
    with engine.connect() as conn:
        letter = wait_for(lambda: conn.execute(sa.select(dead_letters)
                                               .where(dead_letters.c.entity == "customers")).first(),
                          what="the dead letter for the unknown customer")
    assert letter.zoho_id == "9999999999999999999"
    assert "does not exist in Zoho" in letter.error
