"""How the simulator writes its records: ``canonical``, ``sparse`` or ``varied`` shapes.

Records are stored in one canonical form; the shape is applied when a list, a detail or
``/itemdetails`` is served, so every view of a record shows the same shape.

``canonical``
    Zoho's usual shapes, exactly as stored (the default).
``sparse``
    Every figure a real organization may leave out is left out (``docs/entities.md`` lists
    them per entity): a credit note has ``sub_total``, ``total``, ``balance`` and
    ``taxes[]`` but no ``tax_total``, a bill has neither ``tax_total`` nor ``taxes[]``, …
``varied``
    Values written the ways Zoho organizations write them: numbers as JSON numbers, as
    strings (``"85.00"``), as formatted strings (``"1,234.50"``, with a
    ``<field>_formatted`` sibling), or null where the figure is optional; percentages as
    ``"5%"``; times with ``+0300``, ``+03:00`` or ``Z``; booleans as ``"true"``/``"false"``.
    A field Zoho documents under two names is written either way (a credit note's
    ``invoices[].amount_applied`` as ``amount``). The first organization has no Inventory
    adjustments (the list answers 404) and the account has no CRM (every CRM list answers 404).
``minimal``
    Only what Zoho documents as always there, derived from each resource's description
    (:func:`identity`): its id, its name, the fields it declares ``always``, its modified
    time where Zoho's list carries one; child entries keep only their ``*_id`` keys. A new
    resource gets this shape from its declaration alone. :func:`drop_one` yields a record
    once without each field ``minimal`` leaves out, for tests.

Every choice is a function of the seed, the resource, the record's id and the field: the
same seed always serves the same shapes, and a record looks the same in its list row and
its detail.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterator

SHAPES = ("canonical", "sparse", "varied", "minimal")

_DOCUMENT = ("tax_total", "payment_made", "credits_applied", "exchange_rate", "discount", "adjustment",
             "shipping_charge", "write_off_amount")
_LINE = ("discount", "tax_id", "tax_name", "tax_percentage", "item_total")

#: Per resource: (top-level fields left out, fields left out of each ``line_items[]`` entry).
SPARSE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "invoices": ((*_DOCUMENT, "balance"), _LINE),
    "creditnotes": ((*_DOCUMENT,), _LINE),
    "bills": ((*_DOCUMENT, "sub_total", "taxes", "balance"), _LINE),
    "salesorders": ((*_DOCUMENT, "sub_total", "taxes"), _LINE),
    "customerpayments": (("unused_amount", "bank_charges", "exchange_rate"), ()),
    "contacts": (("outstanding_receivable_amount", "unused_credits_receivable_amount", "outstanding_payable_amount",
                  "payment_terms", "currency_code"), ()),
    "items": (("rate", "purchase_rate", "stock_on_hand", "available_stock", "reorder_level", "tax_percentage"), ()),
    "inventoryadjustments": ((), ("value_adjusted",)),
}

#: Resources the first organization does not have under ``varied`` (their lists answer 404).
VARIED_MISSING = frozenset({"inventoryadjustments"})

#: Per resource, per child list: fields Zoho documents under another name, and that name
#: (written so for half of the entries under ``varied``).
SPELLINGS: dict[str, dict[str, dict[str, str]]] = {
    "creditnotes": {"invoices": {"amount_applied": "amount"}},
}

_PERCENT_FIELDS = frozenset({"tax_percentage", "percentage"})
_KEEP = frozenset({"item_order"})  # whole numbers other code sorts by stay numbers


def _pick(seed: int, *where: object) -> int:
    """A stable number in 0..99 for one field of one record."""
    digest = hashlib.blake2b(":".join(map(str, (seed, *where))).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100


def present(config, resource, record: dict, org: str | None = None) -> dict:
    """``record`` (stored, canonical) as the configured shapes serve it; never changes it."""
    shapes = getattr(config, "shapes", "canonical")
    if shapes == "canonical":
        return record
    if shapes == "sparse":
        return _sparse(resource.name, record)
    if shapes == "minimal":
        return minimal(resource, record)
    return _varied(config.seed, resource, record)


def identity(resource) -> frozenset[str]:
    """The top-level fields Zoho always writes for ``resource``: its id, its name, what it
    declares ``always``, and its modified time where Zoho's list carries one."""
    return frozenset(f for f in (resource.id_field, resource.name_field, *resource.always,
                                 resource.mtime_field if resource.list_mtime else None) if f)


