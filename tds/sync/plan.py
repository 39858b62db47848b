"""What a sync or a reconcile will cost in Zoho API calls, before it starts.

Zoho gives no total count, so the estimate starts from the rows already here. An entity
with no rows yet (a first sync) is counted by paging its list — which costs those list
calls, and the plan says so. Those pages are not read twice: kept in :class:`ListedPages`
(spooled to a temporary file), the sync that follows in the same command takes them in
place of its own first read of the list (:func:`reusing`), so a run reads each list page
once. Pages older than :data:`REUSE_SECONDS` are dropped and read again. Detail calls: a first sync fetches every record of an
entity whose list leaves fields out (one call each; items in bulk, 100 a call); a later
full sync or a reconcile fetches only what changed, which no plan can know, so it counts
none and says "plus one per changed record". Time is the calls at
``TDS_ZOHO_RATE_LIMIT`` per minute; the budget check compares the calls with what is left
of the organization's day (:meth:`tds.zoho.ratelimit.DailyQuota.remaining`).
"""

from __future__ import annotations

import math
import pickle
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from tds.registry import Entity
from tds.runs import Mode
from tds.sinks import sql as sql_sink
from tds.zoho.errors import ZohoError

PAGE = 200


@dataclass(frozen=True)
class Estimate:
    organization_id: str
    entity: str
    records: int | None  # rows here, or counted from Zoho's list
    list_calls: int
    detail_calls: int
    counted_calls: int = 0  # list calls the plan itself made to count a first sync
    reused: bool = False  # the sync takes the pages it counted: those calls are spent already

    @property
    def calls(self) -> int:
        return self.list_calls + self.detail_calls

    @property
    def calls_to_come(self) -> int:
        return self.calls - (self.counted_calls if self.reused else 0)


#: how long the pages a plan read stay good for the sync after it
REUSE_SECONDS = 600


class ListedPages:
    """List pages a plan read, per (organization, entity), handed once to the sync after it.

    Each entity's pages go to a temporary file as they are read (memory stays one page),
    pickled, which keeps Zoho's values (``Decimal``) exactly as the client parsed them.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], tuple[float, int, object, int]] = {}
        self._lock = threading.Lock()

    def writer(self, organization_id: str, entity: str, per_page: int):
        """A function storing one page; the pages count once :meth:`done` is called."""
        spool = tempfile.TemporaryFile()
        pages = [0]

        def put(page: list[dict]) -> None:
            pickle.dump(page, spool, protocol=pickle.HIGHEST_PROTOCOL)
            pages[0] += 1

        def done() -> None:
            with self._lock:
                self._kept[(organization_id, entity)] = (time.monotonic(), per_page, spool, pages[0])

        return put, done

    def take(self, organization_id: str, entity: str, per_page: int) -> Iterator[list[dict]] | None:
        """The kept pages (once), or None: none kept, another page size, or too old."""
        with self._lock:
            kept = self._kept.pop((organization_id, entity), None)
        if kept is None:
            return None
        read_at, size, spool, pages = kept
        if size != per_page or time.monotonic() - read_at > REUSE_SECONDS:
            spool.close()
            return None

        def pages_back():
            with spool:
                spool.seek(0)
                for _ in range(pages):
                    yield pickle.load(spool)  # noqa: S301 - written by this process, just above

        return pages_back()

    def close(self) -> None:
        with self._lock:
            for _, _, spool, _ in self._kept.values():
                spool.close()
            self._kept.clear()


class _Reusing:
    """A Zoho client whose first full read of a list (no filter) is the pages a plan kept."""

    def __init__(self, client, listed: ListedPages):
        self._client, self._listed = client, listed

    def __getattr__(self, name):
        return getattr(self._client, name)

    def iter_pages(self, entity: Entity, organization_id: str, params: dict | None = None, per_page: int = PAGE):
        kept = None if params else self._listed.take(organization_id, entity.name, per_page)
        return kept if kept is not None else self._client.iter_pages(entity, organization_id, params,
                                                                      per_page=per_page)


def reusing(client, listed: ListedPages):
    """``client``, reading first the list pages ``listed`` kept (see :class:`ListedPages`)."""
    return _Reusing(client, listed)


def rows_here(engine, entity: Entity, organization_id: str) -> int:
    tbl = sql_sink.table(entity.table)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tbl).where(
            tbl.c.organization_id == organization_id, tbl.c.deleted_at.is_(None))).scalar() or 0


def estimate(engine, entity: Entity, organization_id: str, mode: Mode, client=None,
             keep: ListedPages | None = None) -> Estimate:
    """The calls a run of ``entity`` will make; a first full sync pages the list to count it,
    and ``keep`` keeps those pages for the sync."""
    here = rows_here(engine, entity, organization_id)
    if mode is Mode.INCREMENTAL:
        return Estimate(organization_id, entity.name, here, 1, 0)
    counted = 0
    records = here
    first = here == 0 and mode is Mode.FULL
    if first and client is not None:
        records = 0
        put, done = keep.writer(organization_id, entity.name, PAGE) if keep else (None, None)
        try:
            for page in client.iter_pages(entity, organization_id, per_page=PAGE):
                counted += 1
                records += len(page)
                if put:
                    put(page)
        except ZohoError:  # the list does not answer (a module the organization lacks): the run will say
            return Estimate(organization_id, entity.name, None, 1, 0, counted)
        if done:
            done()
    list_calls = max(1, math.ceil(records / PAGE))
    detail = 0
    if first and entity.list_omits and entity.detail_path:
        detail = math.ceil(records / entity.bulk_detail[2]) if entity.bulk_detail else records
    return Estimate(organization_id, entity.name, records, list_calls, detail, counted, reused=bool(keep and counted))


def minutes(calls: int, per_minute: int) -> float:
    return calls / max(1, per_minute)


def over_budget(estimates: list[Estimate], remaining_of) -> list[tuple[str, int, int]]:
    """(organization, calls needed, calls left) for every organization the plan does not fit;
    ``remaining_of(org)`` is what is left of its day, None when unknown (then it fits)."""
    needed: dict[str, int] = {}
    for e in estimates:  # the list calls a plan made and the sync reuses are spent already
        needed[e.organization_id] = needed.get(e.organization_id, 0) + e.calls_to_come
    out = []
    for org, calls in needed.items():
        left = remaining_of(org)
        if left is not None and calls > left:
            out.append((org, calls, left))
    return out


def describe(estimates: list[Estimate], per_minute: int, remaining_of) -> list[str]:
    """The plan as lines a person reads."""
    lines = []
    for e in estimates:
        what = f"~{e.records:,} records" if e.records is not None else "records unknown"
        extra = f" (counting them cost {e.counted_calls} list calls)" if e.counted_calls else ""
        lines.append(f"  {e.entity:<18} {e.organization_id}: {what}, {e.list_calls} list + {e.detail_calls} detail "
                     f"calls{extra}")
    total = sum(e.calls for e in estimates)
    lines.append(f"  total: {total:,} calls (plus one per changed record), about "
                 f"{minutes(total, per_minute):.0f} min at {per_minute} calls/min")
    for org in dict.fromkeys(e.organization_id for e in estimates):
        left = remaining_of(org)
        lines.append(f"  organization {org}: {'unknown' if left is None else f'{left:,}'} calls left today")
    return lines
