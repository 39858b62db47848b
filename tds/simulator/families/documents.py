"""Documents: invoices, sales orders and bills, and the line and total rules every document follows.

``item_total = rate × quantity − discount``; ``sub_total`` is the sum of the item totals; tax is
per line; ``total = sub_total + tax_total − discount``. An invoice's balance and status follow
its total, payments and credits (:func:`settle_invoice`); a bill's follow its payments. Credit
notes are documents too and use these rules from :mod:`.payments`.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from ..datasets import OrgData
from ..formats import ZERO2, deep_copy, money
from ..resources import Family, Resource

FREE_LINES = ["Freight charges", "Packing", "Special order handling", "رسوم شحن", "تغليف"]

_INVOICE_LIST = (
    "invoice_id", "customer_id", "customer_name", "status", "invoice_number", "reference_number", "date",
    "due_date", "due_days", "currency_id", "currency_code", "total", "balance", "created_time",
    "last_modified_time", "is_emailed", "last_payment_date", "custom_fields", "location_id", "exchange_rate",
    "salesperson_name", "has_attachment",
)
_SALESORDER_LIST = (
    "salesorder_id", "customer_id", "customer_name", "status", "salesorder_number", "reference_number", "date",
    "shipment_date", "currency_id", "currency_code", "total", "sub_total", "bcy_total", "created_time",
    "last_modified_time", "is_emailed", "has_attachment", "custom_fields", "order_status", "invoiced_status",
    "paid_status", "shipped_status", "quantity", "location_id", "salesperson_name", "delivery_method",
)
_BILL_LIST = (
    "bill_id", "vendor_id", "vendor_name", "status", "bill_number", "reference_number", "date", "due_date",
    "currency_id", "currency_code", "exchange_rate", "total", "balance", "created_time", "last_modified_time",
    "has_attachment", "location_id",
)


# --------------------------------------------------------------------------- derived figures

def normalize_lines(doc: dict, org: OrgData) -> None:
    """Give every line its id, order, defaults from its item, and ``item_total``; then the totals."""
    lines = []
    for order, raw in enumerate(doc.get("line_items") or [], start=1):
        line = dict(raw)
        item = org.rows.get("items", {}).get(str(line.get("item_id") or ""))
        if item is not None:
            for key in ("name", "description", "sku", "unit", "rate", "tax_id", "tax_name", "tax_percentage"):
                line.setdefault(key, item[key])
        else:
            line["item_id"] = str(line.get("item_id") or "")
            line.setdefault("name", "Item")
            line.setdefault("rate", ZERO2)
        if "tax_id" in line and "tax_percentage" not in line:
            tax = org.tax_by_id.get(line["tax_id"])
            line["tax_name"], line["tax_percentage"] = (tax[1], tax[2]) if tax else ("", 0)
        line.setdefault("tax_id", "")
        line.setdefault("tax_name", "")
        line.setdefault("tax_percentage", 0)
        line.setdefault("description", "")
        line["line_item_id"] = str(line.get("line_item_id") or org.ids.next())
        line["item_order"] = order
        line["rate"] = money(line["rate"])
        line["bcy_rate"] = line["rate"]
        line["quantity"] = money(line.get("quantity", 1))
        line["discount"] = money(line.get("discount", 0))
        line["item_total"] = money(line["rate"] * line["quantity"] - line["discount"])
        lines.append(line)
    doc["line_items"] = lines
    recompute_totals(doc)


def recompute_totals(doc: dict) -> None:
    """sub_total = Σ item_total; tax per line; total = sub_total + tax_total − discount."""
    sub_total = ZERO2
    taxes: dict[str, Decimal] = {}
    for line in doc.get("line_items", []):
        sub_total += line["item_total"]
        if line.get("tax_percentage"):
            amount = money(line["item_total"] * Decimal(str(line["tax_percentage"])) / 100)
            taxes[line["tax_name"]] = taxes.get(line["tax_name"], ZERO2) + amount
    tax_total = sum(taxes.values(), ZERO2)
    doc["sub_total"] = sub_total
    doc["tax_total"] = tax_total
    doc["taxes"] = [{"tax_name": name, "tax_amount": amount} for name, amount in taxes.items()]
    doc["discount"] = money(doc.get("discount", 0))
    doc["total"] = sub_total + tax_total - doc["discount"]
    if "bcy_total" in doc:
        doc["bcy_total"] = doc["total"]


def settle_invoice(inv: dict, today: date) -> None:
    """Balance and status from total, payments and credits (draft and void stay as they are)."""
    if inv["status"] == "void":
        inv["balance"] = ZERO2
        return
    inv["balance"] = inv["total"] - inv["payment_made"] - inv["credits_applied"]
    if inv["status"] == "draft":
        return
    due = date.fromisoformat(inv["due_date"])
    if inv["balance"] <= 0:
        inv["status"] = "paid"
        inv["due_days"] = ""
    elif inv["payment_made"] > 0 or inv["credits_applied"] > 0:
        inv["status"] = "partially_paid"
    else:
        inv["status"] = "overdue" if due < today else "sent"
    if inv["balance"] > 0:
        days = (due - today).days
        inv["due_days"] = f"Due in {days} day(s)" if days >= 0 else f"Overdue by {-days} day(s)"


# --------------------------------------------------------------------------- building documents

def make_lines(org: OrgData, count: int | None = None) -> list[dict]:
    """``count`` (or 1–5) lines: mostly sellable items, some free-text lines at the standard VAT."""
    rng = org.rng
    lines = []
    for _ in range(count or rng.randint(1, 5)):
        if org.sellable and rng.random() < 0.85:
            item = rng.choice(org.sellable)
            line = {"item_id": item["item_id"], "name": item["name"], "description": item["description"],
                    "sku": item["sku"], "unit": item["unit"], "rate": item["rate"],
                    "tax_id": item["tax_id"], "tax_name": item["tax_name"], "tax_percentage": item["tax_percentage"]}
        else:
            tax_id, tax_name, pct = org.taxes[1]
            line = {"item_id": "", "name": rng.choice(FREE_LINES), "description": "", "sku": "", "unit": "",
                    "rate": Decimal(rng.randint(1000, 50000)).scaleb(-2),
                    "tax_id": tax_id, "tax_name": tax_name, "tax_percentage": pct}
        line["quantity"] = money(rng.choice([1, 1, 2, 3, 5, 10, 12, 20]))
        line["discount"] = money(line["rate"] * line["quantity"] * Decimal("0.05")) if rng.random() < 0.1 else ZERO2
        lines.append(line)
    return lines


def new_document(org: OrgData, party: dict, created: int, lines: list[dict], discount_share: float = 0.15) -> dict:
    """The fields every document shares, with normalized lines and totals (and sometimes a discount)."""
    doc = {
        "date": org.day(created), "currency_id": party["currency_id"], "currency_code": party["currency_code"],
        "exchange_rate": Decimal("1.00"), "line_items": lines, "discount": ZERO2, "discount_type": "entity_level",
        "is_discount_before_tax": False, "reference_number": "", "notes": "", "terms": "",
        "custom_fields": [], "location_id": org.warehouse_list[0]["warehouse_id"] if org.warehouse_list else "",
        "has_attachment": False,
    }
    normalize_lines(doc, org)
    if org.rng.random() < discount_share:
        doc["discount"] = money(doc["sub_total"] * Decimal("0.05"))
    recompute_totals(doc)
    return doc


def customer_fields(customer: dict) -> dict:
    return {"customer_id": customer["contact_id"], "customer_name": customer["contact_name"],
            "billing_address": dict(customer["billing_address"]),
            "shipping_address": dict(customer["shipping_address"])}


def make_invoice(org: OrgData, customer: dict, created: int, modified: int, users: list | None = None,
                 lines: list | None = None) -> dict:
    rng = org.rng
    doc = new_document(org, customer, created, lines if lines is not None else make_lines(org))
    iid = org.ids.next()
    roll = rng.random()
    status = "draft" if roll < 0.07 else "void" if roll < 0.11 else "sent"
    due = datetime.fromtimestamp(created, org.tz).date() + timedelta(days=customer["payment_terms"] or 0)
    doc.update({
        "invoice_id": iid, "invoice_number": f"INV-{org.next_number('invoice'):06d}", "status": status,
        **customer_fields(customer), "due_date": due.isoformat(), "due_days": "",
        "payment_terms": customer["payment_terms"], "payment_terms_label": customer["payment_terms_label"],
        "payment_made": ZERO2, "credits_applied": ZERO2, "write_off_amount": ZERO2, "balance": doc["total"],
        "is_emailed": status != "draft" and rng.random() < 0.6, "last_payment_date": "",
        "salesperson_name": rng.choice(users)["name"] if users and rng.random() < 0.5 else "",
        "reference_number": f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.3 else "",
    })
    if status == "void":
        doc["balance"] = ZERO2
    org.put("invoices", iid, doc, created, modified)
    return doc


def make_bill(org: OrgData, vendor: dict, created: int, modified: int, lines: list | None = None) -> dict:
    rng = org.rng
    if lines is None:
        lines = make_lines(org)
        for line in lines:  # bills are priced at purchase rates
            item = org.rows["items"].get(line["item_id"])
            if item is not None:
                line["rate"] = item["purchase_rate"]
            line["discount"] = ZERO2
    doc = new_document(org, vendor, created, lines, 0.05)
    bid = org.ids.next()
    due = datetime.fromtimestamp(created, org.tz).date() + timedelta(days=vendor["payment_terms"] or 30)
    roll = rng.random()
    if roll < 0.05:
        status = "void"
    elif roll < 0.65:
        status = "paid"
    else:
        status = "overdue" if due < org.ref_date else "open"
    paid = doc["total"] if status == "paid" else ZERO2
    doc.update({"bill_id": bid, "bill_number": f"BILL-{org.next_number('bill'):05d}", "status": status,
                "vendor_id": vendor["contact_id"], "vendor_name": vendor["contact_name"],
                "due_date": due.isoformat(), "payment_terms": vendor["payment_terms"],
                "payment_terms_label": vendor["payment_terms_label"], "payment_made": paid,
                "balance": ZERO2 if status in ("void", "paid") else doc["total"],
                "reference_number": f"VINV-{rng.randint(1000, 99999)}",
                "billing_address": dict(vendor["billing_address"])})
    org.put("bills", bid, doc, created, modified)
    return doc


def make_salesorder(org: OrgData, customer: dict, created: int, modified: int, users: list | None = None,
                    lines: list | None = None) -> dict:
    rng = org.rng
    doc = new_document(org, customer, created, lines if lines is not None else make_lines(org), 0.1)
    sid = org.ids.next()
    roll = rng.random()
    if roll < 0.1:
        st = ("draft", "draft", "pending", "not_invoiced", "unpaid")
    elif roll < 0.15:
        st = ("void", "void", "pending", "not_invoiced", "unpaid")
    elif roll < 0.35:
        st = ("open", "confirmed", "pending", "not_invoiced", "unpaid")
    elif roll < 0.5:
        st = ("open", "confirmed", "partially_shipped", "partially_invoiced", "partially_paid")
    elif roll < 0.6:
        st = ("confirmed", "confirmed", "shipped", "invoiced", "unpaid")
    else:
        st = ("closed", "closed", "fulfilled", "invoiced", "paid")
    shipment = datetime.fromtimestamp(created, org.tz).date() + timedelta(days=rng.randint(1, 14))
    doc.update({
        "salesorder_id": sid, "salesorder_number": f"SO-{org.next_number('salesorder'):05d}",
        **customer_fields(customer), "status": st[0], "order_status": st[1], "shipped_status": st[2],
        "invoiced_status": st[3], "paid_status": st[4], "shipment_date": shipment.isoformat(),
        "delivery_method": rng.choice(["Courier", "Pickup", "Own fleet", ""]),
        "bcy_total": doc["total"], "quantity": sum((line["quantity"] for line in doc["line_items"]), ZERO2),
        "is_emailed": rng.random() < 0.5,
        "salesperson_name": rng.choice(users)["name"] if users and rng.random() < 0.5 else "",
        "reference_number": f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.4 else "",
    })
    org.put("salesorders", sid, doc, created, modified)
    return doc


# --------------------------------------------------------------------------- seed steps

def _users(org: OrgData) -> list[dict]:
    return list(org.rows.get("users", {}).values())


def seed_invoices(org: OrgData) -> None:
    customers = org.contacts_of_type("customer")
    users = _users(org)
    for created, modified in org.sorted_history_times(org.count("invoices") if customers else 0):
        make_invoice(org, org.rng.choice(customers), created, modified, users)


def seed_bills(org: OrgData) -> None:
    vendors = org.contacts_of_type("vendor")
    for created, modified in org.sorted_history_times(org.count("bills") if vendors else 0):
        make_bill(org, org.rng.choice(vendors), created, modified)


def seed_salesorders(org: OrgData) -> None:
    customers = org.contacts_of_type("customer")
    users = _users(org)
    for created, modified in org.sorted_history_times(org.count("salesorders") if customers else 0):
        make_salesorder(org, org.rng.choice(customers), created, modified, users)


# --------------------------------------------------------------------------- run-time changes

def party(org: OrgData, fields: dict, key: str, contact_type: str) -> dict:
    """The contact ``fields[key]`` names, or a random one of ``contact_type``."""
    candidates = org.contacts_of_type(contact_type)
    return org.rows["contacts"].get(str(fields.get(key, ""))) or org.rng.choice(candidates)


def _create_invoice(org: OrgData, fields: dict, ts: int):
    customer = party(org, fields, "customer_id", "customer")
    record = make_invoice(org, customer, ts, ts, _users(org), fields.pop("line_items", None))
    if not fields:  # with fields left, the update rule settles it after they are applied
        settle_invoice(record, org.today())
    return record, [], fields


def _create_salesorder(org: OrgData, fields: dict, ts: int):
    customer = party(org, fields, "customer_id", "customer")
    return make_salesorder(org, customer, ts, ts, _users(org), fields.pop("line_items", None)), [], fields


def _create_bill(org: OrgData, fields: dict, ts: int):
    vendor = party(org, fields, "vendor_id", "vendor")
    return make_bill(org, vendor, ts, ts, fields.pop("line_items", None)), [], fields


def document_rule(specific=None):
    """An update rule: lines and totals recomputed, payment figures as money, then ``specific``."""
    def update(org: OrgData, record: dict, changes: dict) -> None:
        if "line_items" in changes:
            normalize_lines(record, org)
        else:
            recompute_totals(record)
        for key in ("payment_made", "credits_applied"):
            if key in record:
                record[key] = money(record[key])
        if specific is not None:
            specific(org, record)
    return update


def _settle_bill(org: OrgData, record: dict) -> None:
    record["balance"] = ZERO2 if record["status"] == "void" else record["total"] - record["payment_made"]
    if record["status"] != "void" and record["status"] != "draft":
        if record["balance"] <= 0:
            record["status"] = "paid"
        elif record["status"] == "paid":
            record["status"] = "open"


def _salesorder_quantity(org: OrgData, record: dict) -> None:
    record["quantity"] = sum((line["quantity"] for line in record["line_items"]), ZERO2)


def document_changes(open_states: tuple[str, ...]):
    """A random edit: one more of a line's quantity while the document is open, else a new reference."""
    def changes(org: OrgData, record: dict, rng: random.Random) -> dict:
        if record["status"] in open_states and record["line_items"]:
            lines = deep_copy(record["line_items"])
            line = rng.choice(lines)
            line["quantity"] = line["quantity"] + 1
            return {"line_items": lines}
        return {"reference_number": f"REF-{rng.randint(10000, 99999)}"}
    return changes


