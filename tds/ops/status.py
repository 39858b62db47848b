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
import json
import logging
from collections.abc import Callable

import sqlalchemy as sa

from tds import registry
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
RUN_MODES = ("full", "incremental", "reconcile")


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
        .where(inbox_events.c.status.in_(("retrying", "dead")), inbox_events.c.last_error.is_not(None))
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


def _outcomes(conn) -> dict[tuple[str, str, str], dict]:
    """The newest finished sync, incremental and reconcile run per (organization, entity, mode):
    what it ended as (succeeded, failed, deferred, aborted), why, and when."""
    newest = (sa.select(sa.func.max(sync_runs.c.id))
              .where(sync_runs.c.status.in_(("succeeded", "failed", "deferred", "aborted")))
              .group_by(sync_runs.c.organization_id, sync_runs.c.entity, sync_runs.c.mode))
    rows = conn.execute(sa.select(sync_runs.c.id, sync_runs.c.organization_id, sync_runs.c.entity,
                                  sync_runs.c.mode, sync_runs.c.status, sync_runs.c.reason, sync_runs.c.error,
                                  sync_runs.c.retry_at, sync_runs.c.started_at, sync_runs.c.finished_at)
                        .where(sync_runs.c.id.in_(newest))).fetchall()
    return {(r.organization_id, r.entity, r.mode): {
        "run_id": r.id, "status": r.status, "reason": r.reason, "error": (r.error or "")[:300] or None,
        "retry_at": _iso(r.retry_at), "at": _iso(r.finished_at or r.started_at)} for r in rows}


_status_clients: dict = {}


def status_redis(settings: Settings):
    """A client of its own with short timeouts (one per URL): a stopped Redis answers the status in
    seconds, where the shared client would wait on the operating system's connect timeout."""
    import redis as redis_lib

    client = _status_clients.get(settings.redis_url)
    if client is None:
        client = _status_clients[settings.redis_url] = redis_lib.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    return client


def _database_facts(settings: Settings, now: dt.datetime) -> dict:
    engine = get_engine(settings.database_url)
    entities = []
    with engine.connect() as conn:
        report = latest_report(settings, conn)
        matches = {(e["organization_id"], e["entity"]): e["match_percent"]
                   for e in (report or {}).get("entities", [])}
        counts = _inbox_counts(conn)
        letters = _letters(conn)
        outcomes = _outcomes(conn)
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
                    "last_runs": {mode: outcomes[(org, entity.name, mode)] for mode in RUN_MODES
                                  if (org, entity.name, mode) in outcomes},
                })
        return {"entities": entities, "reconcile": report, "recent_errors": _recent_errors(conn),
                "alerts": open_alerts(conn), "dead_letters": sum(letters.values()),
                "new_dead_letters": conn.execute(sa.select(sa.func.count()).select_from(dead_letters).where(
                    dead_letters.c.created_at >= now - dt.timedelta(hours=1),
                    dead_letters.c.replayed_at.is_(None))).scalar_one()}


def _redis_facts(settings: Settings, redis) -> dict:
    redis.ping()
    try:
        policy = redis.info("memory").get("maxmemory_policy")
    except redis_errors() as exc:  # INFO refused (a managed Redis): not the same as unreachable
        log.info("Redis INFO refused: %s", exc.__class__.__name__)
        policy = None
    return {"queues": queue_depths(redis, queue_names(settings)), "beat_running": beat_running(redis),
            "redis_policy": policy,
            "quota": {org: budget.remaining(redis, org, settings.zoho_daily_limit)
                      for org in settings.zoho_organization_ids},
            "breakers": budget.breaker_states(redis)}


def redis_errors():
    import redis as redis_lib

    return (redis_lib.RedisError, OSError)


WORKERS_SEEN = "tds:health:workers"  # the last answer of the live workers, for processes that may not ask
WORKERS_SEEN_SECONDS = 180


def _remember_workers(redis, snap: dict, now: dt.datetime) -> None:
    try:
        redis.set(WORKERS_SEEN, json.dumps({"at": now.isoformat(), "workers": snap["workers"],
                                            "duplicates": snap["worker_duplicates"]}), ex=WORKERS_SEEN_SECONDS)
    except redis_errors() as exc:
        log.info("could not keep the workers' answer: %s", exc.__class__.__name__)


