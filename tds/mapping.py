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
from typing import Any

import sqlalchemy as sa

from tds.config import Settings
from tds.db import UTC, as_decimal


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
    # what was left out of this record and why (child rows skipped, child fields stored as
    # NULL), kept in the row's ``tds_note``; and how many child rows were skipped
    notes: list[str] = field(default_factory=list)
    skipped: int = 0


# ------------------------------------------------------------------ what may be stored
# Small checks the conversions below call, kept apart from them: being liberal in what is
# read (formats) and strict in what is stored (these limits) are separate concerns.

ZOHO_ID_MAX = 32  # the width of every zoho_*_id column
EARLIEST_TIME = dt.datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)  # clock skew and time zones; never years ahead


def record_id(value, name: str = "id") -> str:
    """A record's Zoho id: digits, as Zoho sends them (a string, or a JSON integer).

    Surrounding spaces are dropped, so `` 123 `` is the same record as ``123``. Floats
    (``1.5e3``), booleans, objects and lists are refused: Zoho never sends them, and
    ``str()`` of them would make an id that names no record.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MappingError(f"{name} must be a string of digits, got {type(value).__name__} {value!r:.60}")
    raw = str(value).strip()
    if not raw:
        raise MappingError(f"{name} is empty")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > ZOHO_ID_MAX:
        raise MappingError(f"{name} must be 1 to {ZOHO_ID_MAX} digits, got {raw!r:.60}")
    return raw


def sane_time(value: dt.datetime | None, name: str = "time") -> dt.datetime | None:
    """A Zoho time within a sane window: not before 2000 and not more than a day ahead.

    A version stamped in 2999 would win every stale-write comparison and freeze the row.
    """
    if value is not None and not (EARLIEST_TIME <= value <= dt.datetime.now(UTC) + FUTURE_TOLERANCE):
        raise MappingError(f"{name} {value.isoformat()} is outside the accepted window (2000 to tomorrow)")
    return value


def finite(value: Decimal | None, name: str = "amount") -> Decimal | None:
    """Money and quantities are finite: NaN, sNaN and Infinity are refused."""
    if value is not None and not value.is_finite():
        raise MappingError(f"{name} is not a finite number: {value}")
    return value


def plain_text(value) -> None:
    """Text fields hold text (or a number Zoho sent bare), never an object or a list,
    whose ``str()`` would be stored as if it were the value."""
    if isinstance(value, (dict, list, tuple)):
        raise MappingError(f"expected text, got {type(value).__name__} {str(value)[:60]!r}")


def date_text(raw: str) -> str:
    """The date part of ``2025-01-09`` or ``2025-01-09T10:00:00+0530``; anything after the
    date other than a time is refused (``2025-01-09garbage``)."""
    if len(raw) > 10 and raw[10] not in "T ":
        raise MappingError(f"unreadable date {raw!r:.60}")
    return raw[:10]


# ------------------------------------------------------------------ conversions


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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-1200 is past the last representable time
        raise _refuse(name, value, "a Zoho time within range") from None


def parse_date(value, name: str = "date") -> dt.date | None:
    """``2024-02-26`` (or a time, whose date part is taken); ``""`` and null are none."""
    if blank(value):
        return None
    try:
        return dt.date.fromisoformat(date_text(str(value).strip()))
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
        number = as_decimal(digits)
    except (InvalidOperation, ValueError):
        raise _refuse(name, value, "a number") from None
    return finite(number, name)


def percent(value, name: str = "percentage") -> Decimal | None:
    """A percentage: ``5``, ``"5"`` or ``"5%"`` are all 5; ``""`` and null are none."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return dec(value.strip()[:-1], name)
    return dec(value, name)


def text(value, limit: int | None = None) -> str | None:
    if value is None:
        return None
    plain_text(value)
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


def texts(record: dict, table: sa.Table, *same: str, **renamed: str) -> dict[str, str | None]:
    """Text columns of ``table`` copied from ``record``, each cut to its column's length.

    ``same`` names columns filled from the Zoho field of the same name, ``renamed`` maps a
    column to the Zoho field it comes from (``phone="Phone"``).
    """
    sources = {**{name: name for name in same}, **renamed}
    out = {}
    for col, src in sources.items():
        try:
            out[col] = text(record.get(src), getattr(table.c[col].type, "length", None))
        except MappingError as exc:
            raise MappingError(f"{src}: {exc}") from None
    return out


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


