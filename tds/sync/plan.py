"""What a sync or a reconcile will cost in Zoho API calls, before it starts.

Zoho gives no total count, so the estimate starts from the rows already here. An entity
with no rows yet (a first sync) is counted by paging its list — which costs those list
calls, and the plan says so. Detail calls: a first sync fetches every record of an
entity whose list leaves fields out (one call each; items in bulk, 100 a call); a later
full sync or a reconcile fetches only what changed, which no plan can know, so it counts
none and says "plus one per changed record". Time is the calls at
``TDS_ZOHO_RATE_LIMIT`` per minute; the budget check compares the calls with what is left
of the organization's day (:meth:`tds.zoho.ratelimit.DailyQuota.remaining`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

    @property
    def calls(self) -> int:
        return self.list_calls + self.detail_calls


def rows_here(engine, entity: Entity, organization_id: str) -> int:
    tbl = sql_sink.table(entity.table)
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tbl).where(
            tbl.c.organization_id == organization_id, tbl.c.deleted_at.is_(None))).scalar() or 0


def estimate(engine, entity: Entity, organization_id: str, mode: Mode, client=None) -> Estimate:
    here = rows_here(engine, entity, organization_id)
    if mode is Mode.INCREMENTAL:
        return Estimate(organization_id, entity.name, here, 1, 0)
    counted = 0
    records = here
    first = here == 0 and mode is Mode.FULL
    if first and client is not None:
        records = 0
        try:
            for page in client.iter_pages(entity, organization_id, per_page=PAGE):
                counted += 1
                records += len(page)
        except ZohoError:  # the list does not answer (a module the organization lacks): the run will say
            return Estimate(organization_id, entity.name, None, 1, 0, counted)
    list_calls = max(1, math.ceil(records / PAGE))
    detail = 0
    if first and entity.list_omits and entity.detail_path:
        detail = math.ceil(records / entity.bulk_detail[2]) if entity.bulk_detail else records
    return Estimate(organization_id, entity.name, records, list_calls, detail, counted)


def minutes(calls: int, per_minute: int) -> float:
    return calls / max(1, per_minute)


def over_budget(estimates: list[Estimate], remaining_of) -> list[tuple[str, int, int]]:
    """(organization, calls needed, calls left) for every organization the plan does not fit;
    ``remaining_of(org)`` is what is left of its day, None when unknown (then it fits)."""
    needed: dict[str, int] = {}
    for e in estimates:
        needed[e.organization_id] = needed.get(e.organization_id, 0) + e.calls
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
