"""Products into Odoo: each Zoho item becomes one ``product.template`` (and its variant),
found by the custom field ``x_zoho_item_id``.

One push of a product, read top-down:

1. Map: the ``products`` columns named in ``ODOO_FIELD_MAP`` become Odoo fields, prices
   converted into ``ODOO_CURRENCY`` (:func:`odoo_values`), plus ``active`` (false once
   the item is deleted or inactive in Zoho).
2. Compare: the checksum of those values against the checksum last sent, and the values
   Odoo holds now against them. Unchanged on both sides and no new image → no write.
3. Write only the fields that differ. Zoho wins: a field someone changed in Odoo since TDS
   sent it is overwritten, and the conflict (field, Odoo's value, Zoho's value) is logged
   in ``tds_odoo_conflicts``. A product deleted in Zoho is archived (``active=False``),
   never unlinked.
4. Image: the downloaded image goes up as ``image_1920`` (base64) with the same write, only
   when its sha256 differs from the one last uploaded.
5. Record what was sent (``tds_odoo_products``), the change (``tds_odoo_changes``) and the
   image (``tds_odoo_images``) in the caller's transaction.

Odoo finds existing products by ``x_zoho_item_id`` (archived ones too) before creating,
so a push repeated after a failure creates nothing twice. A product Odoo refuses, or whose
price is in a currency without a rate, is counted as failed and logged in
``tds_odoo_changes`` (action ``failed``); the others go on, and it is tried again next run.
Odoo not answering raises :class:`tds.sinks.odoo.client.OdooUnavailable` for the task to retry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds.config import Settings
from tds.db import dialect_insert, utcnow
from tds.models import odoo_changes, odoo_conflicts, odoo_images, odoo_products
from tds.registry import Entity, Mapped
from tds.sinks.odoo.client import OdooClient, OdooError
from tds.sinks.odoo.images import product_image

log = logging.getLogger(__name__)

TEMPLATE = "product.template"
ZOHO_ID_FIELD = "x_zoho_item_id"
PRICE_COLUMNS = ("unit_price", "purchase_price")
READ_BATCH = 200  # x_zoho_item_id values per search_read
NO_ARCHIVE_FILTER = {"active_test": False}


class PriceError(ValueError):
    """A price cannot be converted (a currency without a rate)."""


@dataclass
class OdooWriteResult:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    conflicts: int = 0
    images: int = 0
    failed: int = 0

    @property
    def written(self) -> int:
        return self.created + self.updated + self.archived

    def add(self, other: "OdooWriteResult") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------- mapping


def convert_price(settings: Settings, amount, currency: str | None) -> float | bool:
    """``amount`` in ``ODOO_CURRENCY``, rounded to ``ODOO_PRICE_DIGITS``.

    ``currency`` is the item's own (Zoho's ``currency_code``) when it names one; else the
    price is in ``ODOO_ZOHO_CURRENCY``, except under the explicit old rule
    ``ODOO_USD_BELOW``: a price below it is taken as USD.
    """
    if amount is None:
        return False
    value = Decimal(str(amount))
    if not currency:
        currency = settings.odoo_zoho_currency
        if settings.odoo_usd_below and value < Decimal(str(settings.odoo_usd_below)):
            currency = "USD"
    currency = currency.upper()
    if currency != settings.odoo_currency:
        rates = dict(settings.odoo_currency_rates)
        if currency not in rates:
            raise PriceError(f"no rate from {currency} to {settings.odoo_currency} in ODOO_CURRENCY_RATES")
        value *= Decimal(str(rates[currency]))
    return round(float(value), settings.odoo_price_digits)


def odoo_values(settings: Settings, record: Mapped) -> dict:
    """The Odoo field values for one product, normalised the way Odoo reads them back."""
    currency = str((record.raw or {}).get("currency_code") or "").strip() or None
    out = {}
    for column, odoo_field in settings.odoo_field_map:
        value = record.values.get(column)
        if column in PRICE_COLUMNS:
            out[odoo_field] = convert_price(settings, value, currency)
        else:
            out[odoo_field] = _normal(value, settings.odoo_price_digits)
    out["active"] = bool(record.values.get("is_active", True)) and not record.values.get("deleted_at")
    return out


def _normal(value, digits: int):
    """Unset is ``False`` (as Odoo reads an empty field); numbers are rounded floats."""
    if value is None or value == "":
        return False
    if isinstance(value, (Decimal, float)):
        return round(float(value), digits)
    return value


def checksum(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------- the destination


class OdooDestination:
    """Odoo as a destination for the ``items`` entity."""

    name = "odoo"
    entity_names = ("items",)

    def __init__(self, settings: Settings, client: OdooClient):
        self.settings = settings
        self.client = client
        self._field_ready = False

    def accepts(self, entity: Entity) -> bool:
        return entity.name in self.entity_names

    def ensure_zoho_id_field(self) -> bool:
        """Create ``x_zoho_item_id`` on ``product.template`` when Odoo lacks it; True if made."""
        if self._field_ready:
            return False
        made = False
        if not self.client.execute(TEMPLATE, "fields_get", [ZOHO_ID_FIELD], attributes=["type"]):
            model_ids = self.client.execute("ir.model", "search", [("model", "=", TEMPLATE)])
            if not model_ids:
                raise OdooError(f"Odoo has no model {TEMPLATE}: is the Inventory or Sales app installed?")
            self.client.execute("ir.model.fields", "create", {
                "name": ZOHO_ID_FIELD, "model_id": model_ids[0], "ttype": "char", "index": True,
                "field_description": "Zoho item id", "copied": False,
            })
            log.info("created field %s on %s in Odoo", ZOHO_ID_FIELD, TEMPLATE)
            made = True
        self._field_ready = True
        return made

    def write(self, conn: Connection, records: Sequence[Mapped]) -> OdooWriteResult:
        result = OdooWriteResult()
        records = [r for r in records if self.accepts(r.entity)]
        if not records:
            return result
        self.ensure_zoho_id_field()
        by_org: dict[str, list[Mapped]] = defaultdict(list)
        for rec in records:
            by_org[rec.organization_id].append(rec)
        for org, group in by_org.items():
            for start in range(0, len(group), READ_BATCH):
                chunk = group[start:start + READ_BATCH]
                ids = [r.zoho_id for r in chunk]
                tracked = _tracked(conn, org, ids)
                in_odoo = self._read(ids)
                for rec in chunk:
                    result.add(self._push(conn, rec, tracked.get(rec.zoho_id), in_odoo.get(rec.zoho_id)))
        return result

    def _read(self, zoho_ids: list[str]) -> dict[str, dict]:
        wanted = [f for _c, f in self.settings.odoo_field_map] + ["active", ZOHO_ID_FIELD, "product_variant_id"]
        rows = self.client.execute(TEMPLATE, "search_read", [(ZOHO_ID_FIELD, "in", zoho_ids)], fields=wanted,
                                   context=NO_ARCHIVE_FILTER)
        found: dict[str, dict] = {}
        for row in sorted(rows, key=lambda r: r["id"]):
            found.setdefault(row[ZOHO_ID_FIELD], row)  # the oldest wins if someone duplicated one
        return found

    def _push(self, conn: Connection, rec: Mapped, tracked, current: dict | None) -> OdooWriteResult:
        result = OdooWriteResult(seen=1)
        try:
            desired = odoo_values(self.settings, rec)
        except PriceError as exc:
            return self._failed(conn, rec, current, exc)
        digest = checksum(desired)
        image = product_image(self.settings, rec.zoho_id, rec.values)
        new_image = image if image and (tracked is None or tracked.image_sha256 != image.sha256 or current is None) \
            else None

        if current is None:
            if not desired["active"]:
                result.unchanged = 1  # deleted in Zoho before it ever reached Odoo: nothing to archive
                return result
            vals = {**dict(self.settings.odoo_product_defaults), **desired, ZOHO_ID_FIELD: rec.zoho_id}
            if new_image:
                vals["image_1920"] = base64.b64encode(new_image.read()).decode("ascii")
            try:
                template_id = self.client.execute(TEMPLATE, "create", vals)
                variant = self.client.execute(TEMPLATE, "read", [template_id], ["product_variant_id"])[0]
            except OdooError as exc:
                return self._failed(conn, rec, current, exc)
            result.created = 1
            self._record(conn, rec, template_id, _id(variant.get("product_variant_id")), desired, digest,
                         new_image, tracked, "create", desired)
            result.images = 1 if new_image else 0
            return result

        template_id = current["id"]
        now = {f: _normal(current.get(f), self.settings.odoo_price_digits) for f in desired}  # as sent
        diff = {f: v for f, v in desired.items() if now[f] != v}
        if tracked is not None and tracked.checksum == digest and not diff and not new_image:
            result.unchanged = 1
            return result
        digits = self.settings.odoo_price_digits
        sent = {f: _normal(v, digits) for f, v in (tracked.sent_values or {}).items()} if tracked is not None else {}
        # a conflict: Odoo holds something other than what TDS last sent (or TDS never sent it)
        conflict = {f: {"odoo": now[f], "zoho": v} for f, v in diff.items()
                    if tracked is None or (f in sent and sent[f] != now[f])}
        vals = dict(diff)
        if new_image:
            vals["image_1920"] = base64.b64encode(new_image.read()).decode("ascii")
        if vals:
            try:
                self.client.execute(TEMPLATE, "write", [template_id], vals)
            except OdooError as exc:
                return self._failed(conn, rec, current, exc)
        action = None
        if diff:
            action = {False: "archive", True: "unarchive"}.get(diff.get("active"), "update")
            result.archived, result.updated = (1, 0) if action == "archive" else (0, 1)
        else:
            result.unchanged = 0 if new_image else 1
        if conflict:
            result.conflicts = 1
            conn.execute(sa.insert(odoo_conflicts).values(
                organization_id=rec.organization_id, zoho_item_id=rec.zoho_id, odoo_template_id=template_id,
                fields=conflict, at=utcnow()))
            log.warning("Odoo product %s (Zoho item %s) was changed in Odoo; Zoho wins: %s", template_id,
                        rec.zoho_id, ", ".join(sorted(conflict)))
        result.images = 1 if new_image else 0
        self._record(conn, rec, template_id, _id(current.get("product_variant_id")), desired, digest, new_image,
                     tracked, action, diff)
        return result

    def _record(self, conn, rec: Mapped, template_id: int, variant_id, desired: dict, digest: str, image,
                tracked, action: str | None, changed: dict) -> None:
        at = utcnow()
        row = {"organization_id": rec.organization_id, "zoho_item_id": rec.zoho_id,
               "odoo_template_id": template_id, "odoo_product_id": variant_id, "checksum": digest,
               "sent_values": desired, "active": desired["active"], "pushed_at": at,
               "image_sha256": image.sha256 if image else (tracked.image_sha256 if tracked is not None else None)}
        stmt = dialect_insert(conn, odoo_products).values(row)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["organization_id", "zoho_item_id"],
            set_={k: stmt.excluded[k] for k in row if k not in ("organization_id", "zoho_item_id")}))
        if action:
            conn.execute(sa.insert(odoo_changes).values(
                organization_id=rec.organization_id, zoho_item_id=rec.zoho_id, odoo_template_id=template_id,
                action=action, fields=changed, at=at))
        if image:
            conn.execute(sa.insert(odoo_images).values(
                organization_id=rec.organization_id, zoho_item_id=rec.zoho_id, odoo_template_id=template_id,
                sha256=image.sha256, size_bytes=image.size_bytes, path=image.path, at=at))

    def _failed(self, conn, rec: Mapped, current, exc: Exception) -> OdooWriteResult:
        log.warning("Zoho item %s not pushed to Odoo: %s", rec.zoho_id, exc)
        conn.execute(sa.insert(odoo_changes).values(
            organization_id=rec.organization_id, zoho_item_id=rec.zoho_id,
            odoo_template_id=current["id"] if current else None, action="failed", fields={"error": str(exc)},
            at=utcnow()))
        return OdooWriteResult(seen=1, failed=1)


def _tracked(conn: Connection, organization_id: str, zoho_ids: list[str]) -> dict:
    rows = conn.execute(sa.select(odoo_products).where(odoo_products.c.organization_id == organization_id,
                                                       odoo_products.c.zoho_item_id.in_(zoho_ids)))
    return {row.zoho_item_id: row for row in rows}


def _id(many2one):
    return many2one[0] if many2one else None