def _recall_workers(redis, snap: dict) -> None:
    """The workers as ``tds status``, the page or the alert check (every ``TDS_SCHEDULE_ALERTS``)
    last saw them, at most three minutes ago; older or never: not asked."""
    try:
        raw = redis.get(WORKERS_SEEN)
    except redis_errors():
        return
    if raw:
        seen = json.loads(raw)
        snap["workers"], snap["worker_duplicates"] = seen["workers"], seen.get("duplicates") or {}
        snap["workers_seen_at"] = seen["at"]


def snapshot(settings: Settings, workers: WorkersReader | None = None, with_images: bool = False,
             redis=None, cached_workers: bool = False) -> dict:
    """Everything ``tds status`` shows, as plain JSON-ready values, with the findings
    (:func:`tds.ops.alerts.conditions`) and their severity. Never raises for a service that is
    down: a fact that cannot be read is listed in ``unknown`` with the reason, and the rules
    make it a finding — unknown is never green.

    ``workers`` asks the live workers which queues they consume (the caller hands it in:
    :func:`tasks.celery_app.live_workers` for a process that may ask Celery); without it the
    workers are not asked and the snapshot says so with ``"workers": None`` — unless
    ``cached_workers`` (the receiver's ``/metrics``, which never loads Celery inspect): then
    the last answer another process got, at most three minutes old, stands in. They are asked
    only when Redis (their broker) answers."""
    from tds.config import mask_url
    from tds.exit_codes import first_line

    now = utcnow()
    unknown: dict[str, str] = {}
    snap: dict = {"generated_at": now.isoformat(), "daily_limit": settings.zoho_daily_limit, "workers": None,
                  "worker_duplicates": {}}
    try:
        snap.update(_database_facts(settings, now))
    except sa.exc.DBAPIError as exc:
        unknown["database"] = f"PostgreSQL unreachable at {mask_url(settings.database_url)}: {first_line(exc)}"
        snap.update({"entities": [], "reconcile": None, "recent_errors": [], "alerts": [], "dead_letters": None,
                     "new_dead_letters": None})
    try:
        snap.update(_redis_facts(settings, redis or status_redis(settings)))
    except redis_errors() as exc:
        unknown["redis"] = f"Redis unreachable at {mask_url(settings.redis_url)}: {first_line(exc)}"
        snap.update({"queues": None, "beat_running": None, "redis_policy": None, "quota": {}, "breakers": {}})
    if workers is not None and "redis" not in unknown:
        answer = workers(settings)
        if answer is None:
            unknown["workers"] = "the workers could not be asked through the broker"
        else:
            snap["workers"] = dict(answer)
            snap["worker_duplicates"] = dict(getattr(answer, "duplicates", {}) or {})
            _remember_workers(redis or status_redis(settings), snap, now)
    elif cached_workers and "redis" not in unknown:
        _recall_workers(redis or status_redis(settings), snap)
    snap["unknown"] = unknown
    if with_images and "database" not in unknown:
        from tds.sync import images  # loads the Zoho errors: never in the receiver

        snap["images"] = {org: {**images.coverage(settings, org)} for org in settings.zoho_organization_ids}
        for org, cov in snap["images"].items():
            cov["summary"] = images.describe(cov)
    snap["conditions"] = [c.as_dict() for c in alert_rules.conditions(settings, snap)]
    snap["findings"] = snap["conditions"]
    snap["severity"] = severity(snap["conditions"])
    return snap


def severity(conditions: list[dict]) -> str:
    """critical > warning > healthy; an ``info`` finding never colours it."""
    found = {c["severity"] for c in conditions}
    return "critical" if "critical" in found else "warning" if "warning" in found else "healthy"


def exit_code(snap: dict) -> int:
    """0 healthy, 1 warning, 2 critical (a service down is critical: never 5 or 6)."""
    return {"healthy": 0, "warning": 1, "critical": 2}[snap["severity"]]
