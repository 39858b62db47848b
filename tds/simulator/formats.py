"""How Zoho writes values: Decimals that keep their digits, times with the organization's offset, JSON."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import simplejson

Q2 = Decimal("0.01")
Q6 = Decimal("0.000001")
ZERO2 = Decimal("0.00")
ZERO6 = Decimal("0.000000")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Q2, ROUND_HALF_UP)


def stock(value) -> Decimal:
    return Decimal(str(value)).quantize(Q6, ROUND_HALF_UP)


def parse_offset(offset: str) -> timezone:
    text = offset.replace(":", "").strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def format_time(ts: int, tz: timezone, colon: bool = False) -> str:
    text = datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%dT%H:%M:%S%z")
    return text[:-2] + ":" + text[-2:] if colon else text


def format_date(ts: int, tz: timezone) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")


def parse_zoho_time(text: str, tz) -> int:
    """Epoch seconds of ``2025-01-09T14:30:01+0300`` / ``-0800`` / ``+03:00`` / ``Z`` / no offset."""
    value = text.strip().replace(" ", "+")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return int(datetime.strptime(value, fmt).timestamp())
        except ValueError:
            pass
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=tz).timestamp())
        except ValueError:
            pass
    raise ValueError(text)


def camel_to_snake(text: str) -> str:
    """``PartiallyPaid`` → ``partially_paid`` (``filter_by`` values name statuses in camel case)."""
    out = ""
    for i, ch in enumerate(text):
        out += ("_" if i and ch.isupper() else "") + ch.lower()
    return out


def dumps(obj) -> bytes:
    """JSON the way Zoho writes it: Decimals keep their digits (``85.00``, ``1.000000``), UTF-8."""
    return simplejson.dumps(obj, use_decimal=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(data):
    return simplejson.loads(data, use_decimal=True)


def deep_copy(value):
    """A copy of JSON-like data (Decimals and strings are immutable and shared)."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