def _child_identity(key: str) -> bool:
    return key.endswith("_id") or key == "id"


def minimal(resource, record: dict) -> dict:
    """``record`` with only what :func:`identity` names; each child list (a list of
    objects) is kept with only the ``*_id`` keys of its entries."""
    keep = identity(resource)
    out = {}
    for key, value in record.items():
        if key in keep:
            out[key] = value
        elif isinstance(value, list) and value and all(isinstance(e, dict) for e in value):
            out[key] = [{k: v for k, v in e.items() if _child_identity(k)} for e in value]
    return out


def drop_one(resource, record: dict) -> Iterator[tuple[str, dict]]:
    """``record`` once without each field :func:`minimal` leaves out, as (path, record): a
    top-level field (``balance``), or one field of every entry of a child list
    (``line_items[].quantity``)."""
    keep = identity(resource)
    for key, value in record.items():
        if key in keep:
            continue
        yield key, {k: v for k, v in record.items() if k != key}
        if isinstance(value, list) and value and all(isinstance(e, dict) for e in value):
            for name in dict.fromkeys(k for e in value for k in e if not _child_identity(k)):
                yield f"{key}[].{name}", {**record, key: [{k: v for k, v in e.items() if k != name} for e in value]}


def missing(config, org: str | None, resource) -> bool:
    """Whether this organization (None: the CRM account) lacks the resource under these shapes."""
    if getattr(config, "shapes", "canonical") != "varied":
        return False
    if resource.crm:
        return True
    return org == config.organizations[0] and resource.name in VARIED_MISSING


def _sparse(name: str, record: dict) -> dict:
    top, line = SPARSE.get(name, ((), ()))
    if name == "pricebooks" and record.get("pricebook_type") == "per_item":
        top = ("percentage",)
    out = {k: v for k, v in record.items() if k not in top}
    if line and isinstance(out.get("line_items"), list):
        out["line_items"] = [{k: v for k, v in li.items() if k not in line} for li in out["line_items"]]
    return out


def _optional(resource_name: str) -> tuple[frozenset, frozenset]:
    top, line = SPARSE.get(resource_name, ((), ()))
    return frozenset(top), frozenset(line)


def _varied(seed: int, resource, record: dict) -> dict:
    rid = record.get(resource.id_field, "")
    top, line = _optional(resource.name)
    out = _vary_fields(seed, resource.name, rid, "", record, top)
    for key, value in list(out.items()):
        if isinstance(value, list):
            spelled = SPELLINGS.get(resource.name, {}).get(key, {})
            out[key] = [
                _respell(seed, resource.name, rid, f"{key}[{i}].", spelled,
                         _vary_fields(seed, resource.name, rid, f"{key}[{i}].", entry,
                                      line if key == "line_items" else ()))
                if isinstance(entry, dict) else entry
                for i, entry in enumerate(value)
            ]
    return out


def _respell(seed: int, name: str, rid, path: str, spelled: dict[str, str], entry: dict) -> dict:
    """``entry`` with each field of ``spelled`` written under its other name half of the time."""
    for field, other in spelled.items():
        if field in entry and _pick(seed, name, rid, path + field, "spelling") < 50:
            entry = {(other if k == field else k): v for k, v in entry.items()}
    return entry


def _vary_fields(seed: int, name: str, rid, path: str, record: dict, optional) -> dict:
    out = {}
    for key, value in record.items():
        roll = _pick(seed, name, rid, path + key)
        if isinstance(value, bool):
            out[key] = ("true" if value else "false") if roll < 50 else value
        elif isinstance(value, (int, Decimal)) and key not in _KEEP:
            if key in optional and roll < 15:
                out[key] = None
            elif key in _PERCENT_FIELDS and roll < 50:
                out[key] = f"{value}%"
            elif isinstance(value, Decimal) and roll < 45:
                out[key] = f"{value:,}"
                out[f"{key}_formatted"] = f"SAR{value:,}"
            elif roll < 75:
                out[key] = str(value)
            else:
                out[key] = value
        elif isinstance(value, str) and key.lower().endswith("_time") and len(value) >= 24:
            out[key] = _time(value, roll)
        else:
            out[key] = value
    return out


def _time(value: str, roll: int) -> str:
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return value
    if roll < 33:
        return value
    if roll < 66:
        text = parsed.strftime("%Y-%m-%dT%H:%M:%S%z")
        return text[:-2] + ":" + text[-2:]
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
