"""Alerts: the health model's rules over the status snapshot, their state in ``tds_alerts``, and delivery.

:func:`conditions` is the one function that turns the facts of a snapshot into findings with a
severity; ``tds status`` (human and ``--json``), the status page, ``/api/status``, the alert
check and the health gauges of ``/metrics`` all render its result. A fact that cannot be read
is *unknown*, and unknown is never green:

- ``redis`` — Redis unreachable: critical (nothing moves: queues, beat, locks);
- ``database`` — PostgreSQL unreachable: critical;
- ``redis_policy`` — Redis's maxmemory-policy is not ``noeviction``: warning;
- ``workers`` — the workers could not be asked through a broker that answers: warning;
- ``worker_name`` — two live workers answer with the same node name: warning;
- ``zoho_auth`` — an organization's newest run found its Zoho credentials refused: critical;
- ``sync_failed`` / ``reconcile_failed`` — an entity's newest sync or reconcile failed (Zoho
  unreachable, an error): warning, with the last successful reconcile;
- ``deferred`` — an entity's newest run found the rate limit or quota taken and waits its
  turn: information only (never an alert, never colours the status);

and, from the figures (thresholds are settings, see :mod:`tds.config`):

- ``pending`` — inbox events of one entity waiting to be processed: warning above
  ``TDS_ALERT_PENDING_WARNING`` (50), critical above ``TDS_ALERT_PENDING_CRITICAL`` (200);
- ``lag`` — time since an entity's last successful sync: warning above
  ``TDS_ALERT_LAG_WARNING`` (30 minutes), critical above ``TDS_ALERT_LAG_CRITICAL`` (2 hours);
- ``dead_letters`` — dead letters waiting (not replayed; purged ones are gone): warning, until
  none is left;
- ``quota`` — the day's Zoho calls left under ``TDS_ALERT_QUOTA_PERCENT`` (10 %): warning,
  none left: critical;
- ``breaker`` — a Zoho circuit breaker open: critical;
- ``reconcile`` — an entity's mismatch in the last reconcile above
  ``TDS_RECONCILE_ALERT_PERCENT`` (1 %): warning;
- ``no_worker`` — a queue no live worker consumes: critical (only when the workers were
  asked; counted from every live node's own reply);
- ``beat`` — no beat holds RedBeat's lock: critical.

:func:`check` (the ``tds.check_alerts`` beat task, every ``TDS_SCHEDULE_ALERTS`` seconds)
compares what holds now with the open alerts: a new one is stored and announced once, one
that no longer holds is closed and announced as cleared, one still open is announced again
at most every ``TDS_ALERT_REPEAT`` seconds (default one hour), or at once when its severity
changes. Announcements go to the log (``tds.ops.alerts``), to the status page (the open rows)
and, when ``TDS_ALERT_WEBHOOK_URL`` is set, as Slack-compatible JSON (``{"text": …}``) to it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

import requests
import sqlalchemy as sa

from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.models import alerts

log = logging.getLogger("tds.alerts")

INFO, WARNING, CRITICAL = "info", "warning", "critical"


@dataclass(frozen=True)
class Condition:
    key: str
    kind: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Notice:
    state: str  # opened | repeated | escalated | cleared
    key: str
    severity: str
    message: str

    @property
    def text(self) -> str:
        label = {"opened": "ALERT", "repeated": "still open", "escalated": "now", "cleared": "cleared"}[self.state]
        return f"[TDS {self.severity.upper()}] {label}: {self.message}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def conditions(settings: Settings, snap: dict) -> list[Condition]:
    """What is wrong now, judged from a :func:`tds.ops.status.snapshot`: the one health model
    that ``tds status``, the status page, ``/api/status``, the alerts and ``/metrics`` render."""
    found: list[Condition] = []
    unknown = snap.get("unknown") or {}
    if "redis" in unknown:
        found.append(Condition("redis", "redis", CRITICAL,
                               f"{unknown['redis']}: nothing moves (queues, beat, locks); start Redis"))
    elif snap.get("redis_policy") not in (None, "noeviction"):
        found.append(Condition("redis_policy", "redis_policy", WARNING,
                               f"Redis maxmemory-policy is {snap['redis_policy']}: a full Redis may evict queued "
                               "tasks and locks; set it to noeviction"))
    if "database" in unknown:
        found.append(Condition("database", "database", CRITICAL,
                               f"{unknown['database']}: nothing is written; start PostgreSQL"))
    if "workers" in unknown:
        found.append(Condition("workers", "workers", WARNING, f"workers unknown: {unknown['workers']}"))
    for e in snap["entities"]:
        where = f"{e['entity']} ({e['organization_id']})"
        key = f"{e['organization_id']}:{e['entity']}"
        waiting = e["pending"] + e["failed"] + e["parked"]
        if waiting > settings.alert_pending_critical:
            found.append(Condition(f"pending:{key}", "pending", CRITICAL, f"{waiting} events pending for {where}"))
        elif waiting > settings.alert_pending_warning:
            found.append(Condition(f"pending:{key}", "pending", WARNING, f"{waiting} events pending for {where}"))
        lag = e["lag_seconds"]
        if lag is not None and e["available"]:
            if lag > settings.alert_lag_critical:
                found.append(Condition(f"lag:{key}", "lag", CRITICAL, f"{where} last synced {_minutes(lag)} ago"))
            elif lag > settings.alert_lag_warning:
                found.append(Condition(f"lag:{key}", "lag", WARNING, f"{where} last synced {_minutes(lag)} ago"))
        match = e["match_percent"]
        if match is not None and 100.0 - match > settings.reconcile_alert_percent:
            found.append(Condition(f"reconcile:{key}", "reconcile", WARNING,
                                   f"{where} matches Zoho at {match:.2f} % in the last reconcile"))
        found += _run_findings(e, where, key)
    if snap.get("dead_letters"):
        found.append(Condition("dead_letters", "dead_letters", WARNING,
                               f"{snap['dead_letters']} dead letters waiting ({snap.get('new_dead_letters') or 0} "
                               "new in the last hour): tds dead-letters list, then replay or purge"))
    for org, left in (snap.get("quota") or {}).items():
        if left is None:
            continue
        share = 100.0 * left / max(1, settings.zoho_daily_limit)
        if left <= 0:
            found.append(Condition(f"quota:{org}", "quota", CRITICAL, f"Zoho API quota of {org} is spent for today"))
        elif share < settings.alert_quota_percent:
            found.append(Condition(f"quota:{org}", "quota", WARNING,
                                   f"Zoho API quota of {org}: {left} calls left today ({share:.1f} %)"))
    for api, state in (snap.get("breakers") or {}).items():
        if state == "open":
            found.append(Condition(f"breaker:{api}", "breaker", CRITICAL,
                                   f"circuit breaker open for {api}: Zoho calls are refused"))
    workers = snap.get("workers")
    if workers is not None and snap.get("queues") is not None:
        consumed = {q for qs in workers.values() for q in qs}
        for queue in snap["queues"]:
            if queue not in consumed:
                found.append(Condition(f"no_worker:{queue}", "no_worker", CRITICAL,
                                       f"no worker consumes {queue}: start one (tds worker)"))
    for node, n in (snap.get("worker_duplicates") or {}).items():
        found.append(Condition(f"worker_name:{node}", "worker_name", WARNING,
                               f"{n} workers answer as {node}: give each its own name (tds worker names itself "
                               "from its queues; do not pass the same -n twice)"))
    if snap.get("beat_running") is False:
        found.append(Condition("beat", "beat", CRITICAL, "no beat is running: nothing is scheduled (tds beat)"))
    unique: dict[str, Condition] = {}  # a refused token is one finding per organization, whichever entity found it
    for c in found:
        unique.setdefault(c.key, c)
    return list(unique.values())


def _run_findings(e: dict, where: str, key: str) -> list[Condition]:
    """From each mode's newest finished run: a failed sync or reconcile is a warning (a refused
    token critical: nothing from Zoho will land); a deferred one is only information."""
    found = []
    runs = e.get("last_runs") or {}
    full = runs.get("full")
    for mode, run in runs.items():
        if mode == "incremental" and full and full["status"] == "succeeded" and full["run_id"] > run["run_id"]:
            continue  # a full sync that succeeded since read everything the incremental one missed
        said = f"the last {mode} {'sync ' if mode != 'reconcile' else ''}of {where}"
        if run["status"] == "deferred":
            until = f" until {run['retry_at'][11:19]} UTC" if run.get("retry_at") else ""
            found.append(Condition(f"deferred:{key}:{mode}", "deferred", INFO,
                                   f"{said} is deferred ({(run['reason'] or '').replace('_', ' ')}){until}"))
        elif run["status"] == "failed" and run.get("reason") == "zoho_auth":
            found.append(Condition(f"zoho_auth:{e['organization_id']}", "zoho_auth", CRITICAL,
                                   f"Zoho refused the credentials of {e['organization_id']} ({said} failed): check "
                                   "ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN (tds doctor)"))
        elif run["status"] == "failed":
            kind = "reconcile_failed" if mode == "reconcile" else "sync_failed"
            last_ok = e.get("last_reconcile_at") if mode == "reconcile" else None
            ok_text = (f"; last successful reconcile {last_ok[:19]}" if last_ok else "; no successful reconcile yet") \
                if mode == "reconcile" else ""
            why = (run.get("error") or "").splitlines()[0][:200] if run.get("error") else run.get("reason")
            found.append(Condition(f"{kind}:{key}:{mode}" if kind == "sync_failed" else f"{kind}:{key}", kind,
                                   WARNING, f"{said} failed: {why}{ok_text}"))
    return found


def check(settings: Settings, snap: dict, now: dt.datetime | None = None, post=None) -> list[Notice]:
    """Open, repeat and clear alerts from what holds now (the status ``snap``, see
    :func:`tds.ops.status.snapshot`); deliver and return the notices."""
    engine = get_engine(settings.database_url)
    now = now or utcnow()
    current = {c.key: c for c in conditions(settings, snap) if c.severity != INFO}  # information never opens one
    repeat = dt.timedelta(seconds=settings.alert_repeat)
    notices: list[Notice] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two checks at once would open an alert twice
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('tds_alerts'))"))
        opened = {r.key: r for r in conn.execute(sa.select(alerts).where(alerts.c.cleared_at.is_(None)))}
        for key, cond in current.items():
            row = opened.get(key)
            if row is None:
                conn.execute(sa.insert(alerts).values(key=key, kind=cond.kind, severity=cond.severity,
                                                      message=cond.message, opened_at=now, last_notified_at=now))
                notices.append(Notice("opened", key, cond.severity, cond.message))
            elif row.severity != cond.severity or now - row.last_notified_at >= repeat:
                state = "escalated" if row.severity != cond.severity else "repeated"
                conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(
                    severity=cond.severity, message=cond.message, last_notified_at=now))
                notices.append(Notice(state, key, cond.severity, cond.message))
            else:
                conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(message=cond.message))
        for key, row in opened.items():
            if key not in current:
                conn.execute(sa.update(alerts).where(alerts.c.id == row.id).values(cleared_at=now))
                notices.append(Notice("cleared", key, row.severity, row.message))
    for notice in notices:
        deliver(settings, notice, post=post)
    return notices


def deliver(settings: Settings, notice: Notice, post=None) -> None:
    """To the log, and to ``TDS_ALERT_WEBHOOK_URL`` as Slack-compatible JSON; a failed POST is
    logged, never raised (the next check or repeat tries again)."""
    level = logging.INFO if notice.state == "cleared" else logging.ERROR if notice.severity == CRITICAL \
        else logging.WARNING
    log.log(level, "%s", notice.text)
    if not settings.alert_webhook_url:
        return
    body = {"text": notice.text, "tds": {"state": notice.state, "key": notice.key, "severity": notice.severity,
                                          "message": notice.message}}
    try:
        response = (post or requests.post)(settings.alert_webhook_url, json=body, timeout=5)
        response.raise_for_status()
    except Exception as exc:
        log.warning("alert webhook failed: %s", exc.__class__.__name__)
