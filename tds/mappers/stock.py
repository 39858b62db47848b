"""Inventory adjustments (the ``/stock`` webhook) → ``stock_adjustments`` and their lines.

An adjustment changes its items' stock, per warehouse, but its body says only by how much.
The item rows are not patched by arithmetic here: every item the adjustment names is
fetched again by id (its detail carries the per-warehouse stock), so ``products`` and
``stock_levels`` always hold Zoho's own figures.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import Money, Quantity
from tds.mapping import Fields, MapContext, MappingError, blank, dec, parse_date, text, texts, zoho_id
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
    sa.Column("quantity_adjusted", Quantity, nullable=False),
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
    lines = record.get("line_items")
    if isinstance(lines, list):
        where = f"stock adjustment {record[entity.id_field]}"
        rows = []
        for line in lines:
            line_id = zoho_id(line.get("line_item_id"))
            item_id = zoho_id(line.get("item_id"))
            if not line_id or not item_id:
                raise MappingError(f"{where}: a line without line_item_id or item_id")
            quantity = line.get("quantity_adjusted", line.get("quantity"))
            if blank(quantity):
                raise MappingError(f"{where} line {line_id}: no quantity_adjusted")
            rows.append(
                {
                    "zoho_line_item_id": line_id,
                    "zoho_item_id": item_id,
                    "zoho_warehouse_id": zoho_id(line.get("warehouse_id") or line.get("location_id")),
                    "name": text(line.get("name"), 500),
                    "quantity_adjusted": dec(quantity, f"{where} line {line_id} quantity_adjusted"),
                    "value_adjusted": dec(line.get("value_adjusted"), f"{where} line {line_id} value_adjusted"),
                }
            )
            if ("items", item_id) not in fields.refresh:
                fields.refresh.append(("items", item_id))
        fields.children[stock_adjustment_line_items.name] = rows
    return fields
