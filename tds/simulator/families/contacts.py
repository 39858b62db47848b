"""Contacts: customers and vendors (one resource, told apart by ``contact_type``).

Vendors carry the custom field ``cf_vendor_name_ar``, most with an Arabic value; customers a
``cf_customer_tier``. Contacts' outstanding and unused-credit figures are the sums of their
generated documents. A contact's webhook goes to ``customers`` or ``vendors``.
"""

from __future__ import annotations

import random

from ..datasets import OrgData
from ..formats import ZERO2
from ..resources import Family, Resource
from ..vocabulary import AR_COMPANIES, AR_FIRST, AR_LAST, CITIES, EN_COMPANIES, FIRST, LAST, STREETS, SUFFIXES

PAYMENT_TERMS = [(0, "Due on Receipt"), (15, "Net 15"), (30, "Net 30"), (45, "Net 45"), (60, "Net 60")]


def _address(org: OrgData) -> dict:
    rng = org.rng
    city, state, zip_code = rng.choice(CITIES)
    return {"attention": "", "address": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}", "street2": "",
            "city": city, "state": state, "zip": zip_code, "country": "Saudi Arabia", "phone": org.phone(),
            "fax": ""}


def make_contact(org: OrgData, contact_type: str, ts: int | None = None) -> dict:
    rng = org.rng
    arabic = rng.random() < 0.4
    business = contact_type == "vendor" or rng.random() < 0.7
    if arabic:
        first, last = rng.choice(AR_FIRST), rng.choice(AR_LAST)
    else:
        first, last = rng.choice(FIRST), rng.choice(LAST)
    n = org.next_number("contact")
    if business:
        company = rng.choice(AR_COMPANIES) if arabic else f"{rng.choice(EN_COMPANIES)} {rng.choice(SUFFIXES)}".strip()
        company = f"{company} {n}"
        contact_name = company
    else:
        company = ""
        contact_name = f"{first} {last}"
    terms, terms_label = rng.choice(PAYMENT_TERMS)
    currency = "SAR" if rng.random() < 0.85 else rng.choice(["USD", "AED"])
    cid = org.ids.next()
    ascii_first = first if not arabic else "contact"
    email = f"{ascii_first.lower()}{n}@{'vendor' if contact_type == 'vendor' else 'client'}{n % 97}.example.com"
    persons = []
    for p in range(rng.randint(1, 3)):
        pf, pl = (first, last) if p == 0 else (rng.choice(FIRST), rng.choice(LAST))
        persons.append({
            "contact_person_id": org.ids.next(), "salutation": "", "first_name": pf, "last_name": pl,
            "email": email if p == 0 else f"{pf.lower()}.{n}.{p}@example.com", "phone": org.phone(),
            "mobile": org.mobile(), "designation": "", "department": "", "is_primary_contact": p == 0,
        })
    billing = _address(org)
    custom_fields = []
    if contact_type == "vendor":
        value = f"{rng.choice(AR_COMPANIES)} {n}" if rng.random() < 0.85 else ""
        custom_fields.append({"customfield_id": org.ids.next(), "label": "Vendor Name (Arabic)",
                              "api_name": "cf_vendor_name_ar", "data_type": "string", "index": 1,
                              "value": value})
    else:
        custom_fields.append({"customfield_id": org.ids.next(), "label": "Customer Tier",
                              "api_name": "cf_customer_tier", "data_type": "dropdown", "index": 1,
                              "value": rng.choice(["Gold", "Silver", "Bronze"])})
    record = {
        "contact_id": cid, "contact_name": contact_name, "customer_name": contact_name,
        "vendor_name": contact_name, "company_name": company, "website": "", "language_code": "ar" if arabic else "en",
        "contact_type": contact_type, "customer_sub_type": "business" if business else "individual",
        "status": "active" if rng.random() < 0.92 else "inactive", "source": "user",
        "payment_terms": terms, "payment_terms_label": terms_label,
        "currency_id": org.currencies[currency], "currency_code": currency,
        "outstanding_receivable_amount": ZERO2, "outstanding_payable_amount": ZERO2,
        "unused_credits_receivable_amount": ZERO2, "unused_credits_payable_amount": ZERO2,
        "first_name": first, "last_name": last, "email": email, "phone": org.phone(), "mobile": org.mobile(),
        "pricebook_id": "", "pricebook_name": "", "is_linked_with_zohocrm": False,
        "billing_address": billing, "shipping_address": dict(billing),
        "contact_persons": persons, "custom_fields": custom_fields,
        custom_fields[0]["api_name"]: custom_fields[0]["value"],
        "notes": "",
    }
    org.place("contacts", cid, record, ts)
    return record


def seed_contacts(org: OrgData) -> None:
    for _ in range(org.count("customers")):
        make_contact(org, "customer")
    for _ in range(org.count("vendors")):
        make_contact(org, "vendor")


def seed_balances(org: OrgData) -> None:
    """Outstanding receivables, unused credits and payables: the sums of the generated documents."""
    contacts = org.rows["contacts"]
    for inv in org.rows.get("invoices", {}).values():
        if inv["status"] in ("sent", "overdue", "partially_paid"):
            contacts[inv["customer_id"]]["outstanding_receivable_amount"] += inv["balance"]
    for cn in org.rows.get("creditnotes", {}).values():
        if cn["status"] == "open":
            contacts[cn["customer_id"]]["unused_credits_receivable_amount"] += cn["balance"]
    for bill in org.rows.get("bills", {}).values():
        if bill["status"] in ("open", "overdue", "partially_paid"):
            contacts[bill["vendor_id"]]["outstanding_payable_amount"] += bill["balance"]


def _create_contact(org: OrgData, fields: dict, ts: int):
    return make_contact(org, fields.get("contact_type", "customer"), ts=ts), [], fields


def _contact_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    return {"phone": f"+9661{rng.randint(10000000, 99999999)}", "payment_terms": record["payment_terms"]}


FAMILY = Family(
    name="contacts",
    resources=(
        Resource("contacts", "contacts", "contact", "contact_id", "Contact", "Contacts", ("contact_name", "A"),
                 always=("contact_type",),
                 name_field="contact_name", list_omit=("contact_persons", "billing_address", "shipping_address",
                                                       "default_templates", "notes"),
                 slug_for=lambda r: "vendors" if r.get("contact_type") == "vendor" else "customers",
                 list_paths=(("contacts", {}), ("vendors", {"contact_type": "vendor"})),
                 create=_create_contact, random_changes=_contact_changes),
    ),
    seed=((40, seed_contacts), (80, seed_balances)),
)
