"""Inventory price lists (``/pricebooks``) → ``price_lists`` and ``price_list_items``.

A ``fixed_percentage`` list marks every rate up or down by ``percentage`` (``is_increase``);
a ``per_item`` list names a rate (and optionally a discount) per item.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import Money
from tds.mapping import ChildRow, Fields, MapContext, boolean, child_rows, percent, text, texts
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
    sa.Column("rate", Money),
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

    def entry(row: ChildRow) -> dict:
        disc_amount, disc_percent = row.discount("pricebook_discount")
        return {
            "zoho_item_id": row.id,
            "zoho_pricebook_item_id": row.ref("pricebook_item_id"),
            "name": row.text("name", 500),
            "rate": row.figure("pricebook_rate", "rate"),
            "discount_amount": disc_amount,
            "discount_percent": disc_percent,
        }

    rows = child_rows(fields, record, ("pricebook_items",), ("item_id",), f"price list {record[entity.id_field]}",
                      entry)
    if rows is not None:
        fields.children[price_list_items.name] = rows
    return fields
