"""What a mapper returns, and the small conversions every mapper uses.

A mapper turns one Zoho record into a :class:`Mapped`: the row for the entity's table, the
child rows that came with it (only the child tables the record actually carried, so a list
row without line items never wipes them), and records of other entities found inside it
(warehouses inside an item detail). A record that cannot be made valid raises
:class:`MappingError`; it goes to the dead letter with the reason, never half-filled into
the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tds.config import Settings
from tds.db import UTC, as_decimal
from tds.registry import Entity


class MappingError(ValueError):
    """The record cannot be mapped into a valid row (fatal: dead letter, no retry)."""


@dataclass
class MapContext:
    organization_id: str
    settings: Settings | None = None


@dataclass
class Mapped:
    entity: Entity
    organization_id: str
    zoho_id: str
    modified: dt.datetime | None
    values: dict[str, Any]
    raw: dict
    children: dict[str, list[dict]] = field(default_factory=dict)
    related: list["Mapped"] = field(default_factory=list)
    # records of other entities this one says have changed (a stock adjustment changes
    # its items' stock): each becomes a fetch request, as (entity name, Zoho id)
    refresh: list[tuple[str, str]] = field(default_factory=list)


def parse_zoho_time(value) -> dt.datetime | None:
    """Zoho's ``2024-02-26T15:44:57+0200`` (Books/Inventory) or ``…+02:00`` (CRM), in UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        raw = str(value).strip()
        if len(raw) > 19 and raw[19] == " ":  # a "+" that was URL-decoded into a space
            raw = raw[:19] + "+" + raw[20:]
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise MappingError(f"unreadable Zoho time {value!r}") from None
    if parsed.tzinfo is None:
        raise MappingError(f"Zoho time without an offset {value!r}")
    return parsed.astimezone(UTC)


def parse_date(value) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MappingError(f"unreadable date {value!r}") from None


def dec(value, name: str = "amount") -> Decimal | None:
    try:
        return as_decimal(value)
    except (InvalidOperation, ValueError):
        raise MappingError(f"{name} is not a number: {value!r}") from None


def text(value, limit: int | None = None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if value == "":
        return None
    return value[:limit] if limit else value


def zoho_id(value) -> str | None:
    """A Zoho id as text (``""`` and ``0`` mean none)."""
    if value in (None, "", 0, "0"):
        return None
    return str(value).strip()


def integer(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise MappingError(f"not a whole number: {value!r}") from None


def boolean(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def require(record: dict, *names: str) -> None:
    missing = [n for n in names if record.get(n) in (None, "")]
    if missing:
        raise MappingError(f"missing required field(s): {', '.join(missing)}")


def base(entity: Entity, record: dict, ctx: MapContext, values: dict, **kwargs) -> Mapped:
    """The Mapped record for ``entity``, with the id and modified time read from ``record``."""
    require(record, entity.id_field)
    return Mapped(
        entity=entity,
        organization_id=ctx.organization_id,
        zoho_id=str(record[entity.id_field]),
        modified=parse_zoho_time(record.get(entity.modified_field)) if entity.modified_field else None,
        values=values,
        raw=record,
        **kwargs,
    )
