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

The conversions here (:func:`dec`, :func:`percent`, :func:`discount`, :func:`integer`,
:func:`boolean`, :func:`parse_date`, :func:`parse_zoho_time`, :func:`zoho_id`, :func:`text`)
are liberal in the forms they accept (``docs/entities.md`` lists them) and are the one place
a rule about a value belongs: every mapper reads Zoho's values through them, and every
refusal names the field and the value (``balance: 'n/a' is not a number``).
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


def _refuse(name: str, value, what: str) -> MappingError:
    """The one error every conversion raises: the field, the value, and what was expected."""
    return MappingError(f"{name}: {value!r} is not {what}")


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_zoho_time(value, name: str = "time") -> dt.datetime | None:
    """A Zoho time in UTC: ``2024-02-26T15:44:57+0200`` (Books/Inventory), ``…+02:00`` (CRM)
    or ``…Z``; ``""`` and null are none. A time without an offset is refused."""
    if blank(value):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        raw = value.strip()
        if len(raw) > 19 and raw[19] == " ":  # a "+" that was URL-decoded into a space
            raw = raw[:19] + "+" + raw[20:]
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise _refuse(name, value, "a Zoho time") from None
    else:
        raise _refuse(name, value, "a Zoho time")
    if parsed.tzinfo is None:
        raise _refuse(name, value, "a Zoho time with an offset")
    return parsed.astimezone(UTC)


def parse_date(value, name: str = "date") -> dt.date | None:
    """``2024-02-26`` (or a time, whose date part is taken); ``""`` and null are none."""
    if blank(value):
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise _refuse(name, value, "a date") from None


def dec(value, name: str = "amount") -> Decimal | None:
    """A number as Zoho may write it: a JSON number, ``"12.50"``, ``"1,234.50"`` (the
    ``*_formatted`` siblings are never read); ``""`` and null are none."""
    if blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _refuse(name, value, "a number")
    digits = value.strip().replace(",", "").replace("\u00a0", "").replace(" ", "") if isinstance(value, str) else value
    try:
        return as_decimal(digits)
    except (InvalidOperation, ValueError):
        raise _refuse(name, value, "a number") from None


def percent(value, name: str = "percentage") -> Decimal | None:
    """A percentage: ``5``, ``"5"`` or ``"5%"`` are all 5; ``""`` and null are none."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return dec(value.strip()[:-1], name)
    return dec(value, name)


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


def integer(value, name: str = "number") -> int | None:
    """A whole number (``30``, ``"30"``, ``"30.0"``); ``""`` and null are none."""
    number = dec(value, name)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise _refuse(name, value, "a whole number")
    return int(number)


_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def boolean(value, name: str = "flag") -> bool | None:
    """``true``/``false`` as JSON or as strings (``"true"``, ``"1"``, ``"yes"``…); ``""`` and null are none."""
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise _refuse(name, value, "true or false")


def texts(record: dict, table: "sa.Table", *same: str, **renamed: str) -> dict[str, str | None]:
    """Text columns of ``table`` copied from ``record``, each cut to its column's length.

    ``same`` names columns filled from the Zoho field of the same name, ``renamed`` maps a
    column to the Zoho field it comes from (``phone="Phone"``).
    """
    sources = {**{name: name for name in same}, **renamed}
    return {col: text(record.get(src), getattr(table.c[col].type, "length", None)) for col, src in sources.items()}


def amount(record: dict, name: str, required: bool = False) -> Decimal | None:
    """A figure of the record as a Decimal (see :func:`dec`); a required one must be there."""
    value = record.get(name)
    if blank(value) and required:
        raise MappingError(f"missing required figure {name}")
    return dec(value, name)


def discount(value, name: str = "discount") -> tuple[Decimal | None, Decimal | None]:
    """Zoho's discount as (amount, percent): ``12.50`` is an amount, ``"5%"`` a percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return None, percent(value, name)
    return dec(value, name), None


def require(record: dict, *names: str) -> None:
    missing = [n for n in names if blank(record.get(n))]
    if missing:
        raise MappingError(f"missing required field(s): {', '.join(missing)}")
