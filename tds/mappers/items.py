"""Items → ``products``; per-warehouse stock → ``warehouses`` and ``stock_levels``.

Item detail carries per-warehouse stock in one of two shapes: the legacy ``warehouses[]``
(``warehouse_stock_on_hand`` …) or the current ``locations[]`` (``location_stock_on_hand``
…). Lists carry neither, so a list row leaves the stock levels as they are.
"""

from __future__ import annotations

from tds import registry
from tds.mapping import MapContext, Mapped, MappingError, base, boolean, dec, parse_zoho_time, require, text, zoho_id

_STOCK_SHAPES = (
    # (list key, id field, name field, field prefix)
    ("warehouses", "warehouse_id", "warehouse_name", "warehouse_"),
    ("locations", "location_id", "location_name", "location_"),
)


def map_item(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("items")
    require(record, *entity.required_fields)
    status = text(record.get("status")) or "active"
    mapped = base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("name")) or text(record.get("item_name")),
            "sku": text(record.get("sku"), 200),
            "description": text(record.get("description")),
            "unit": text(record.get("unit"), 50),
            "unit_price": dec(record.get("rate"), "rate"),
            "purchase_price": dec(record.get("purchase_rate"), "purchase_rate"),
            "stock_quantity": dec(record.get("stock_on_hand"), "stock_on_hand"),
            "available_stock": dec(record.get("available_stock"), "available_stock"),
            "reorder_level": dec(record.get("reorder_level"), "reorder_level"),
            "is_active": status == "active",
            "status": status,
            "tax_rate": dec(record.get("tax_percentage"), "tax_percentage"),
            "tax_name": text(record.get("tax_name"), 100),
            "category_name": text(record.get("category_name"), 255),
            "item_type": text(record.get("item_type"), 50),
            "product_type": text(record.get("product_type"), 50),
            "zoho_image_document_id": zoho_id(record.get("image_document_id")),
            "image_name": text(record.get("image_name"), 255),
            "image_type": text(record.get("image_type"), 20),
            "zoho_created_time": parse_zoho_time(record.get("created_time")),
        },
    )
    for key, id_field, name_field, prefix in _STOCK_SHAPES:
        rows = record.get(key)
        if not isinstance(rows, list):
            continue
        levels = []
        for row in rows:
            warehouse_id = zoho_id(row.get(id_field))
            if not warehouse_id:
                raise MappingError(f"{key}[] entry without {id_field}")
            levels.append(
                {
                    "zoho_warehouse_id": warehouse_id,
                    "zoho_item_id": mapped.zoho_id,
                    "stock_on_hand": dec(row.get(f"{prefix}stock_on_hand"), "stock_on_hand") or 0,
                    "available_stock": dec(row.get(f"{prefix}available_stock")),
                    "actual_available_stock": dec(row.get(f"{prefix}actual_available_stock")),
                    "committed_stock": dec(row.get(f"{prefix}committed_stock")),
                    "available_for_sale_stock": dec(row.get(f"{prefix}available_for_sale_stock")),
                }
            )
            if text(row.get(name_field)):
                mapped.related.append(
                    map_warehouse(
                        {
                            "warehouse_id": warehouse_id,
                            "warehouse_name": row.get(name_field),
                            "status": row.get("status"),
                            "is_primary": row.get("is_primary"),
                        },
                        ctx,
                    )
                )
        mapped.children["stock_levels"] = levels
        break
    return mapped


def map_warehouse(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("warehouses")
    require(record, *entity.required_fields)
    status = text(record.get("status")) or "active"
    return base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("warehouse_name"), 255),
            "status": status,
            "is_primary": bool(boolean(record.get("is_primary"))),
            "is_active": status == "active",
            "address": text(record.get("address")),
            "city": text(record.get("city"), 100),
            "country": text(record.get("country"), 100),
        },
    )

