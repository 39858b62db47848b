"""Items → ``products``; per-warehouse stock → ``warehouses`` and ``stock_levels``.

Item detail carries per-warehouse stock in one of two shapes: the legacy ``warehouses[]``
(``warehouse_stock_on_hand`` …) or the current ``locations[]`` (``location_stock_on_hand``
…). Lists carry neither, so a list row leaves the stock levels as they are.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import Money, Quantity, UTCDateTime
from tds.mapping import (
    ChildRow,
    Fields,
    MapContext,
    boolean,
    child_rows,
    dec,
    parse_zoho_time,
    percent,
    text,
    texts,
    zoho_id,
)
from tds.models import child_table, fk, mirrored_table, strings

warehouses = mirrored_table(
    "warehouses",
    "zoho_warehouse_id",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("address", sa.Text()),
    *strings(city=100, country=100),
)

products = mirrored_table(
    "products",
    "zoho_item_id",
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("sku", sa.String(200), index=True),
    sa.Column("description", sa.Text()),
    sa.Column("unit", sa.String(50)),
    sa.Column("unit_price", Money),
    sa.Column("purchase_price", Money),
    sa.Column("stock_quantity", Quantity),
    sa.Column("available_stock", Quantity),
    sa.Column("reorder_level", Quantity),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("tax_rate", Money),
    *strings(
        tax_name=100, category_name=255, item_type=50, product_type=50, zoho_image_document_id=64, image_name=255,
        image_type=20,
    ),
    sa.Column("zoho_created_time", UTCDateTime()),
    # /product-images/{file}, kept by tds.sync.images (never by the mapper, so an upsert keeps it)
    sa.Column("image_url", sa.String(255)),
)

stock_levels = child_table(
    "stock_levels",
    "product_id",
    "products",
    "zoho_warehouse_id",
    fk("warehouse_id", "warehouses", zoho="zoho_warehouse_id"),
    sa.Column("zoho_item_id", sa.String(32), nullable=False, index=True),
    sa.Column("stock_on_hand", Quantity),
    sa.Column("available_stock", Quantity),
    sa.Column("actual_available_stock", Quantity),
    sa.Column("committed_stock", Quantity),
    sa.Column("available_for_sale_stock", Quantity),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
)

_STOCK_SHAPES = (
    # (list key, id field, name field, field prefix)
    ("warehouses", "warehouse_id", "warehouse_name", "warehouse_"),
    ("locations", "location_id", "location_name", "location_"),
)

_STOCK_FIGURES = ("available_stock", "actual_available_stock", "committed_stock", "available_for_sale_stock")


def map_item(entity, record: dict, ctx: MapContext) -> Fields:
    status = text(record.get("status")) or "active"
    fields = Fields(
        {
            "name": text(record.get("name")) or text(record.get("item_name")),
            **texts(record, products, "sku", "description", "unit", "tax_name", "category_name", "item_type",
                    "product_type", "image_name", "image_type"),
            "unit_price": dec(record.get("rate"), "rate"),
            "purchase_price": dec(record.get("purchase_rate"), "purchase_rate"),
            "stock_quantity": dec(record.get("stock_on_hand"), "stock_on_hand"),
            "available_stock": dec(record.get("available_stock"), "available_stock"),
            "reorder_level": dec(record.get("reorder_level"), "reorder_level"),
            "is_active": status == "active",
            "status": status,
            "tax_rate": percent(record.get("tax_percentage"), "tax_percentage"),
            "zoho_image_document_id": zoho_id(record.get("image_document_id")),
            "zoho_created_time": parse_zoho_time(record.get("created_time"), "created_time"),
        }
    )
    for key, id_field, name_field, prefix in _STOCK_SHAPES:
        if record.get(key) is None:
            continue

        def level(row: ChildRow, name_field=name_field, prefix=prefix) -> dict:
            name = row.text(name_field)
            if name:
                warehouse = {"warehouse_id": row.id, "warehouse_name": name, "status": row.raw("status"),
                             "is_primary": row.raw("is_primary")}
                fields.related.append(("warehouses", warehouse))
            return {
                "zoho_warehouse_id": row.id,
                "zoho_item_id": str(record[entity.id_field]),
                "stock_on_hand": row.figure(f"{prefix}stock_on_hand"),
                **{figure: row.figure(f"{prefix}{figure}") for figure in _STOCK_FIGURES},
            }

        levels = child_rows(fields, record, (key,), (id_field,), f"item {record[entity.id_field]}", level)
        if levels is not None:
            fields.children[stock_levels.name] = levels
        break
    return fields


def map_warehouse(entity, record: dict, ctx: MapContext) -> Fields:
    status = text(record.get("status")) or "active"
    return Fields(
        {
            **texts(record, warehouses, "city", "country", name="warehouse_name"),
            "status": status,
            "is_primary": bool(boolean(record.get("is_primary"), "is_primary")),
            "is_active": status == "active",
            "address": text(record.get("address")),
        }
    )
