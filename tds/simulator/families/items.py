"""Items and stock: warehouses, items (with per-warehouse stock and images), inventory adjustments.

Per-warehouse stock is only in the item detail, in the organization's shape: the legacy
``warehouses[]`` rows (``warehouse_stock_on_hand``, …) or ``locations[]`` rows
(``location_stock_on_hand``, …); an item's totals are always the sums of its rows. Inventory
adjustments move their items' rows: generated ones are applied in date order to the stock
drawn for the items, created ones at once, a changed one is reverted and applied anew, and a
deleted one is reverted.
"""

from __future__ import annotations

import hashlib
import io
import random
from decimal import Decimal

from PIL import Image

from ..datasets import OrgData
from ..errors import InvalidReference, NotFound, UnknownReference
from ..formats import ZERO2, ZERO6, camel_to_snake, deep_copy, money, stock
from ..resources import Family, Resource, lower_or_all
from ..vocabulary import CITIES, STREETS

EN_PARTS = ["Oil Filter", "Air Filter", "Brake Pad Set", "Spark Plug", "Water Pump", "Fuel Pump", "Timing Belt",
            "Radiator Hose", "Alternator", "Starter Motor", "Clutch Kit", "Shock Absorber", "Wiper Blade",
            "Headlight Bulb", "Battery 70Ah", "Engine Oil 5W-30", "Coolant 4L", "Bearing", "Gasket Set",
            "Drill Bit Set", "Steel Bolt M8", "PVC Pipe 2in", "Cable Tie Pack", "LED Panel 60x60", "Paint 4L"]
AR_PARTS = ["فلتر زيت", "فلتر هواء", "طقم فحمات فرامل", "بوجي", "مضخة مياه", "طرمبة بنزين", "سير توقيت",
            "خرطوم رديتر", "دينامو", "سلف", "طقم كلتش", "مساعدات", "مساحات", "لمبة أمامية", "بطارية",
            "زيت محرك", "ماء رديتر", "رمان بلي", "طقم جوانات"]
BRANDS = ["GUD", "Bosch", "Denso", "NGK", "Mann", "Valeo", "Toyota", "Hyundai", "SKF", "Mobil"]
UNITS = ["pcs", "box", "set", "kg", "ltr"]
SERVICES = ["Installation", "Delivery", "Maintenance Visit", "Consulting Hour", "خدمة توصيل", "خدمة تركيب"]
WAREHOUSES = [("Main Warehouse - Riyadh", "Riyadh"), ("Jeddah Branch", "Jeddah"), ("Dammam Store", "Dammam"),
              ("Khobar Depot", "Khobar"), ("Medina Outlet", "Medina")]
ADJUSTMENT_REASONS = ["Stocktaking results", "Damaged goods", "Stolen goods", "Stock written off",
                      "Returned to stock", "Data entry error"]
#: Reasons that fit adjustments that only add stock, and those that only remove it.
ADJUSTMENT_REASONS_UP = ["Stocktaking results", "Returned to stock", "Data entry error"]
ADJUSTMENT_REASONS_DOWN = ["Stocktaking results", "Damaged goods", "Stolen goods", "Stock written off",
                           "Data entry error"]
ADJUSTMENT_NOTES = ["", "", "Cycle count", "Count correction", "Monthly stock check", "جرد دوري"]


# --------------------------------------------------------------------------- warehouses

def make_warehouse(org: OrgData, i: int) -> dict:
    name, city = WAREHOUSES[i % len(WAREHOUSES)] if i < len(WAREHOUSES) else (f"Warehouse {i + 1}", "Riyadh")
    city_row = next((row for row in CITIES if row[0] == city), CITIES[0])
    wid = org.ids.next()
    record = {
        "warehouse_id": wid, "warehouse_name": name, "status": "active", "is_primary": i == 0,
        "is_fba_warehouse": False, "address": f"{org.rng.randint(1, 999)} {org.rng.choice(STREETS)}",
        "city": city, "state": city_row[1], "country": "Saudi Arabia", "zip": city_row[2],
        "phone": org.phone(), "email": f"warehouse{i + 1}@{org.email_domain}",
    }
    org.place("warehouses", wid, record, None)
    return record


def seed_warehouses(org: OrgData) -> None:
    org.warehouse_list = [make_warehouse(org, i) for i in range(org.count("warehouses"))]


