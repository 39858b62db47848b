"""Customer payments and credit notes: what settles invoices.

Each payment's ``invoices[].amount_applied`` adds up to the invoice's ``payment_made``, and
credit notes' applications add up to ``credits_applied``; both belong to the invoice's
customer. Recording a payment at run time updates (and announces) the invoices it pays.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from ..datasets import HISTORY_DAYS, OrgData
from ..errors import NotFound
from ..formats import ZERO2, money
from ..resources import Family, Resource, lower_or_all
from .documents import (
    customer_fields,
    document_changes,
    document_rule,
    make_lines,
    new_document,
    party,
    settle_invoice,
)

PAYMENT_MODES = ["cash", "banktransfer", "check", "creditcard", "bankremittance"]

_CREDITNOTE_LIST = (
    "creditnote_id", "creditnote_number", "status", "reference_number", "date", "total", "balance",
    "customer_id", "customer_name", "currency_id", "currency_code", "created_time", "last_modified_time",
    "is_emailed", "location_id",
)
_PAYMENT_LIST = (
    "payment_id", "payment_number", "invoice_numbers", "date", "payment_mode", "amount", "bcy_amount",
    "unused_amount", "account_id", "account_name", "description", "reference_number", "customer_id",
    "customer_name", "created_time", "last_modified_time", "location_id",
)


def _open_by_customer(org: OrgData) -> dict[str, list[dict]]:
    """Invoices that credits and payments may settle (neither draft nor void), by customer."""
    by_customer: dict[str, list[dict]] = {}
    for inv in org.rows.get("invoices", {}).values():
        if inv["status"] not in ("draft", "void"):
            by_customer.setdefault(inv["customer_id"], []).append(inv)
    return by_customer


# --------------------------------------------------------------------------- credit notes

def make_creditnote(org: OrgData, customer: dict, created: int, modified: int, candidates: list[dict],
                    lines: list | None = None) -> dict:
    rng = org.rng
    doc = new_document(org, customer, created, lines if lines is not None else make_lines(org, rng.randint(1, 2)), 0)
    cid = org.ids.next()
    doc.update({"creditnote_id": cid, "creditnote_number": f"CN-{org.next_number('creditnote'):05d}",
                "status": "open", **customer_fields(customer), "invoices": [], "refunds": [],
                "is_emailed": rng.random() < 0.5, "balance": doc["total"]})
    if rng.random() < 0.06:
        doc["status"], doc["balance"] = "void", ZERO2
    else:
        open_ones = [i for i in candidates if i["balance"] > 0 and i["date"] <= doc["date"]]
        remaining = doc["total"]
        if open_ones and rng.random() < 0.7:
            inv = rng.choice(open_ones)
            amount = min(remaining, inv["balance"])
            doc["invoices"].append({"invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],
                                    "amount_applied": amount, "date": doc["date"]})
            inv["credits_applied"] += amount
            inv["balance"] -= amount
            remaining -= amount
            org.touch("invoices", inv["invoice_id"], created)
        if remaining > 0 and rng.random() < 0.3:
            doc["refunds"].append({"creditnote_refund_id": org.ids.next(), "date": doc["date"],
                                   "refund_mode": rng.choice(PAYMENT_MODES), "amount": remaining,
                                   "description": "Refund"})
            remaining = ZERO2
        doc["balance"] = remaining
        doc["status"] = "closed" if remaining == 0 else "open"
    org.put("creditnotes", cid, doc, created, modified)
    return doc


def seed_creditnotes(org: OrgData) -> None:
    """Credit notes, applied to the same customer's open invoices."""
    customers = org.contacts_of_type("customer")
    by_customer = _open_by_customer(org)
    for created, modified in org.sorted_history_times(org.count("creditnotes") if customers else 0):
        customer = org.rng.choice(customers)
        make_creditnote(org, customer, created, modified, by_customer.get(customer["contact_id"], []))


def _create_creditnote(org: OrgData, fields: dict, ts: int):
    customer = party(org, fields, "customer_id", "customer")
    return make_creditnote(org, customer, ts, ts, [], fields.pop("line_items", None)), [], fields


