"""Inventory adjustments (the ``/stock`` webhook) → ``stock_adjustments`` and their lines.

An adjustment changes its items' stock, per warehouse, but its body says only by how much.
The item rows are not patched by arithmetic here: every item the adjustment names is
fetched again by id (its detail carries the per-warehouse stock), so ``products`` and
``stock_levels`` always hold Zoho's own figures.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import Money, Quantity
from tds.mapping import ChildRow, Fields, MapContext, child_rows, parse_date, texts
from tds.models import child_table, fk, mirrored_table, strings, zoho_ref

stock_adjustments = mirrored_table(
    "stock_adjustments",
    "zoho_adjustment_id",
    sa.Column("reference_number", sa.String(200), index=True),
    sa.Column("adjustment_date", sa.Date(), nullable=False),
    *strings(adjustment_type=32, reason=500),
    sa.Column("description", sa.Text()),
    sa.Column("status", sa.String(32)),
)

stock_adjustment_line_items = child_table(
    "stock_adjustment_line_items",
    "stock_adjustment_id",
    "stock_adjustments",
    "zoho_line_item_id",
    fk("product_id", "products", zoho="zoho_item_id"),
    zoho_ref("zoho_item_id"),
    zoho_ref("zoho_warehouse_id"),
    sa.Column("name", sa.String(500)),
    sa.Column("quantity_adjusted", Quantity),
    sa.Column("value_adjusted", Money),
)


def map_adjustment(entity, record: dict, ctx: MapContext) -> Fields:
    fields = Fields(
        {
            **texts(record, stock_adjustments, "reference_number", "adjustment_type", "reason", "description",
                    "status"),
            "adjustment_date": parse_date(record.get("date"), "date"),
        }
    )

    def line(row: ChildRow) -> dict:
        item_id = row.ref("item_id")
        if item_id and ("items", item_id) not in fields.refresh:
            fields.refresh.append(("items", item_id))
        return {
            "zoho_line_item_id": row.id,
            "zoho_item_id": item_id,
            "zoho_warehouse_id": row.ref("warehouse_id", "location_id"),
            "name": row.text("name", 500),
            "quantity_adjusted": row.figure("quantity_adjusted", "quantity"),
            "value_adjusted": row.figure("value_adjusted"),
        }

    rows = child_rows(fields, record, ("line_items",), ("line_item_id",),
                      f"stock adjustment {record[entity.id_field]}", line)
    if rows is not None:
        fields.children[stock_adjustment_line_items.name] = rows
    return fields