def create_warehouse(org: OrgData, fields: dict, ts: int):
    record = make_warehouse(org, len(org.rows.get("warehouses", {})))
    wid = record["warehouse_id"]
    org.stamp("warehouses", wid, ts)
    org.ctime["warehouses"][wid] = ts
    record["created_time"] = org.fmt(ts)
    return record, [], fields


def warehouse_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    return {"phone": f"+9661{rng.randint(10000000, 99999999)}"}


# --------------------------------------------------------------------------- per-warehouse stock

def level_prefix(shape: str) -> str:
    """Key prefix of a per-warehouse stock row: ``warehouse_`` or ``location_``."""
    return "warehouse_" if shape == "warehouses" else "location_"


def level_row(shape: str, warehouse: dict, on_hand, committed) -> dict:
    """One item's stock row for one warehouse, in the legacy ``warehouses[]`` or the ``locations[]`` shape."""
    oh, cm = stock(on_hand), stock(committed)
    if shape == "warehouses":
        return {
            "warehouse_id": warehouse["warehouse_id"], "warehouse_name": warehouse["warehouse_name"],
            "status": warehouse["status"], "is_primary": warehouse["is_primary"],
            "warehouse_stock_on_hand": oh, "initial_stock": stock(0), "initial_stock_rate": ZERO2,
            "warehouse_available_stock": oh - cm, "warehouse_actual_available_stock": oh - cm,
            "warehouse_committed_stock": cm, "warehouse_actual_committed_stock": cm,
            "warehouse_available_for_sale_stock": oh - cm,
            "warehouse_actual_available_for_sale_stock": oh - cm,
            "is_fba_warehouse": False, "sales_channels": [],
        }
    return {
        "location_id": warehouse["warehouse_id"], "location_name": warehouse["warehouse_name"],
        "status": warehouse["status"], "is_primary": warehouse["is_primary"],
        "location_stock_on_hand": oh, "location_available_stock": oh - cm,
        "location_actual_available_stock": oh - cm, "location_committed_stock": cm,
        "location_actual_committed_stock": cm, "location_available_for_sale_stock": oh - cm,
        "location_actual_available_for_sale_stock": oh - cm,
    }


def set_level(row: dict, prefix: str, on_hand) -> None:
    """One warehouse row's figures from its stock on hand and committed stock."""
    on_hand = stock(on_hand)
    committed = stock(row.get(prefix + "committed_stock", 0))
    row[prefix + "stock_on_hand"] = on_hand
    row[prefix + "committed_stock"] = committed
    row[prefix + "actual_committed_stock"] = committed
    for key in ("available_stock", "actual_available_stock", "available_for_sale_stock",
                "actual_available_for_sale_stock"):
        row[prefix + key] = on_hand - committed


def recompute_item(record: dict) -> None:
    """Item totals are the sums of its per-warehouse (or per-location) stock."""
    rows = record.get("warehouses") or record.get("locations")
    if rows is None or record.get("item_type") != "inventory":
        return
    prefix = "warehouse_" if "warehouses" in record else "location_"
    on_hand = sum((r[prefix + "stock_on_hand"] for r in rows), ZERO6)
    committed = sum((r[prefix + "committed_stock"] for r in rows), ZERO6)
    record["stock_on_hand"] = on_hand
    record["available_stock"] = on_hand - committed
    record["actual_available_stock"] = on_hand - committed
    record["committed_stock"] = committed
    record["actual_committed_stock"] = committed
    record["available_for_sale_stock"] = on_hand - committed
    record["actual_available_for_sale_stock"] = on_hand - committed


# --------------------------------------------------------------------------- items

