"""The state at a glance: one snapshot for ``tds status``, the status page and ``/metrics``.

:func:`snapshot` gathers, per organization and enabled entity, the rows here, the last
successful incremental and full sync and reconcile, the lag (since the newer of the two
syncs), the last reconcile's match %, the inbox events pending (received or being
processed), failed (retrying after a transient error) and parked (waiting for the daily
quota), dead inbox events and dead letters not replayed; then the queue depths in Redis,
the live workers and the queues they consume (asked through the reader the caller hands in:
Celery inspect, one-second timeout), whether
a beat holds RedBeat's lock, the breaker states and the quota left, the last reconcile's
health score, the open alerts, recent errors, and image coverage.

The alert rules (:mod:`tds.ops.alerts`) judge the snapshot; :func:`exit_code` turns their
verdict into ``tds status``'s exit: 0 healthy, 1 warning, 2 critical.

Nothing here loads the Zoho client, the sync or event processing, so the receiver's
``/metrics`` can use it (without workers and images, which it leaves out).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import sqlalchemy as sa

from tds import registry, services
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.models import alerts, dead_letters, inbox_events, metadata, sync_runs, sync_state
from tds.ops import alerts as alert_rules
from tds.queues import IMAGES_QUEUE, MAINTENANCE_QUEUE, SYNC_QUEUE
from tds.sync.reports import latest_report
from tds.zoho import budget

log = logging.getLogger(__name__)

#: ``reader(settings) -> {worker: [queues it consumes]}``, or None when the broker cannot be asked
WorkersReader = Callable[[Settings], "dict[str, list[str]] | None"]

PENDING = ("received", "processing")
FAILED = ("retrying",)
PARKED = ("waiting",)
BEAT_LOCK = "tds:redbeat::lock"  # RedBeat's lock: key prefix + ":lock"
RECENT = 10


def _iso(value):
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def queue_names(settings: Settings) -> list[str]:
    """The queues the enabled entities, the syncs, maintenance and images use."""
    return [e.queue for e in registry.enabled(settings)] + [SYNC_QUEUE, MAINTENANCE_QUEUE, IMAGES_QUEUE]


def queue_depths(redis, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (Celery's Redis transport keeps one list per queue)."""
    pipe = redis.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q)
    return dict(zip(queues, pipe.execute()))


def beat_running(redis) -> bool:
    """Whether a beat holds RedBeat's lock (it renews it every few seconds while it runs)."""
    return bool(redis.exists(BEAT_LOCK))


def _inbox_counts(conn) -> dict[tuple[str, str], dict[str, int]]:
    stmt = (sa.select(inbox_events.c.organization_id, inbox_events.c.entity, inbox_events.c.status,
                      sa.func.count())
            .where(inbox_events.c.status != "done")
            .group_by(inbox_events.c.organization_id, inbox_events.c.entity, inbox_events.c.status))
    out: dict[tuple[str, str], dict[str, int]] = {}
    for org, entity, status, n in conn.execute(stmt):
        out.setdefault((org, entity), {})[status] = n
    return out


def _letters(conn) -> dict[tuple[str, str], int]:
    stmt = (sa.select(dead_letters.c.organization_id, dead_letters.c.entity, sa.func.count())
            .where(dead_letters.c.replayed_at.is_(None))
            .group_by(dead_letters.c.organization_id, dead_letters.c.entity))
    return {(org or "", entity): n for org, entity, n in conn.execute(stmt)}


def _rows_here(conn, entity, organization_id: str) -> int | None:
    tbl = metadata.tables.get(entity.table)
    if tbl is None:
        return None
    where = [tbl.c.organization_id == organization_id]
    if "deleted_at" in tbl.c:
        where.append(tbl.c.deleted_at.is_(None))
    return conn.execute(sa.select(sa.func.count()).select_from(tbl).where(*where)).scalar_one()


def _recent_errors(conn) -> list[dict]:
    events = conn.execute(
        sa.select(inbox_events.c.id, inbox_events.c.entity, inbox_events.c.zoho_id, inbox_events.c.status,
                  inbox_events.c.last_error, inbox_events.c.received_at)
        .where(inbox_events.c.status.in_(("retrying", "waiting", "dead")), inbox_events.c.last_error.is_not(None))
        .order_by(inbox_events.c.id.desc()).limit(RECENT)).fetchall()
    failed_runs = conn.execute(
        sa.select(sync_runs.c.id, sync_runs.c.entity, sync_runs.c.mode, sync_runs.c.status, sync_runs.c.error,
                  sync_runs.c.started_at)
        .where(sync_runs.c.status.in_(("failed", "aborted")))
        .order_by(sync_runs.c.id.desc()).limit(RECENT)).fetchall()
    out = [{"what": f"inbox event {r.id} ({r.entity} {r.zoho_id}) {r.status}", "error": r.last_error,
            "at": _iso(r.received_at)} for r in events]
    out += [{"what": f"{r.mode} run {r.id} of {r.entity} {r.status}", "error": r.error, "at": _iso(r.started_at)}
            for r in failed_runs]
    return sorted(out, key=lambda e: e["at"] or "", reverse=True)[:RECENT]


