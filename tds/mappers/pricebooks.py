"""Inventory price lists (``/pricebooks``) → ``price_lists`` and ``price_list_items``.

A ``fixed_percentage`` list marks every rate up or down by ``percentage`` (``is_increase``);
a ``per_item`` list names a rate (and optionally a discount) per item.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import Money
from tds.mapping import Fields, MapContext, MappingError, amount, boolean, discount, percent, text, texts, zoho_id
from tds.models import child_table, fk, mirrored_table, strings

price_lists = mirrored_table(
    "price_lists",
    "zoho_pricebook_id",
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("description", sa.Text()),
    sa.Column("currency_code", sa.String(10)),
    sa.Column("pricebook_type", sa.String(32), nullable=False),
    sa.Column("percentage", Money),
    sa.Column("is_increase", sa.Boolean()),
    *strings(rounding_type=50, sales_or_purchase_type=32),
    sa.Column("is_default", sa.Boolean()),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
)

price_list_items = child_table(
    "price_list_items",
    "price_list_id",
    "price_lists",
    "zoho_item_id",
    fk("product_id", "products", zoho="zoho_item_id"),
    *strings(zoho_pricebook_item_id=32, name=500),
    sa.Column("rate", Money, nullable=False),
    sa.Column("discount_amount", Money),
    sa.Column("discount_percent", Money),
)


def map_pricebook(entity, record: dict, ctx: MapContext) -> Fields:
    status = text(record.get("status"), 32) or "active"
    fields = Fields(
        {
            **texts(record, price_lists, "name", "description", "currency_code", "pricebook_type", "rounding_type",
                    "sales_or_purchase_type"),
            "percentage": percent(record.get("percentage"), "percentage"),
            "is_increase": boolean(record.get("is_increase"), "is_increase"),
            "is_default": boolean(record.get("is_default"), "is_default"),
            "status": status,
            "is_active": status == "active",
        }
    )
    entries = record.get("pricebook_items")
    if isinstance(entries, list):
        rows = []
        for entry in entries:
            item_id = zoho_id(entry.get("item_id"))
            if not item_id:
                raise MappingError(f"price list {record[entity.id_field]}: an entry without item_id")
            disc_amount, disc_percent = discount(entry.get("pricebook_discount"), "pricebook_items[].pricebook_discount")
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
        fields.children[price_list_items.name] = rows
    return fields