def make_item(org: OrgData, ts: int | None = None) -> dict:
    rng = org.rng
    roll = rng.random()
    if roll < 0.72:
        item_type, product_type = "inventory", "goods"
    elif roll < 0.85:
        item_type, product_type = "sales_and_purchases", "goods"
    elif roll < 0.95:
        item_type, product_type = "sales_and_purchases", "service"
    else:
        item_type, product_type = "sales", "service"
    n = org.next_number("item")
    if product_type == "service":
        base = rng.choice(SERVICES)
    else:
        base = rng.choice(AR_PARTS) if rng.random() < 0.3 else rng.choice(EN_PARTS)
    brand = rng.choice(BRANDS)
    code = f"{rng.choice('ABCDEFGHKLMNPRSTZ')}{n:04d}"
    name = f"{base} {brand} {code}" if product_type == "goods" else f"{base} {code}"
    rate = Decimal(rng.randint(500, 250000)).scaleb(-2)
    purchase_rate = money(rate * Decimal(rng.randint(55, 85)) / 100)
    tax_id, tax_name, tax_pct = rng.choice(org.taxes[1:]) if rng.random() < 0.85 else org.taxes[0]
    cat_id, cat_name = rng.choice(org.categories)
    item_id = org.ids.next()
    has_image = rng.random() < 0.75
    image_id = org.ids.next() if has_image else ""
    kind = image_kind(image_id) if has_image else ""
    accounts = org.accounts
    record = {
        "item_id": item_id, "name": name, "item_name": name, "sku": code, "description": f"{base} ({brand})",
        "unit": rng.choice(UNITS), "status": "active" if rng.random() < 0.9 else "inactive", "source": "user",
        "rate": rate, "purchase_rate": purchase_rate, "tax_id": tax_id, "tax_name": tax_name,
        "tax_percentage": tax_pct, "is_taxable": bool(tax_id), "item_type": item_type,
        "product_type": product_type, "category_id": cat_id, "category_name": cat_name,
        "account_id": accounts["sales"][0], "account_name": accounts["sales"][1],
        "purchase_account_id": accounts["cogs"][0], "purchase_account_name": accounts["cogs"][1],
        "inventory_account_id": accounts["inventory"][0] if item_type == "inventory" else "",
        "brand": brand, "manufacturer": brand, "hsn_or_sac": "", "upc": "", "ean": "", "isbn": "",
        "part_number": code, "is_returnable": product_type == "goods", "has_attachment": has_image,
        "image_document_id": image_id, "image_name": f"{code}-profile.{kind}" if has_image else "",
        "image_type": kind,
        "weight_unit": "kg", "dimension_unit": "cm", "custom_fields": [],
        "unit_id": org.ids.next(), "pricebook_rate": rate,
        "item_tax_preferences": [{"tax_id": tax_id, "tax_name": tax_name, "tax_percentage": tax_pct,
                                  "tax_specification": "intra"}] if tax_id else [],
    }
    if item_type == "inventory":
        record["reorder_level"] = stock(rng.choice([0, 1, 5, 10, 20]))
        rows = []
        for w in org.warehouse_list:
            on_hand = rng.randint(0, 120) if rng.random() < 0.8 else 0
            committed = rng.randint(0, min(on_hand, 8)) if on_hand else 0
            rows.append(level_row(org.shape, w, on_hand, committed))
        record[org.shape] = rows
        recompute_item(record)
    org.place("items", item_id, record, ts)
    return record


def seed_items(org: OrgData) -> None:
    for _ in range(org.count("items")):
        make_item(org)
    org.sellable = [r for r in org.rows.get("items", {}).values() if r["status"] == "active"]


def create_item(org: OrgData, fields: dict, ts: int):
    return make_item(org, ts=ts), [], fields


def update_item(org: OrgData, record: dict, changes: dict) -> None:
    """Rates are money; new per-warehouse rows or a new ``stock_on_hand`` (the difference goes to
    the first warehouse) are recomputed into the item's totals."""
    if "name" in changes and "item_name" not in changes:
        record["item_name"] = record["name"]
    for key in ("rate", "purchase_rate"):
        if key in changes:
            record[key] = money(record[key])
    shape = org.shape
    prefix = level_prefix(shape)
    if shape in changes:
        for row in record[shape]:
            set_level(row, prefix, row[prefix + "stock_on_hand"])
        recompute_item(record)
    elif "stock_on_hand" in changes and record.get(shape):
        rows = record[shape]
        other = sum((r[prefix + "stock_on_hand"] for r in rows[1:]), ZERO6)
        set_level(rows[0], prefix, stock(changes["stock_on_hand"]) - other)
        recompute_item(record)


def item_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    """A new price, and one warehouse's stock moved (never below its committed stock)."""
    changes = {"rate": money(record["rate"] * Decimal(rng.randint(90, 115)) / 100)}
    rows = record.get(org.shape)
    if rows:
        prefix = level_prefix(org.shape)
        rows = deep_copy(rows)
        row = rng.choice(rows)
        row[prefix + "stock_on_hand"] = max(row[prefix + "committed_stock"],
                                            row[prefix + "stock_on_hand"] + rng.randint(-5, 20))
        changes[org.shape] = rows
    return changes


def _low_stock(value: str):
    return lambda r: "stock_on_hand" in r and r["stock_on_hand"] <= r.get("reorder_level", 0)


