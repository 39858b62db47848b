"""What ``tds odoo status | stats | conflicts | changes | images | monitor`` show, read
from the tracking tables."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tds.db import utcnow
from tds.models import odoo_changes, odoo_conflicts, odoo_images, odoo_products, odoo_runs

LOGS = {"conflicts": odoo_conflicts, "changes": odoo_changes, "images": odoo_images}
RUN_COUNTS = ("seen", "created", "updated", "unchanged", "archived", "conflicts", "images", "failed", "odoo_calls")


def tracked(conn) -> dict[str, int]:
    """Products TDS has in Odoo: active and archived."""
    rows = conn.execute(sa.select(odoo_products.c.active, sa.func.count()).group_by(odoo_products.c.active))
    counts = {bool(active): n for active, n in rows}
    return {"active": counts.get(True, 0), "archived": counts.get(False, 0)}


def last_run(conn, status: str | None = None):
    stmt = sa.select(odoo_runs).order_by(odoo_runs.c.id.desc()).limit(1)
    if status:
        stmt = stmt.where(odoo_runs.c.status == status)
    return conn.execute(stmt).first()


def totals(conn, since: dt.timedelta) -> dict:
    """Runs by status and the sum of their counts over the last ``since``."""
    start = utcnow() - since
    by_status = dict(conn.execute(sa.select(odoo_runs.c.status, sa.func.count())
                                  .where(odoo_runs.c.started_at >= start).group_by(odoo_runs.c.status)).all())
    sums = conn.execute(sa.select(*(sa.func.coalesce(sa.func.sum(odoo_runs.c[c]), 0) for c in RUN_COUNTS))
                        .where(odoo_runs.c.started_at >= start)).one()
    return {"runs": by_status, **{c: int(v) for c, v in zip(RUN_COUNTS, sums)}}


def recent(conn, log: str, limit: int = 50, zoho_item_id: str | None = None, action: str | None = None):
    """Newest lines of one log (``conflicts``, ``changes`` or ``images``)."""
    tbl = LOGS[log]
    stmt = sa.select(tbl).order_by(tbl.c.id.desc()).limit(limit)
    if zoho_item_id:
        stmt = stmt.where(tbl.c.zoho_item_id == zoho_item_id)
    if action:
        stmt = stmt.where(tbl.c.action == action)
    return conn.execute(stmt).all()