FAMILY = Family(
    name="documents",
    resources=(
        Resource("invoices", "invoices", "invoice", "invoice_id", "Invoice", "Invoices", ("created_time", "D"),
                 name_field="invoice_number", list_fields=_INVOICE_LIST, always=("customer_id", "date", "total"),
                 slug="invoices",
                 create=_create_invoice, update=document_rule(lambda org, r: settle_invoice(r, org.today())),
                 random_changes=document_changes(("draft", "sent", "overdue", "partially_paid"))),
        Resource("bills", "bills", "bill", "bill_id", "Bill", "Bills", ("created_time", "D"),
                 name_field="bill_number", always=("vendor_id", "date", "total"), list_fields=_BILL_LIST, slug="bills",
                 create=_create_bill, update=document_rule(_settle_bill),
                 random_changes=document_changes(("open", "overdue"))),
        Resource("salesorders", "salesorders", "salesorder", "salesorder_id", "Sales Order", "Sales Orders",
                 ("created_time", "D"), name_field="salesorder_number", list_fields=_SALESORDER_LIST,
                 always=("customer_id", "date", "total"),
                 slug="salesorders", create=_create_salesorder, update=document_rule(_salesorder_quantity),
                 random_changes=document_changes(("draft", "open"))),
    ),
    seed=((60, seed_invoices), (66, seed_bills), (68, seed_salesorders)),
)