def _item_type(value: str):
    wanted = camel_to_snake(value)
    return lambda r: r.get("item_type") == wanted


# --------------------------------------------------------------------------- item images

IMAGE_KINDS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png")}
NO_IMAGE = {"image_document_id": "", "image_name": "", "image_type": "", "has_attachment": False}


def image_kind(image_document_id: str) -> str:
    """JPEG or PNG, drawn from the document id (not from the data's random generator, so
    the rest of the generated data does not depend on it)."""
    return "jpg" if hashlib.sha256(image_document_id.encode()).digest()[0] % 2 else "png"


def item_image(item: dict, revision: int = 0, size: int = 24) -> tuple[bytes, str]:
    """The bytes and content type of ``item``'s image: a small picture whose pattern and
    colours follow the item, its image document id and ``revision`` (an image replaced
    under the same document id), encoded as the item's ``image_type``."""
    key = f"{item['item_id']}:{item['image_document_id']}:{revision}"
    digest = hashlib.sha256(key.encode()).digest()
    fg, bg = tuple(digest[0:3]), tuple(digest[3:6])
    picture = Image.new("RGB", (size, size), bg)
    pixels = picture.load()
    for y in range(size):
        for x in range(size):
            if (digest[6 + (y % 24)] >> (x % 8)) & 1:
                pixels[x, y] = fg
    fmt, content_type = IMAGE_KINDS.get(item.get("image_type") or "png", IMAGE_KINDS["png"])
    out = io.BytesIO()
    picture.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue(), content_type


def new_image(org: OrgData, item: dict, kind: str | None = None) -> dict:
    """The changes of a new image for ``item``: a new document id, of ``kind`` (jpg, png) or drawn."""
    if kind is not None and kind not in IMAGE_KINDS:
        raise InvalidReference(f"image type {kind!r} is not one of {', '.join(IMAGE_KINDS)}")
    image_id = org.ids.next()
    kind = kind or image_kind(image_id)
    return {"image_document_id": image_id, "image_name": f"{item['sku'] or item['item_id']}-profile.{kind}",
            "image_type": kind, "has_attachment": True}


# --------------------------------------------------------------------------- inventory adjustments

def _draw_line(rng: random.Random, item: dict, shape: str) -> dict:
    """A line for one warehouse of ``item``: a decrease within its spare stock, or an increase."""
    prefix = level_prefix(shape)
    row = rng.choice(item[shape])
    spare = int(row[prefix + "stock_on_hand"] - row[prefix + "committed_stock"])
    quantity = -rng.randint(1, min(spare, 10)) if spare > 0 and rng.random() < 0.45 else rng.randint(1, 25)
    return {"item_id": item["item_id"], prefix + "id": row[prefix + "id"], "quantity_adjusted": quantity}


def seed_adjustments(org: OrgData) -> None:
    """Past quantity adjustments, applied in date order to the items' generated stock.

    The stock drawn for an item is its stock before any adjustment; each adjustment then
    moves one warehouse's figure of each item it names, so the items' final figures include
    every adjustment and a decrease never takes a warehouse below its committed stock.
    """
    n = org.counts.get("inventoryadjustments", 0)
    shape = org.shape
    tracked = [r for r in org.rows.get("items", {}).values()
               if r.get("item_type") == "inventory" and r.get(shape)]
    if not n or not tracked:
        return
    rng = org.rng
    item_ctime = org.ctime["items"]
    for created, _ in org.sorted_history_times(n):
        existing = [r for r in tracked if item_ctime[r["item_id"]] <= created]
        if not existing:
            continue
        chosen = rng.sample(existing, k=min(len(existing), rng.choice([1, 1, 1, 2, 2, 3])))
        lines = [_draw_line(rng, item, shape) for item in chosen]
        record = make_adjustment(org, created, created, adjustment_lines(org, lines))
        for item_id in apply_adjustment(org, record["line_items"]):
            org.touch("items", item_id, created)


def draw_adjustment_lines(org: OrgData, rng: random.Random) -> list[dict]:
    """One or two random lines: a tracked, active item, one of its warehouses, a plausible quantity."""
    shape = org.shape
    tracked = [r for r in org.rows.get("items", {}).values()
               if r.get("item_type") == "inventory" and r.get("status") == "active" and r.get(shape)]
    if not tracked:
        return []
    return [_draw_line(rng, item, shape) for item in rng.sample(tracked, k=min(len(tracked), rng.choice([1, 1, 2])))]