# ------------------------------------------------------------------ child rows
# A child row (a line, an allocation, a stock row, a contact person, a price-list entry)
# follows its parent's rule: it is refused only for what identifies it. A child row that
# is not an object or has no id of its own is skipped and counted; any other field that is
# missing or unreadable is stored as NULL. Both are said in the record's note; a child row
# never dead-letters the document it belongs to.


class ChildRow:
    """One entry of a child list, read leniently: each reader takes the first of the
    field's documented spellings that is there, and a value that cannot be read is stored
    as NULL with a note (``credit_note 7 invoices[42]: amount: 'n/a' is not a number``)."""

    def __init__(self, entry: dict, ident: str, position: int, where: str, notes: list[str]):
        self.entry, self.id, self.position, self.where, self._notes = entry, ident, position, where, notes

    def raw(self, *names: str):
        """The first of ``names`` the entry carries with a value (None when none is there)."""
        for name in names:
            if not blank(self.entry.get(name)):
                return self.entry[name]
        return None

    def _read(self, convert, names: tuple[str, ...], *args):
        value = self.raw(*names)
        try:
            return convert(value, *args) if args else convert(value, names[0])
        except MappingError as exc:
            self._notes.append(f"{self.where}: {exc} (stored as NULL)")
            return None

    def figure(self, *names: str) -> Decimal | None:
        return self._read(dec, names)

    def percent(self, *names: str) -> Decimal | None:
        return self._read(percent, names)

    def date(self, *names: str) -> dt.date | None:
        return self._read(parse_date, names)

    def whole(self, *names: str) -> int | None:
        return self._read(integer, names)

    def flag(self, *names: str) -> bool | None:
        return self._read(boolean, names)

    def text(self, name: str, limit: int | None = None) -> str | None:
        return self._read(text, (name,), limit)

    def texts(self, table: sa.Table, *same: str) -> dict[str, str | None]:
        return {name: self.text(name, getattr(table.c[name].type, "length", None)) for name in same}

    def discount(self, name: str) -> tuple[Decimal | None, Decimal | None]:
        found = self._read(discount, (name,), name)
        return found if found is not None else (None, None)

    def ref(self, *names: str) -> str | None:
        """A Zoho id the row refers to (an item, a warehouse); ``""`` and ``0`` are none."""
        value = self.raw(*names)
        if value is not None and (isinstance(value, (dict, list, bool)) or not str(value).strip().isdigit()):
            self._notes.append(f"{self.where}: {names[0]}: {value!r:.60} is not a Zoho id (stored as NULL)")
            return None
        return zoho_id(value)


def child_rows(fields: Fields, record: dict, keys: tuple[str, ...], identity: tuple[str, ...], where: str,
               build) -> list[dict] | None:
    """The rows ``build(ChildRow)`` makes of the first of ``keys`` the record carries (its
    documented spellings); None when it carries none, so the stored rows stay as they are.

    An entry that is not an object, or whose id (the first of ``identity`` it has) is
    missing or not a Zoho id, is skipped: counted in ``fields.skipped`` and said in
    ``fields.notes``. Nothing here raises :class:`MappingError`.
    """
    key = next((k for k in keys if record.get(k) is not None), None)
    if key is None:
        return None
    entries = record[key]
    if not isinstance(entries, list):
        fields.notes.append(f"{where} {key}: not a list, stored rows kept")
        return None
    rows = []
    for position, entry in enumerate(entries, start=1):
        raw_id = next((entry.get(n) for n in identity if not blank(entry.get(n))), None) \
            if isinstance(entry, dict) else None
        try:
            ident = record_id(raw_id, identity[0]) if raw_id is not None else None
        except MappingError:
            ident = None
        if ident is None:
            fields.skipped += 1
            reason = "not an object" if not isinstance(entry, dict) else f"no {identity[0]}"
            fields.notes.append(f"{where} {key}[{position}] skipped: {reason}")
            continue
        rows.append(build(ChildRow(entry, ident, position, f"{where} {key}[{ident}]", fields.notes)))
    return rows


def require(record: dict, *names: str) -> None:
    missing = [n for n in names if blank(record.get(n))]
    if missing:
        raise MappingError(f"missing required field(s): {', '.join(missing)}")
