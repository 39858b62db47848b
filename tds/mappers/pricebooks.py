"""Inventory price lists (``/pricebooks``) → ``price_lists`` and ``price_list_items``.

A ``fixed_percentage`` list marks every rate up or down by ``percentage`` (``is_increase``);
a ``per_item`` list names a rate (and optionally a discount) per item.
"""

from __future__ import annotations

from tds import registry
from tds.mappers.documents import amount, discount
from tds.mapping import MapContext, Mapped, MappingError, base, boolean, require, text, zoho_id


def map_pricebook(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("price_lists")
    require(record, *entity.required_fields)
    status = text(record.get("status"), 32) or "active"
    mapped = base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("name"), 255),
            "description": text(record.get("description")),
            "currency_code": text(record.get("currency_code"), 10),
            "pricebook_type": text(record.get("pricebook_type"), 32),
            "percentage": amount(record, "percentage"),
            "is_increase": boolean(record.get("is_increase")),
            "rounding_type": text(record.get("rounding_type"), 50),
            "sales_or_purchase_type": text(record.get("sales_or_purchase_type"), 32),
            "is_default": boolean(record.get("is_default")),
            "status": status,
            "is_active": status == "active",
        },
    )
    entries = record.get("pricebook_items")
    if isinstance(entries, list):
        rows = []
        for entry in entries:
            item_id = zoho_id(entry.get("item_id"))
            if not item_id:
                raise MappingError(f"price list {mapped.zoho_id}: an entry without item_id")
            disc_amount, disc_percent = discount(entry.get("pricebook_discount"), "pricebook_discount")
            rows.append(
                {
                    "zoho_item_id": item_id,
                    "zoho_pricebook_item_id": zoho_id(entry.get("pricebook_item_id")),
                    "name": text(entry.get("name"), 500),
                    "rate": amount(entry, "pricebook_rate", required=True),
                    "discount_amount": disc_amount,
                    "discount_percent": disc_percent,
                }
            )
        mapped.children["price_list_items"] = rows
    return mapped
