"""Contacts → ``customers`` (contact_type customer) and ``vendors`` (contact_type vendor).

Customers and vendors are one Zoho list told apart by ``contact_type``; their tables share
the name, reach, terms and addresses of a contact, and each has its contact persons.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import JSONType, Money, UTCDateTime
from tds.mapping import (
    ChildRow,
    Fields,
    MapContext,
    child_rows,
    dec,
    integer,
    parse_zoho_time,
    text,
    texts,
)
from tds.models import child_table, mirrored_table, strings


def _contact_table(name: str, zoho_id_column: str, *columns) -> sa.Table:
    """A contact's table: its own columns, then what every contact has."""
    return mirrored_table(
        name,
        zoho_id_column,
        *columns,
        *strings(full_name=500, company_name=500),
        sa.Column("email", sa.String(255), index=True),
        *strings(phone=100, mobile=100),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("currency_code", sa.String(10)),
        sa.Column("payment_terms", sa.Integer()),
        sa.Column("payment_terms_label", sa.String(100)),
        sa.Column("billing_address", JSONType),
        sa.Column("shipping_address", JSONType),
        sa.Column("zoho_created_time", UTCDateTime()),
    )


def _persons_table(name: str, parent_column: str, parent_table: str) -> sa.Table:
    return child_table(
        name, parent_column, parent_table, "zoho_contact_person_id",
        *strings(first_name=255, last_name=255, email=255, phone=100, mobile=100),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


customers = _contact_table(
    "customers",
    "zoho_contact_id",
    sa.Column("name", sa.String(500), nullable=False),
    *strings(customer_type=32, status=32),
    sa.Column("outstanding_receivable", Money),
    sa.Column("unused_credits", Money),
)

customer_contact_persons = _persons_table("customer_contact_persons", "customer_id", "customers")

vendors = _contact_table(
    "vendors",
    "zoho_vendor_id",
    sa.Column("vendor_name", sa.String(500), nullable=False),
    sa.Column("vendor_name_ar", sa.String(500)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("outstanding_payable", Money),
)

vendor_contact_persons = _persons_table("vendor_contact_persons", "vendor_id", "vendors")


def _address(value) -> dict | None:
    if not isinstance(value, dict):
        return None
    kept = {k: v for k, v in value.items() if v not in (None, "")}
    return kept or None


def _full_name(record: dict) -> str | None:
    parts = [text(record.get("first_name")), text(record.get("last_name"))]
    joined = " ".join(p for p in parts if p)
    return joined or text(record.get("contact_name"))


def _persons(fields: Fields, record: dict, table: sa.Table) -> list[dict] | None:
    """``contact_persons[]``; a person without ``contact_person_id`` (one Zoho has not saved
    yet) has no id to keep it by: skipped, and said in the note."""

    def person(row: ChildRow) -> dict:
        return {
            "zoho_contact_person_id": row.id,
            **row.texts(table, "first_name", "last_name", "email", "phone", "mobile"),
            "is_primary": bool(row.flag("is_primary_contact")),
        }

    return child_rows(fields, record, ("contact_persons",), ("contact_person_id",),
                      f"contact {record.get('contact_id')}", person)


def _contact(record: dict, table: sa.Table, persons_table: sa.Table, own: dict) -> Fields:
    """A contact's row in ``table`` (its ``own`` columns and what every contact has) and its persons."""
    status = text(record.get("status")) or "active"
    fields = Fields(
        {
            **own,
            "full_name": _full_name(record),
            **texts(record, table, "company_name", "email", "phone", "mobile", "currency_code",
                    "payment_terms_label"),
            "is_active": status == "active",
            "status": status,
            "payment_terms": integer(record.get("payment_terms"), "payment_terms"),
            "billing_address": _address(record.get("billing_address")),
            "shipping_address": _address(record.get("shipping_address")),
            "zoho_created_time": parse_zoho_time(record.get("created_time"), "created_time"),
        }
    )
    persons = _persons(fields, record, persons_table)
    if persons is not None:
        fields.children[persons_table.name] = persons
    return fields


def map_customer(entity, record: dict, ctx: MapContext) -> Fields:
    own = {
        **texts(record, customers, name="contact_name", customer_type="customer_sub_type"),
        "outstanding_receivable": dec(record.get("outstanding_receivable_amount"), "outstanding_receivable_amount"),
        "unused_credits": dec(record.get("unused_credits_receivable_amount"), "unused_credits_receivable_amount"),
    }
    return _contact(record, customers, customer_contact_persons, own)


DEFAULT_VENDOR_NAME_AR_FIELD = "cf_vendor_name_ar"


def vendor_name_ar(record: dict, field_name: str) -> str | None:
    """The Arabic vendor name from the custom field named ``field_name``.

    Zoho lists custom fields in ``custom_fields[]`` (matched by ``api_name`` or ``label``)
    and repeats each at the top level under its api name (``cf_vendor_name_ar``).
    """
    wanted = field_name.strip().lower()
    for custom in record.get("custom_fields") or []:
        if not isinstance(custom, dict):
            continue
        names = (str(custom.get("api_name") or "").lower(), str(custom.get("label") or "").lower())
        if wanted in names:
            return text(custom.get("value"), 500)
    if field_name in record:
        return text(record.get(field_name), 500)
    return None


def map_vendor(entity, record: dict, ctx: MapContext) -> Fields:
    field_name = (ctx.settings.vendor_name_ar_field if ctx.settings else None) or DEFAULT_VENDOR_NAME_AR_FIELD
    own = {
        **texts(record, vendors, vendor_name="contact_name"),
        "vendor_name_ar": vendor_name_ar(record, field_name),
        "outstanding_payable": dec(record.get("outstanding_payable_amount"), "outstanding_payable_amount"),
    }
    return _contact(record, vendors, vendor_contact_persons, own)
