"""The change log: every change a write made to a mirrored row, findable afterwards.

:mod:`tds.sinks.sql` calls :func:`record` in the transaction of its upsert: before the
upsert it reads the stored rows of the whole batch with one ``SELECT`` (:func:`stored`),
after it compares them with what was applied, and writes one ``tds_change_log`` row per
record that changed — ``created``, ``updated`` (only the columns whose value changed, as
``{column: [old, new]}``; the raw Zoho JSON and bookkeeping columns are left out) or
``deleted`` (a soft delete) — with the :class:`Origin`: ``webhook``, ``fetch``, ``sync``,
``reconcile`` or ``replay``, and the inbox event or sync run. A record written again
unchanged leaves no row. ``tds changes`` lists them; the daily cleanup purges rows older
than ``TDS_CHANGE_LOG_RETENTION_DAYS``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds.db import newest_first, purge_older, utcnow
from tds.models import change_log

#: Columns that say nothing about the record itself.
IGNORED = frozenset({"id", "organization_id", "synced_at", "zoho_metadata"})


@dataclass(frozen=True)
class Origin:
    source: str  # webhook | fetch | sync | reconcile | replay
    inbox_event_id: int | None = None
    sync_run_id: int | None = None


UNKNOWN = Origin("unknown")

#: One origin per record, keyed by ``(organization, Zoho id)``: a batch of inbox events
#: written together, each change logged as caused by its own event.
Origins = dict[tuple[str, str], Origin]


def stored(conn: Connection, tbl: sa.Table, idcol: str, keys: list[tuple[str, str]], columns: set[str]) -> dict:
    """The stored values of ``columns`` for the batch's (organization, Zoho id) keys, one query."""
    if not keys:
        return {}
    wanted = sorted(c for c in columns if c not in IGNORED and c in tbl.c)
    cols = [tbl.c.organization_id, tbl.c[idcol], *(tbl.c[c] for c in wanted)]
    out = {}
    for org in {org for org, _ in keys}:
        ids = [zid for o, zid in keys if o == org]
        for r in conn.execute(sa.select(*cols).where(tbl.c.organization_id == org, tbl.c[idcol].in_(ids))):
            m = r._mapping
            out[(m["organization_id"], m[idcol])] = {c: m[c] for c in wanted}
    return out


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def same(old, new) -> bool:
    """Whether a stored value and an incoming one are equal (numbers compared as numbers)."""
    if isinstance(old, decimal.Decimal) or isinstance(new, decimal.Decimal):
        try:
            return decimal.Decimal(str(old)) == decimal.Decimal(str(new))
        except (decimal.InvalidOperation, TypeError):
            return False
    return old == new


def diff(before: dict | None, after: dict, skip: frozenset = frozenset()) -> tuple[str, dict] | None:
    """``(action, {column: [old, new]})``, or None when nothing changed."""
    if before is None:
        return "created", {c: [None, _plain(v)] for c, v in after.items()
                           if c not in IGNORED and c not in skip and v is not None}
    changed = {c: [_plain(before.get(c)), _plain(v)] for c, v in after.items()
               if c not in IGNORED and c not in skip and c in before and not same(before.get(c), v)}
    return ("updated", changed) if changed else None


def record(conn: Connection, entity: str, origin: Origin | Origins | None,
           entries: list[tuple[str, str, str, dict]]) -> None:
    """Insert ``(organization, zoho_id, action, changes)`` rows for ``entity`` in one statement;
    ``origin`` is one for all, or one per ``(organization, zoho_id)``."""
    if not entries:
        return
    now = utcnow()
    per_record = origin if isinstance(origin, dict) else None
    rows = []
    for org, zid, action, changes in entries:
        cause = (per_record.get((org, zid)) if per_record is not None else origin) or UNKNOWN
        rows.append({"organization_id": org, "entity": entity, "zoho_id": zid, "action": action,
                     "changes": changes or None, "source": cause.source, "inbox_event_id": cause.inbox_event_id,
                     "sync_run_id": cause.sync_run_id, "created_at": now})
    conn.execute(sa.insert(change_log), rows)


def listing(engine, entity: str | None = None, zoho_id: str | None = None, since: dt.datetime | None = None,
            limit: int = 100) -> list:
    """The newest changes first."""
    return newest_first(engine, change_log, since, limit, entity=entity, zoho_id=zoho_id)


def purge(engine, older_than: dt.timedelta, batch: int = 5000) -> int:
    """Delete change-log rows older than ``older_than``, in batches; returns how many."""
    return purge_older(engine, change_log, older_than, batch)
