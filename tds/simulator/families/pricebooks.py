"""Price lists: ``per_item`` lists with their own rates, and ``fixed_percentage`` mark-ups and discounts."""

from __future__ import annotations

import random
from decimal import Decimal

from ..datasets import OrgData
from ..formats import ZERO2, deep_copy, money
from ..resources import Family, Resource, numbered


def make_pricebook(org: OrgData, i: int, ts: int | None = None) -> dict:
    rng = org.rng
    kind = ["per_item", "fixed_percentage", "fixed_percentage"][i % 3]
    pid = org.ids.next()
    if kind == "per_item":
        name = "Wholesale" if i == 0 else f"Wholesale {i}"
        pct, increase = ZERO2, False
    elif i % 3 == 1:
        name, pct, increase = f"Retail +{10 + i}%", money(10 + i), True
    else:
        name, pct, increase = f"VIP -{5 + i}%", money(5 + i), False
    items = []
    if kind == "per_item":
        pool = org.sellable or list(org.rows.get("items", {}).values())
        for item in rng.sample(pool, k=max(1, len(pool) * 3 // 10)) if pool else []:
            discount = rng.choice(["", "", "5%", "10%"])
            items.append({"pricebook_item_id": org.ids.next(), "item_id": item["item_id"], "name": item["name"],
                          "sku": item["sku"], "status": "active",
                          "pricebook_rate": money(item["rate"] * Decimal(rng.randint(80, 95)) / 100),
                          "pricebook_discount": discount, "price_brackets": []})
    record = {
        "pricebook_id": pid, "name": name, "description": f"{name} price list",
        "currency_id": org.currencies["SAR"], "currency_code": "SAR", "decimal_place": 2,
        "is_default": False, "is_increase": increase, "percentage": pct, "pricebook_type": kind,
        "pricing_scheme": "unit", "rounding_type": "no_rounding", "sales_or_purchase_type": "sales",
        "status": "active", "pricebook_items": items,
    }
    org.place("pricebooks", pid, record, ts)
    return record


seed_pricebooks, _create_pricebook = numbered(make_pricebook, "pricebooks")


def _pricebook_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    """One item's rate moved by up to 5 % in a ``per_item`` list; one point more otherwise."""
    if record["pricebook_type"] == "per_item" and record["pricebook_items"]:
        items = deep_copy(record["pricebook_items"])
        entry = rng.choice(items)
        entry["pricebook_rate"] = money(entry["pricebook_rate"] * Decimal(rng.randint(95, 105)) / 100)
        return {"pricebook_items": items}
    return {"percentage": money(record["percentage"] + 1)}


FAMILY = Family(
    name="pricebooks",
    resources=(
        Resource("pricebooks", "pricebooks", "pricebook", "pricebook_id", "Price List", "Price Lists",
                 ("name", "A"), name_field="name", slug="prices", list_mtime=False, always=("pricebook_type",),
                 create=_create_pricebook,
                 random_changes=_pricebook_changes),
    ),
    seed=((50, seed_pricebooks),),
)