def _adjustment_reasons(org: OrgData) -> list[tuple[str, str]]:
    if not org.adjustment_reasons:  # drawn on first use, after the rest of the data
        org.adjustment_reasons = [(org.ids.next(), reason) for reason in ADJUSTMENT_REASONS]
    return org.adjustment_reasons


def make_adjustment(org: OrgData, created: int, modified: int, lines: list[dict], fields: dict | None = None) -> dict:
    """A quantity adjustment in Zoho Inventory's detail form, from lines made by
    :func:`adjustment_lines` (the items' stock is not touched here: see :func:`apply_adjustment`)."""
    rng = org.rng
    fields = dict(fields or {})
    reasons = _adjustment_reasons(org)
    if all(line["quantity_adjusted"] > 0 for line in lines):
        fitting = ADJUSTMENT_REASONS_UP
    elif all(line["quantity_adjusted"] < 0 for line in lines):
        fitting = ADJUSTMENT_REASONS_DOWN
    else:
        fitting = ADJUSTMENT_REASONS[:1]
    reason_id, reason = rng.choice([r for r in reasons if r[1] in fitting])
    if "reason" in fields:
        reason = fields.pop("reason")
        reason_id = next((rid for rid, name in reasons if name == reason), "")
    aid = org.ids.next()
    record = {
        "inventory_adjustment_id": aid, "date": org.day(created), "reason": reason, "reason_id": reason_id,
        "description": rng.choice(ADJUSTMENT_NOTES),
        "reference_number": f"ADJ-{org.next_number('inventoryadjustment'):05d}" if rng.random() < 0.8 else "",
        "adjustment_type": "quantity", "status": "adjusted",
        "line_items": lines, "custom_fields": [],
    }
    record["total"] = sum((line["item_total"] for line in record["line_items"]), ZERO2)
    record.update(fields)
    org.put("inventoryadjustments", aid, record, created, modified)
    return record


def adjustment_lines(org: OrgData, raw_lines: list[dict]) -> list[dict]:
    """Adjustment lines in this organization's shape, checked against its items and warehouses.

    Each raw line names ``item_id``, ``quantity_adjusted`` and optionally ``warehouse_id`` or
    ``location_id`` (the primary warehouse when neither is given). Raises
    :class:`UnknownReference` for an unknown item or warehouse and :class:`InvalidReference`
    for an item whose stock is not tracked.
    """
    items = org.rows.get("items", {})
    warehouses = org.rows.get("warehouses", {})
    prefix = level_prefix(org.shape)
    out = []
    for order, raw in enumerate(raw_lines, start=1):
        item = items.get(str(raw.get("item_id") or ""))
        if item is None:
            raise UnknownReference("Item does not exist.")
        if item.get("item_type") != "inventory":
            raise InvalidReference(f"Item {item['item_id']} does not track inventory; it cannot be adjusted.")
        wid = str(raw.get("warehouse_id") or raw.get("location_id") or "")
        if not wid:
            wid = next((w["warehouse_id"] for w in warehouses.values() if w.get("is_primary")),
                       next(iter(warehouses), ""))
        warehouse = warehouses.get(wid)
        if warehouse is None:
            raise UnknownReference("Warehouse does not exist." if org.shape == "warehouses"
                                   else "Location does not exist.")
        quantity = stock(raw.get("quantity_adjusted", raw.get("quantity", 1)))
        cost = money(item.get("purchase_rate") or 0)
        out.append({
            "line_item_id": str(raw.get("line_item_id") or org.ids.next()), "item_id": item["item_id"],
            "name": item["name"], "description": raw.get("description", ""), "item_order": order,
            "quantity_adjusted": quantity, "item_total": money(quantity * cost), "unit": item["unit"],
            "is_combo_product": False, "adjustment_account_id": org.accounts["cogs"][0],
            "adjustment_account_name": org.accounts["cogs"][1],
            prefix + "id": warehouse["warehouse_id"], prefix + "name": warehouse["warehouse_name"],
        })
    return out


def _checked_lines(org: OrgData, raw_lines: list[dict]) -> list[dict]:
    try:
        return adjustment_lines(org, raw_lines)
    except UnknownReference as exc:
        raise NotFound(str(exc)) from None


