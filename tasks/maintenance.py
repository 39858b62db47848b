"""Maintenance tasks: the inbox sweeper, the daily cleanup and the alert check. The logic is in :mod:`tds`."""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task

from tasks.celery_app import enqueue_event
from tds import alerts, changes, hooks, inbox, runs, services
from tds.config import get_settings
from tds.db import get_engine


@shared_task(name="tds.sweep_inbox", bind=True)
def sweep_inbox(self) -> int:
    settings = get_settings()
    return inbox.sweep(get_engine(settings.database_url), dt.timedelta(seconds=settings.inbox_sweep_after),
                       functools.partial(enqueue_event, self.app))


@shared_task(name="tds.cleanup")
def cleanup() -> dict:
    """Runs left ``running`` by a dead process are aborted; finished inbox events, named events
    and change-log rows past their retention go, in batches. Dead letters stay."""
    settings = get_settings()
    engine = get_engine(settings.database_url)
    aborted = runs.recover_stale(engine, services.redis_client(settings), stale_after=settings.run_stale_after)
    purged = inbox.purge_finished(engine, dt.timedelta(days=settings.inbox_retention_days))
    named = hooks.purge(engine, dt.timedelta(days=settings.event_retention_days))
    changed = changes.purge(engine, dt.timedelta(days=settings.change_log_retention_days))
    return {"runs_aborted": aborted, "events_purged": purged, "named_events_purged": named,
            "changes_purged": changed}


@shared_task(name="tds.check_alerts")
def check_alerts() -> list[str]:
    """Open, repeat and clear alerts (:mod:`tds.alerts`); returns what was announced."""
    return [notice.text for notice in alerts.check(get_settings())]
