"""What a mapper returns, and the small conversions every mapper uses.

A mapper is a pure function ``mapper(entity, record, ctx) -> Fields``. It turns one Zoho
record into :class:`Fields`: the row for the entity's table, the child rows that came with
it (only the child tables the record actually carried, so a list row without line items
never wipes them), and records of other entities found inside it (warehouses inside an
item detail). :meth:`tds.registry.Entity.map` checks the entity's required fields before
it calls the mapper, and adds what every entity shares (Zoho id, organization, Zoho's
modified time, the raw record) to make the :class:`Mapped` record the sinks write. A record
that cannot be made valid raises :class:`MappingError`; it goes to the dead letter with
the reason, never half-filled into the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from tds.config import Settings
from tds.db import UTC, as_decimal

if TYPE_CHECKING:  # the registry imports the mappers, which import this module
    import sqlalchemy as sa

    from tds.registry import Entity


class MappingError(ValueError):
    """The record cannot be mapped into a valid row (fatal: dead letter, no retry)."""


@dataclass
class MapContext:
    organization_id: str
    settings: Settings | None = None


@dataclass
class Fields:
    """What a mapper makes of one record: the entity's own columns and what came with it."""

    values: dict[str, Any]
    children: dict[str, list[dict]] = field(default_factory=dict)  # child table name → rows
    # records of other entities found inside this one, as (entity name, Zoho record)
    related: list[tuple[str, dict]] = field(default_factory=list)
    # records of other entities this one says have changed (a stock adjustment changes
    # its items' stock): each becomes a fetch request, as (entity name, Zoho id)
    refresh: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Mapped:
    """One record ready for the sinks: the mapper's fields with what every entity shares."""

    entity: Entity
    organization_id: str
    zoho_id: str
    modified: dt.datetime | None
    values: dict[str, Any]
    raw: dict
    children: dict[str, list[dict]] = field(default_factory=dict)
    related: list["Mapped"] = field(default_factory=list)  # the mapper's related, mapped
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


def texts(record: dict, table: "sa.Table", *same: str, **renamed: str) -> dict[str, str | None]:
    """Text columns of ``table`` copied from ``record``, each cut to its column's length.

    ``same`` names columns filled from the Zoho field of the same name, ``renamed`` maps a
    column to the Zoho field it comes from (``phone="Phone"``).
    """
    sources = {**{name: name for name in same}, **renamed}
    return {col: text(record.get(src), getattr(table.c[col].type, "length", None)) for col, src in sources.items()}


def amount(record: dict, name: str, required: bool = False) -> Decimal | None:
    """A figure of the record as a Decimal; a required one must be there and be a number."""
    value = record.get(name)
    if value in (None, ""):
        if required:
            raise MappingError(f"missing required figure {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str)):
        raise MappingError(f"{name} is not a number: {value!r}")
    return dec(value, name)


def discount(value, name: str = "discount") -> tuple[Decimal | None, Decimal | None]:
    """Zoho's discount as (amount, percent): ``12.50`` is an amount, ``"5%"`` a percentage."""
    if value in (None, ""):
        return None, None
    if isinstance(value, str) and value.strip().endswith("%"):
        return None, dec(value.strip()[:-1], name)
    return dec(value, name), None


def require(record: dict, *names: str) -> None:
    missing = [n for n in names if record.get(n) in (None, "")]
    if missing:
        raise MappingError(f"missing required field(s): {', '.join(missing)}")
