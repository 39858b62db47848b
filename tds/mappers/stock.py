"""Inventory adjustments (the ``/stock`` webhook) → ``stock_adjustments`` and their lines.

An adjustment changes its items' stock, per warehouse, but its body says only by how much.
The item rows are not patched by arithmetic here: every item the adjustment names is
fetched again by id (its detail carries the per-warehouse stock), so ``products`` and
``stock_levels`` always hold Zoho's own figures.
"""

from __future__ import annotations

from tds import registry
from tds.mapping import MapContext, Mapped, MappingError, base, dec, parse_date, require, text, zoho_id


def map_adjustment(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("stock_adjustments")
    require(record, *entity.required_fields)
    mapped = base(
        entity,
        record,
        ctx,
        {
            "reference_number": text(record.get("reference_number"), 200),
            "adjustment_date": parse_date(record.get("date")),
            "adjustment_type": text(record.get("adjustment_type"), 32),
            "reason": text(record.get("reason"), 500),
            "description": text(record.get("description")),
            "status": text(record.get("status"), 32),
        },
    )
    lines = record.get("line_items")
    if isinstance(lines, list):
        rows = []
        for line in lines:
            line_id = zoho_id(line.get("line_item_id"))
            item_id = zoho_id(line.get("item_id"))
            if not line_id or not item_id:
                raise MappingError(f"stock adjustment {mapped.zoho_id}: a line without line_item_id or item_id")
            quantity = line.get("quantity_adjusted", line.get("quantity"))
            if quantity in (None, ""):
                raise MappingError(f"stock adjustment {mapped.zoho_id} line {line_id}: no quantity_adjusted")
            rows.append(
                {
                    "zoho_line_item_id": line_id,
                    "zoho_item_id": item_id,
                    "zoho_warehouse_id": zoho_id(line.get("warehouse_id") or line.get("location_id")),
                    "name": text(line.get("name"), 500),
                    "quantity_adjusted": dec(quantity, "quantity_adjusted"),
                    "value_adjusted": dec(line.get("value_adjusted"), "value_adjusted"),
                }
            )
            if ("items", item_id) not in mapped.refresh:
                mapped.refresh.append(("items", item_id))
        mapped.children["stock_adjustment_line_items"] = rows
    return mapped