def _settle_creditnote(org: OrgData, record: dict) -> None:
    if record["status"] == "void":
        record["balance"] = ZERO2
    else:
        used = sum((a["amount_applied"] for a in record.get("invoices", [])), ZERO2)
        used += sum((money(r["amount"]) for r in record.get("refunds", [])), ZERO2)
        record["balance"] = record["total"] - used
        record["status"] = "closed" if record["balance"] <= 0 else "open"


# --------------------------------------------------------------------------- customer payments

def _draw_payment(org: OrgData, open_invoices: list[dict], customers: list[dict], by_customer: dict) -> dict:
    rng = org.rng
    pid = org.ids.next()
    applied = []
    if open_invoices:
        k = rng.randrange(len(open_invoices))
        inv = open_invoices[k]
        customer = org.rows["contacts"][inv["customer_id"]]
        targets = [inv]
        if rng.random() < 0.15:
            others = [o for o in by_customer.get(inv["customer_id"], []) if o is not inv and o["balance"] > 0]
            if others:
                targets.append(rng.choice(others))
        start = max(org.ref_ts - HISTORY_DAYS * 86400,
                    int(datetime.fromisoformat(max(t["date"] for t in targets)).replace(tzinfo=org.tz).timestamp()))
        ctime = min(org.ref_ts - 60, start + rng.randint(3600, 45 * 86400))
        for j, target in enumerate(targets):
            amount = target["balance"]
            if j == 0 and rng.random() < 0.25:
                amount = money(amount * Decimal(rng.randint(30, 90)) / 100)
            applied.append({"invoice_id": target["invoice_id"], "invoice_number": target["invoice_number"],
                            "date": target["date"], "invoice_amount": target["total"],
                            "amount_applied": amount, "balance_amount": target["balance"] - amount})
            target["payment_made"] += amount
            target["balance"] -= amount
        for target in targets:
            if target["balance"] <= 0 and target in open_invoices:
                idx = open_invoices.index(target)
                open_invoices[idx] = open_invoices[-1]
                open_invoices.pop()
    else:
        customer = rng.choice(customers)
        ctime = org.ref_ts - rng.randint(3600, 60 * 86400)
    total_applied = sum((a["amount_applied"] for a in applied), ZERO2)
    unused = ZERO2
    if not applied:
        unused = Decimal(rng.randint(10000, 500000)).scaleb(-2)
    elif rng.random() < 0.03:
        unused = Decimal(rng.randint(100, 10000)).scaleb(-2)
    account = org.accounts[rng.choice(["petty", "undeposited", "bank"])]
    return _payment(org, pid, "", org.day(ctime), rng.choice(PAYMENT_MODES), total_applied + unused, unused,
                    account, f"TRX{rng.randint(100000, 999999)}" if rng.random() < 0.6 else "", customer,
                    applied) | {"_ctime": ctime}


def _payment(org: OrgData, pid: str, number: str, day: str, mode: str, amount, unused, account: tuple,
             reference: str, customer: dict, applied: list[dict]) -> dict:
    return {
        "payment_id": pid, "payment_number": number, "date": day,
        "payment_mode": mode, "amount": amount, "bcy_amount": amount, "unused_amount": unused,
        "amount_refunded": ZERO2, "bank_charges": ZERO2, "status": "success", "account_id": account[0],
        "account_name": account[1], "description": "", "reference_number": reference,
        "customer_id": customer["contact_id"], "customer_name": customer["contact_name"],
        "email": customer["email"], "currency_id": customer["currency_id"],
        "currency_code": customer["currency_code"], "currency_symbol": customer["currency_code"],
        "exchange_rate": Decimal("1.00"), "invoices": applied,
        "invoice_numbers": ", ".join(a["invoice_number"] for a in applied),
        "location_id": org.warehouse_list[0]["warehouse_id"] if org.warehouse_list else "",
        "custom_fields": [],
    }