def apply_adjustment(org: OrgData, lines: list[dict], sign: int = 1) -> list[str]:
    """Move the named items' per-warehouse stock by ``sign × quantity_adjusted`` and recompute
    their totals; returns the ids of the items changed, in line order."""
    shape = org.shape
    prefix = level_prefix(shape)
    items = org.rows.get("items", {})
    warehouses = org.rows.get("warehouses", {})
    changed: list[str] = []
    for line in lines:
        item = items.get(line["item_id"])
        if item is None or item.get("item_type") != "inventory":
            continue
        wid = line.get(prefix + "id") or line.get("warehouse_id") or line.get("location_id")
        rows = item.setdefault(shape, [])
        row = next((r for r in rows if r[prefix + "id"] == wid), None)
        if row is None:  # a warehouse added after the item: its row starts at zero
            row = level_row(shape, warehouses[wid], 0, 0)
            rows.append(row)
        set_level(row, prefix, row[prefix + "stock_on_hand"] + sign * stock(line["quantity_adjusted"]))
        recompute_item(item)
        if item["item_id"] not in changed:
            changed.append(item["item_id"])
    return changed


def _stamp_items(org: OrgData, item_ids: list[str]) -> None:
    for item_id in item_ids:
        org.stamp("items", item_id)


def create_adjustment(org: OrgData, fields: dict, ts: int):
    """A quantity adjustment (lines from ``fields`` or drawn), applied to its items' stock.

    The items' per-warehouse rows and totals move by ``quantity_adjusted`` and their
    ``last_modified_time`` moves forward; only the adjustment itself is announced (Zoho
    runs item workflows for item edits, not for adjustments).
    """
    raw = fields.pop("line_items", None)
    if raw is None:
        raw = draw_adjustment_lines(org, org.rng)
    if not raw:
        raise InvalidReference("An inventory adjustment needs at least one line of an inventory-tracked item.")
    lines = _checked_lines(org, raw)
    fields.pop("total", None)
    record = make_adjustment(org, ts, ts, lines, fields)
    _stamp_items(org, apply_adjustment(org, lines))
    return record, [], {}


def readjust(org: OrgData, record: dict, changes: dict) -> None:
    """New lines for an adjustment: the old movement is reverted and the new one applied."""
    if "line_items" not in changes:
        return
    lines = _checked_lines(org, changes["line_items"])
    touched = apply_adjustment(org, record.get("line_items", []), -1)
    touched += [i for i in apply_adjustment(org, lines) if i not in touched]
    changes["line_items"] = lines
    _stamp_items(org, touched)


def update_adjustment(org: OrgData, record: dict, changes: dict) -> None:
    record["total"] = sum((line["item_total"] for line in record.get("line_items", [])), ZERO2)


def revert_adjustment(org: OrgData, record: dict) -> None:
    """Deleting an adjustment reverts its stock movement."""
    _stamp_items(org, apply_adjustment(org, record.get("line_items", []), -1))


def new_adjustment(org: OrgData, rng: random.Random) -> dict | None:
    lines = draw_adjustment_lines(org, rng)
    return {"line_items": lines} if lines else None


FAMILY = Family(
    name="items",
    resources=(
        Resource("items", "items", "item", "item_id", "Item", "Items", ("name", "A"), name_field="name",
                 list_omit=("warehouses", "locations", "item_tax_preferences", "pricebook_rate", "unit_id",
                            "custom_fields_detail"), slug="items",
                 filters=(("Status.Lowstock", _low_stock), ("ItemType", _item_type)),
                 create=create_item, update=update_item, random_changes=item_changes),
        Resource("inventoryadjustments", "inventory_adjustments", "inventory_adjustment", "inventory_adjustment_id",
                 "Inventory Adjustment", "Inventory Adjustments", ("created_time", "D"), name_field="reference_number",
                 always=("date",),
                 list_omit=("line_items",), slug="stock", inventory_only=True,
                 filters=(("AdjustmentType", lower_or_all("adjustment_type")),),
                 create=create_adjustment, before_update=readjust, update=update_adjustment,
                 on_delete=revert_adjustment, random_new=new_adjustment),
        Resource("warehouses", "warehouses", "warehouse", "warehouse_id", "Warehouse", "Warehouses",
                 ("warehouse_name", "A"), name_field="warehouse_name",
                 list_paths=(("settings/warehouses", {}),), has_detail=False,
                 create=create_warehouse, random_changes=warehouse_changes),
    ),
    seed=((10, seed_warehouses), (20, seed_items), (90, seed_adjustments)),
)
