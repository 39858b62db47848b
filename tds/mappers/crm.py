"""Zoho CRM v2 Accounts and Contacts → ``crm_accounts`` and ``crm_contacts``.

CRM records use ``id`` and ``Modified_Time`` (``2024-02-26T15:44:57+03:00``, with a colon);
lookups are objects (``{"name": …, "id": …}``). A contact keeps its account's CRM id and
is linked to the account row when it lands.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import UTCDateTime
from tds.mapping import Fields, MapContext, parse_zoho_time, text, texts, zoho_id
from tds.models import fk, mirrored_table, strings, zoho_ref


def _owner_columns() -> list[sa.Column]:
    return [
        sa.Column("owner_name", sa.String(255)),
        sa.Column("zoho_owner_id", sa.String(32), index=True),
        sa.Column("owner_email", sa.String(255)),
        sa.Column("zoho_created_time", UTCDateTime()),
    ]


crm_accounts = mirrored_table(
    "crm_accounts",
    "zoho_crm_account_id",
    sa.Column("name", sa.String(500), nullable=False, index=True),
    sa.Column("account_number", sa.String(100), index=True),
    *strings(account_type=100, industry=100, phone=100, website=255, billing_city=100, billing_country=100),
    *_owner_columns(),
)

crm_contacts = mirrored_table(
    "crm_contacts",
    "zoho_crm_contact_id",
    sa.Column("first_name", sa.String(255)),
    sa.Column("last_name", sa.String(255), nullable=False),
    sa.Column("full_name", sa.String(500), nullable=False),
    sa.Column("email", sa.String(255), index=True),
    *strings(phone=100, mobile=100, title=255, mailing_city=100, mailing_country=100),
    fk("account_id", "crm_accounts", zoho="zoho_crm_account_id"),
    zoho_ref("zoho_crm_account_id"),
    sa.Column("account_name", sa.String(500)),
    *_owner_columns(),
)


def _lookup(value) -> tuple[str | None, str | None, str | None]:
    """(id, name, email) of a CRM lookup field such as ``Owner`` or ``Account_Name``."""
    if not isinstance(value, dict):
        return None, text(value), None
    return zoho_id(value.get("id")), text(value.get("name")), text(value.get("email"))


def _owner_and_created(record: dict) -> dict:
    owner_id, name, email = _lookup(record.get("Owner"))
    return {
        "zoho_owner_id": owner_id,
        "owner_name": name,
        "owner_email": email,
        "zoho_created_time": parse_zoho_time(record.get("Created_Time"), "Created_Time"),
    }


def map_account(entity, record: dict, ctx: MapContext) -> Fields:
    return Fields(
        {
            **texts(record, crm_accounts, name="Account_Name", account_number="Account_Number",
                    account_type="Account_Type", industry="Industry", phone="Phone", website="Website",
                    billing_city="Billing_City", billing_country="Billing_Country"),
            **_owner_and_created(record),
        }
    )


def map_contact(entity, record: dict, ctx: MapContext) -> Fields:
    account_id, account_name, _ = _lookup(record.get("Account_Name"))
    first, last = text(record.get("First_Name"), 255), text(record.get("Last_Name"), 255)
    full = text(record.get("Full_Name"), 500) or " ".join(p for p in (first, last) if p)
    return Fields(
        {
            "first_name": first,
            "last_name": last,
            "full_name": full,
            **texts(record, crm_contacts, email="Email", phone="Phone", mobile="Mobile", title="Title",
                    mailing_city="Mailing_City", mailing_country="Mailing_Country"),
            "zoho_crm_account_id": account_id,
            "account_name": account_name,
            **_owner_and_created(record),
        }
    )
