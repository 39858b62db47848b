"""Alerts: rules over the status snapshot, their state in ``tds_alerts``, and delivery.

The rules (thresholds are settings, see :mod:`tds.config`):

- ``pending`` — inbox events of one entity waiting to be processed: warning above
  ``TDS_ALERT_PENDING_WARNING`` (50), critical above ``TDS_ALERT_PENDING_CRITICAL`` (200);
- ``lag`` — time since an entity's last successful sync: warning above
  ``TDS_ALERT_LAG_WARNING`` (30 minutes), critical above ``TDS_ALERT_LAG_CRITICAL`` (2 hours);
- ``dead_letters`` — dead letters created in the last hour (they are growing): warning;
- ``quota`` — the day's Zoho calls left under ``TDS_ALERT_QUOTA_PERCENT`` (10 %): warning,
  none left: critical;
- ``breaker`` — a Zoho circuit breaker open: critical;
- ``reconcile`` — an entity's mismatch in the last reconcile above
  ``TDS_RECONCILE_ALERT_PERCENT`` (1 %): warning;
- ``no_worker`` — a queue no live worker consumes: critical (only when the workers could be
  asked);
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

WARNING, CRITICAL = "warning", "critical"


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
    """What is wrong now, judged from a :func:`tds.ops.status.snapshot`."""
    found: list[Condition] = []
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
    if snap.get("new_dead_letters"):
        found.append(Condition("dead_letters", "dead_letters", WARNING,
                               f"{snap['new_dead_letters']} new dead letters in the last hour "
                               f"({snap['dead_letters']} waiting): tds dead-letters list"))
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
    if snap.get("beat_running") is False:
        found.append(Condition("beat", "beat", CRITICAL, "no beat is running: nothing is scheduled (tds beat)"))
    return found


def check(settings: Settings, snap: dict, now: dt.datetime | None = None, post=None) -> list[Notice]:
    """Open, repeat and clear alerts from what holds now (the status ``snap``, see
    :func:`tds.ops.status.snapshot`); deliver and return the notices."""
    engine = get_engine(settings.database_url)
    now = now or utcnow()
    current = {c.key: c for c in conditions(settings, snap)}
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
