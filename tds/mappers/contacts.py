"""Contacts → ``customers`` (contact_type customer) and ``vendors`` (contact_type vendor)."""

from __future__ import annotations

from tds import registry
from tds.mapping import MapContext, Mapped, base, boolean, dec, integer, parse_zoho_time, require, text, zoho_id


def _address(value) -> dict | None:
    if not isinstance(value, dict):
        return None
    kept = {k: v for k, v in value.items() if v not in (None, "")}
    return kept or None


def _full_name(record: dict) -> str | None:
    parts = [text(record.get("first_name")), text(record.get("last_name"))]
    joined = " ".join(p for p in parts if p)
    return joined or text(record.get("contact_name"))


def _reach(record: dict) -> dict:
    return {
        "full_name": _full_name(record),
        "company_name": text(record.get("company_name"), 500),
        "email": text(record.get("email"), 255),
        "phone": text(record.get("phone"), 100),
        "mobile": text(record.get("mobile"), 100),
    }


def _terms_and_addresses(record: dict) -> dict:
    return {
        "currency_code": text(record.get("currency_code"), 10),
        "payment_terms": integer(record.get("payment_terms")),
        "payment_terms_label": text(record.get("payment_terms_label"), 100),
        "billing_address": _address(record.get("billing_address")),
        "shipping_address": _address(record.get("shipping_address")),
    }


def _persons(record: dict) -> list[dict] | None:
    persons = record.get("contact_persons")
    if not isinstance(persons, list):
        return None
    rows = []
    for person in persons:
        person_id = zoho_id(person.get("contact_person_id"))
        if not person_id:
            continue  # a person Zoho has not saved yet has no id to keep it by
        rows.append(
            {
                "zoho_contact_person_id": person_id,
                "first_name": text(person.get("first_name"), 255),
                "last_name": text(person.get("last_name"), 255),
                "email": text(person.get("email"), 255),
                "phone": text(person.get("phone"), 100),
                "mobile": text(person.get("mobile"), 100),
                "is_primary": bool(boolean(person.get("is_primary_contact"))),
            }
        )
    return rows


def map_customer(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("customers")
    require(record, *entity.required_fields)
    status = text(record.get("status")) or "active"
    mapped = base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("contact_name"), 500),
            **_reach(record),
            "customer_type": text(record.get("customer_sub_type"), 32),
            "is_active": status == "active",
            "status": status,
            **_terms_and_addresses(record),
            "outstanding_receivable": dec(record.get("outstanding_receivable_amount")),
            "unused_credits": dec(record.get("unused_credits_receivable_amount")),
            "zoho_created_time": parse_zoho_time(record.get("created_time")),
        },
    )
    persons = _persons(record)
    if persons is not None:
        mapped.children["customer_contact_persons"] = persons
    return mapped


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


def map_vendor(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("vendors")
    require(record, *entity.required_fields)
    status = text(record.get("status")) or "active"
    field_name = (ctx.settings.vendor_name_ar_field if ctx.settings else None) or DEFAULT_VENDOR_NAME_AR_FIELD
    mapped = base(
        entity,
        record,
        ctx,
        {
            "vendor_name": text(record.get("contact_name"), 500),
            "vendor_name_ar": vendor_name_ar(record, field_name),
            **_reach(record),
            "is_active": status == "active",
            "status": status,
            **_terms_and_addresses(record),
            "outstanding_payable": dec(record.get("outstanding_payable_amount")),
            "zoho_created_time": parse_zoho_time(record.get("created_time")),
        },
    )
    persons = _persons(record)
    if persons is not None:
        mapped.children["vendor_contact_persons"] = persons
    return mapped