def seed_payments(org: OrgData) -> None:
    """Customer payments against open invoices; then every invoice's balance and status."""
    rng = org.rng
    ref = org.ref_ts
    customers = org.contacts_of_type("customer")
    invoices = list(org.rows.get("invoices", {}).values())
    by_customer = _open_by_customer(org)
    open_invoices = [inv for inv in invoices if inv["status"] not in ("draft", "void") and inv["balance"] > 0]
    payments = [_draw_payment(org, open_invoices, customers, by_customer)
                for _ in range(org.count("customerpayments") if customers else 0)]
    payments.sort(key=lambda p: p["_ctime"])
    for pay in payments:
        ctime = pay.pop("_ctime")
        mtime = min(ref, ctime + int((ref - ctime) * rng.random() ** 4))
        pay["payment_number"] = str(org.next_number("payment"))
        org.put("customerpayments", pay["payment_id"], pay, ctime, mtime)
        for app in pay["invoices"]:
            inv = org.rows["invoices"][app["invoice_id"]]
            inv["last_payment_date"] = max(inv["last_payment_date"] or "", pay["date"])
            org.touch("invoices", inv["invoice_id"], ctime)
    for inv in invoices:
        settle_invoice(inv, org.ref_date)


def _create_payment(org: OrgData, fields: dict, ts: int):
    """A payment applied to invoices; those invoices' payment_made/balance/status follow."""
    rows = org.rows
    applications = fields.get("invoices")
    if applications is None:
        open_ones = [i for i in rows.get("invoices", {}).values()
                     if i["status"] in ("sent", "overdue", "partially_paid") and i["balance"] > 0]
        if fields.get("customer_id"):
            open_ones = [i for i in open_ones if i["customer_id"] == str(fields["customer_id"])]
        applications = []
        if open_ones:
            inv = org.rng.choice(open_ones)
            applications = [{"invoice_id": inv["invoice_id"], "amount_applied": inv["balance"]}]
    applied, touched = [], []
    customer_id = str(fields.get("customer_id") or "")
    for app in applications:
        inv = rows.get("invoices", {}).get(str(app["invoice_id"]))
        if inv is None:
            raise NotFound("Invoice does not exist.")
        amount = money(app.get("amount_applied", inv["balance"]))
        customer_id = customer_id or inv["customer_id"]
        inv["payment_made"] += amount
        settle_invoice(inv, org.today())
        inv["last_payment_date"] = org.day(ts)
        org.stamp("invoices", inv["invoice_id"])
        applied.append({"invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],
                        "date": inv["date"], "invoice_amount": inv["total"], "amount_applied": amount,
                        "balance_amount": inv["balance"]})
        touched.append(("invoices", inv))
    customer = rows["contacts"].get(customer_id) or org.rng.choice(org.contacts_of_type("customer"))
    total_applied = sum((a["amount_applied"] for a in applied), ZERO2)
    amount = money(fields.get("amount", total_applied))
    record = _payment(org, org.ids.next(), str(org.next_number("payment")), org.day(ts),
                      fields.get("payment_mode", "banktransfer"), amount, max(ZERO2, amount - total_applied),
                      org.accounts["undeposited"], "", customer, applied)
    org.put("customerpayments", record["payment_id"], record, ts, ts)
    return record, touched, {k: v for k, v in fields.items() if k not in ("invoices", "amount", "customer_id")}


def _update_payment(org: OrgData, record: dict, changes: dict) -> None:
    if "amount" in changes:
        record["amount"] = record["bcy_amount"] = money(record["amount"])
        applied = sum((a["amount_applied"] for a in record.get("invoices", [])), ZERO2)
        record["unused_amount"] = max(ZERO2, record["amount"] - applied)


def _payment_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    return {"reference_number": f"TRX{rng.randint(100000, 999999)}", "description": "Updated"}


FAMILY = Family(
    name="payments",
    resources=(
        Resource("customerpayments", "customerpayments", "payment", "payment_id", "Payment", "Customer Payments",
                 ("created_time", "D"), name_field="payment_number", list_fields=_PAYMENT_LIST, slug="payments",
                 always=("customer_id", "date", "amount"),
                 filters=(("PaymentMode", lower_or_all("payment_mode")),),
                 create=_create_payment, update=_update_payment, random_changes=_payment_changes),
        Resource("creditnotes", "creditnotes", "creditnote", "creditnote_id", "Credit Note", "Credit Notes",
                 ("created_time", "D"), name_field="creditnote_number", list_fields=_CREDITNOTE_LIST,
                 always=("customer_id", "date", "total"),
                 slug="credit-notes", create=_create_creditnote, update=document_rule(_settle_creditnote),
                 random_changes=document_changes(())),
    ),
    seed=((62, seed_creditnotes), (64, seed_payments)),
)
