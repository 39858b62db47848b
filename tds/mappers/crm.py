"""Zoho CRM v2 Accounts and Contacts → ``crm_accounts`` and ``crm_contacts``.

CRM records use ``id`` and ``Modified_Time`` (``2024-02-26T15:44:57+03:00``, with a colon);
lookups are objects (``{"name": …, "id": …}``). A contact keeps its account's CRM id and
is linked to the account row when it lands.
"""

from __future__ import annotations

from tds import registry
from tds.mapping import MapContext, Mapped, base, parse_zoho_time, require, text, zoho_id


def _lookup(value) -> tuple[str | None, str | None, str | None]:
    """(id, name, email) of a CRM lookup field such as ``Owner`` or ``Account_Name``."""
    if not isinstance(value, dict):
        return None, text(value), None
    return zoho_id(value.get("id")), text(value.get("name")), text(value.get("email"))


def _owner(record: dict) -> dict:
    owner_id, name, email = _lookup(record.get("Owner"))
    return {"zoho_owner_id": owner_id, "owner_name": name, "owner_email": email}


def map_account(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("crm_accounts")
    require(record, *entity.required_fields)
    return base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("Account_Name"), 500),
            "account_number": text(record.get("Account_Number"), 100),
            "account_type": text(record.get("Account_Type"), 100),
            "industry": text(record.get("Industry"), 100),
            "phone": text(record.get("Phone"), 100),
            "website": text(record.get("Website"), 255),
            "billing_city": text(record.get("Billing_City"), 100),
            "billing_country": text(record.get("Billing_Country"), 100),
            **_owner(record),
            "zoho_created_time": parse_zoho_time(record.get("Created_Time")),
        },
    )


def map_contact(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("crm_contacts")
    require(record, *entity.required_fields)
    account_id, account_name, _ = _lookup(record.get("Account_Name"))
    first, last = text(record.get("First_Name"), 255), text(record.get("Last_Name"), 255)
    full = text(record.get("Full_Name"), 500) or " ".join(p for p in (first, last) if p)
    return base(
        entity,
        record,
        ctx,
        {
            "first_name": first,
            "last_name": last,
            "full_name": full,
            "email": text(record.get("Email"), 255),
            "phone": text(record.get("Phone"), 100),
            "mobile": text(record.get("Mobile"), 100),
            "title": text(record.get("Title"), 255),
            "mailing_city": text(record.get("Mailing_City"), 100),
            "mailing_country": text(record.get("Mailing_Country"), 100),
            "zoho_crm_account_id": account_id,
            "account_name": account_name,
            **_owner(record),
            "zoho_created_time": parse_zoho_time(record.get("Created_Time")),
        },
    )
