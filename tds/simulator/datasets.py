"""The tables of one organization (and of the CRM account), with their ids, clock and lookups.

A dataset holds every record of its resources in Zoho's detail form, next to its created and
modified times as epoch seconds; times are formatted with the organization's UTC offset.
Everything is drawn from ``random.Random`` seeded by (seed, organization), so the same seed
always gives the same records. The family modules (:mod:`tds.simulator.families`) fill the
tables through :meth:`Dataset.generate`; list rows are derived from the records
(:func:`tds.simulator.resources.list_row`).
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import date, datetime, timezone
from typing import Callable, Iterable

from .formats import format_date, format_time
from .vocabulary import CATEGORIES, ROLES

#: Generated history ends here (local time of the organization); run-time changes use the clock.
REFERENCE_DATE = (2025, 6, 30, 12, 0, 0)
HISTORY_DAYS = 730


class IdSource:
    """Zoho-style 19-digit numeric string ids: an account prefix and a rising counter."""

    def __init__(self, prefix: int, rng: random.Random):
        self.prefix = str(prefix)
        self.counter = 10000 + rng.randint(0, 5000)

    def next(self) -> str:
        self.counter += 1 + (self.counter % 7 == 0) * 2
        return f"{self.prefix}{self.counter:012d}"


def _stable_int(*parts) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16)


class Dataset:
    """Records by resource, their times, and the clock rules every change follows."""

    ctime_field = "created_time"
    mtime_field = "last_modified_time"
    colon = False  # ``+03:00`` (CRM) rather than ``+0300``

    def __init__(self, rng: random.Random, ids: IdSource, counts: dict, tz: timezone):
        self.rng = rng
        self.ids = ids
        self.counts = counts
        self.tz = tz
        self.ref_ts = int(datetime(*REFERENCE_DATE, tzinfo=tz).timestamp())
        self.ref_date = datetime(*REFERENCE_DATE, tzinfo=tz).date()
        self.rows: dict[str, dict[str, dict]] = {}
        self.ctime: dict[str, dict[str, int]] = {}
        self.mtime: dict[str, dict[str, int]] = {}
        self.numbers: dict[str, int] = {}

    def generate(self, steps: Iterable[Callable]) -> Dataset:
        for step in steps:
            step(self)
        return self

    def count(self, name: str) -> int:
        """How many ``name`` records the seed generates: none when the configuration has no
        such count (a simulator started on its own knows only
        :data:`tds.simulator.config.FULL_COUNTS`)."""
        return self.counts.get(name, 0)

    # ------------------------------------------------------------------ times
    def fmt(self, ts: int) -> str:
        return format_time(ts, self.tz, colon=self.colon)

    def day(self, ts: int) -> str:
        return format_date(ts, self.tz)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    def history_times(self) -> tuple[int, int]:
        """A (created, modified) pair drawn from the generated history."""
        created = self.ref_ts - self.rng.randint(3600, HISTORY_DAYS * 86400)
        modified = created + int((self.ref_ts - created) * self.rng.random() ** 2)
        return created, modified

    def sorted_history_times(self, n: int) -> list[tuple[int, int]]:
        return sorted(self.history_times() for _ in range(n))

    # ------------------------------------------------------------------ records
    def put(self, resource: str, id_: str, record: dict, ctime: int, mtime: int) -> None:
        self.rows.setdefault(resource, {})[id_] = record
        self.ctime.setdefault(resource, {})[id_] = ctime
        self.mtime.setdefault(resource, {})[id_] = mtime
        record[self.ctime_field] = self.fmt(ctime)
        record[self.mtime_field] = self.fmt(mtime)

    def place(self, resource: str, id_: str, record: dict, ts: int | None) -> None:
        """Store a new record: created and modified at ``ts``, or at times drawn from history."""
        created, modified = (ts, ts) if ts is not None else self.history_times()
        self.put(resource, id_, record, created, modified)

    def touch(self, resource: str, id_: str, ts: int) -> None:
        """A later event (payment, credit) modified this record at ``ts`` during history."""
        if ts > self.mtime[resource][id_]:
            self.mtime[resource][id_] = ts
            self.rows[resource][id_][self.mtime_field] = self.fmt(ts)

    def stamp(self, resource: str, id_: str, ts: int | None = None) -> None:
        """The record changed now: its modified time becomes ``max(now, previous + 1 s)`` (or ``ts``)."""
        mtimes = self.mtime[resource]
        if ts is None:
            ts = max(int(time.time()), mtimes.get(id_, 0) + 1)
        mtimes[id_] = ts
        self.rows[resource][id_][self.mtime_field] = self.fmt(ts)

    def next_number(self, kind: str) -> int:
        self.numbers[kind] = self.numbers.get(kind, 0) + 1
        return self.numbers[kind]


class OrgData(Dataset):
    """One Books/Inventory organization: its tables plus the lookups records refer to."""

    def __init__(self, org_id: str, index: int, seed: int, counts: dict, tz: timezone):
        rng = random.Random(f"tds-simulator:{seed}:{org_id}")
        super().__init__(rng, IdSource(3000000 + _stable_int(seed, org_id) % 6000000, rng), counts, tz)
        self.org_id = org_id
        self.shape = "warehouses" if index % 2 == 0 else "locations"
        self.email_domain = f"org{org_id[-4:]}.example.com"
        self.warehouse_list: list[dict] = []  # the generated warehouses, primary first
        self.sellable: list[dict] = []  # the generated active items
        self.adjustment_reasons: list[tuple[str, str]] = []
        ids = self.ids
        self.currencies = {"SAR": ids.next(), "USD": ids.next(), "AED": ids.next()}
        self.taxes = [("", "", 0), (ids.next(), "VAT", 15), (ids.next(), "VAT 5%", 5)]
        self.tax_by_id = {t[0]: t for t in self.taxes if t[0]}
        self.categories = [(ids.next(), c) for c in CATEGORIES]
        self.accounts = {"sales": (ids.next(), "Sales"), "cogs": (ids.next(), "Cost of Goods Sold"),
                         "inventory": (ids.next(), "Inventory Asset"), "petty": (ids.next(), "Petty Cash"),
                         "undeposited": (ids.next(), "Undeposited Funds"), "bank": (ids.next(), "Bank Account")}
        self.role_ids = {label: ids.next() for _, label in ROLES}

    def phone(self) -> str:
        return f"+9661{self.rng.randint(10000000, 99999999)}"

    def mobile(self) -> str:
        return f"+9665{self.rng.randint(10000000, 99999999)}"

    def contacts_of_type(self, contact_type: str) -> list[dict]:
        return [c for c in self.rows.get("contacts", {}).values() if c["contact_type"] == contact_type]


class CrmData(Dataset):
    """Zoho CRM (one CRM account, shared by every organization) and its record owners."""

    ctime_field = "Created_Time"
    mtime_field = "Modified_Time"
    colon = True

    def __init__(self, seed: int, counts: dict, tz: timezone):
        rng = random.Random(f"tds-simulator-crm:{seed}")
        super().__init__(rng, IdSource(5725767, rng), counts, tz)
        self.owners: list[dict] = []
