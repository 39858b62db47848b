"""Zoho CRM Accounts and Contacts, in the one CRM account every organization shares.

CRM records use CRM's own field names (``Account_Name``, ``Modified_Time``) and times with a
colon in the offset (``+03:00``); they are served under ``/crm/v2`` and send no webhooks.
"""

from __future__ import annotations

import random

from ..datasets import CrmData
from ..resources import Family, Resource
from ..vocabulary import AR_COMPANIES, AR_FIRST, AR_LAST, CITIES, EN_COMPANIES, FIRST, LAST, SUFFIXES

INDUSTRIES = ["Automotive", "Construction", "Retail", "Manufacturing", "Logistics", "Government"]


def seed_owners(crm: CrmData) -> None:
    crm.owners = [{"name": f"{crm.rng.choice(FIRST)} {crm.rng.choice(LAST)}", "id": crm.ids.next(),
                   "email": f"owner{i}@crm.example.com"} for i in range(5)]


def make_account(crm: CrmData, ts: int | None = None) -> dict:
    rng = crm.rng
    rid = crm.ids.next()
    name = rng.choice(AR_COMPANIES) if rng.random() < 0.4 else f"{rng.choice(EN_COMPANIES)} {rng.choice(SUFFIXES)}".strip()
    city = rng.choice(CITIES)
    owner = rng.choice(crm.owners)
    record = {"id": rid, "Account_Name": f"{name} {len(crm.rows.get('crm_accounts', {})) + 1}",
              "Account_Number": str(rng.randint(100000, 999999)), "Account_Type": rng.choice(["Customer", "Prospect", "Partner"]),
              "Industry": rng.choice(INDUSTRIES), "Phone": f"+9661{rng.randint(10000000, 99999999)}",
              "Website": "", "Billing_City": city[0], "Billing_State": city[1], "Billing_Country": "Saudi Arabia",
              "Description": None, "Owner": dict(owner),
              "Created_By": dict(owner), "Modified_By": dict(owner), "$currency_symbol": "SAR"}
    crm.place("crm_accounts", rid, record, ts)
    return record


def make_contact(crm: CrmData, accounts: list | None = None, ts: int | None = None) -> dict:
    rng = crm.rng
    rid = crm.ids.next()
    accounts = accounts if accounts is not None else list(crm.rows.get("crm_accounts", {}).values())
    arabic = rng.random() < 0.3
    first = rng.choice(AR_FIRST if arabic else FIRST)
    last = rng.choice(AR_LAST if arabic else LAST)
    account = rng.choice(accounts) if accounts and rng.random() < 0.9 else None
    owner = rng.choice(crm.owners)
    n = len(crm.rows.get("crm_contacts", {})) + 1
    record = {"id": rid, "First_Name": first, "Last_Name": last, "Full_Name": f"{first} {last}",
              "Email": f"crm.contact{n}@example.com", "Phone": f"+9661{rng.randint(10000000, 99999999)}",
              "Mobile": f"+9665{rng.randint(10000000, 99999999)}", "Title": rng.choice(["Manager", "Buyer", "CEO", None]),
              "Mailing_City": rng.choice(CITIES)[0], "Mailing_Country": "Saudi Arabia",
              "Account_Name": {"name": account["Account_Name"], "id": account["id"]} if account else None,
              "Owner": dict(owner), "Created_By": dict(owner), "Modified_By": dict(owner)}
    crm.place("crm_contacts", rid, record, ts)
    return record


def seed_accounts(crm: CrmData) -> None:
    for _ in range(crm.count("crm_accounts")):
        make_account(crm)


def seed_contacts(crm: CrmData) -> None:
    accounts = list(crm.rows.get("crm_accounts", {}).values())
    for _ in range(crm.count("crm_contacts")):
        make_contact(crm, accounts)


def _phone_changes(crm: CrmData, record: dict, rng: random.Random) -> dict:
    return {"Phone": f"+9661{rng.randint(10000000, 99999999)}"}


FAMILY = Family(
    name="crm",
    crm=True,
    resources=(
        Resource("crm_accounts", "data", None, "id", "Account", "Accounts", ("id", "A"), name_field="Account_Name",
                 mtime_field="Modified_Time", ctime_field="Created_Time", crm=True, crm_module="Accounts",
                 create=lambda crm, fields, ts: (make_account(crm, ts=ts), [], fields),
                 random_changes=_phone_changes),
        Resource("crm_contacts", "data", None, "id", "Contact", "Contacts", ("id", "A"), name_field="Last_Name",
                 mtime_field="Modified_Time", ctime_field="Created_Time", crm=True, crm_module="Contacts",
                 create=lambda crm, fields, ts: (make_contact(crm, ts=ts), [], fields),
                 random_changes=_phone_changes),
    ),
    seed=((0, seed_owners), (10, seed_accounts), (20, seed_contacts)),
)