def open_alerts(conn) -> list[dict]:
    rows = conn.execute(sa.select(alerts).where(alerts.c.cleared_at.is_(None)).order_by(alerts.c.opened_at)).fetchall()
    return [{"key": r.key, "kind": r.kind, "severity": r.severity, "message": r.message,
             "opened_at": _iso(r.opened_at)} for r in rows]


def snapshot(settings: Settings, workers: WorkersReader | None = None, with_images: bool = False) -> dict:
    """Everything ``tds status`` shows, as plain JSON-ready values.

    ``workers`` asks the live workers which queues they consume (the caller hands it in:
    :func:`tasks.celery_app.live_workers` for a process that may ask Celery); without it the
    workers are not asked and the snapshot says so with ``"workers": None``."""
    engine = get_engine(settings.database_url)
    redis = services.redis_client(settings)
    now = utcnow()
    report = latest_report(settings)
    matches = {(e["organization_id"], e["entity"]): e["match_percent"] for e in (report or {}).get("entities", [])}
    entities = []
    with engine.connect() as conn:
        counts = _inbox_counts(conn)
        letters = _letters(conn)
        states = {(r.organization_id, r.entity): r for r in conn.execute(sa.select(sync_state))}
        for org in settings.zoho_organization_ids:
            for entity in registry.enabled(settings):
                key = (org, entity.name)
                state = states.get(key)
                inc = state.last_incremental_sync_at if state else None
                full = state.last_full_sync_at if state else None
                newest = max((t for t in (inc, full) if t), default=None)
                c = counts.get(key, {})
                entities.append({
                    "organization_id": org, "entity": entity.name, "queue": entity.queue,
                    "available": (state.status if state else "available") == "available",
                    "rows": _rows_here(conn, entity, org),
                    "last_incremental_sync_at": _iso(inc), "last_full_sync_at": _iso(full),
                    "last_reconcile_at": _iso(state.last_reconcile_at if state else None),
                    "lag_seconds": round((now - newest).total_seconds()) if newest else None,
                    "match_percent": matches.get(key),
                    "pending": sum(c.get(s, 0) for s in PENDING), "failed": sum(c.get(s, 0) for s in FAILED),
                    "parked": sum(c.get(s, 0) for s in PARKED), "dead": c.get("dead", 0),
                    "dead_letters": letters.get(key, 0),
                })
        errors = _recent_errors(conn)
        opened = open_alerts(conn)
        total_letters = sum(letters.values())
        new_letters = conn.execute(sa.select(sa.func.count()).select_from(dead_letters).where(
            dead_letters.c.created_at >= now - dt.timedelta(hours=1))).scalar_one()
    queues = queue_names(settings)
    try:
        depths = queue_depths(redis, queues)
        beat = beat_running(redis)
        quota = {org: budget.remaining(redis, org, settings.zoho_daily_limit) for org in settings.zoho_organization_ids}
        breakers = budget.breaker_states(redis)
    except Exception as exc:  # Redis down: say so, keep the database figures
        log.warning("Redis unavailable for status: %s", exc.__class__.__name__)
        depths, beat, quota, breakers = None, None, {}, {}
    snap = {
        "generated_at": now.isoformat(), "entities": entities, "queues": depths,
        "workers": workers(settings) if workers else None, "beat_running": beat,
        "quota": quota, "daily_limit": settings.zoho_daily_limit, "breakers": breakers,
        "dead_letters": total_letters, "new_dead_letters": new_letters, "reconcile": report, "recent_errors": errors, "alerts": opened,
    }
    if with_images:
        from tds.sync import images  # loads the Zoho errors: never in the receiver

        snap["images"] = {org: {**images.coverage(settings, org)} for org in settings.zoho_organization_ids}
        for org, cov in snap["images"].items():
            cov["summary"] = images.describe(cov)
    snap["conditions"] = [c.as_dict() for c in alert_rules.conditions(settings, snap)]
    snap["severity"] = severity(snap["conditions"])
    return snap


def severity(conditions: list[dict]) -> str:
    found = {c["severity"] for c in conditions}
    return "critical" if "critical" in found else "warning" if "warning" in found else "healthy"


def exit_code(snap: dict) -> int:
    """0 healthy, 1 warning, 2 critical."""
    return {"healthy": 0, "warning": 1, "critical": 2}[snap["severity"]]
