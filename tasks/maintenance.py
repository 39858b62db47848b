"""Maintenance tasks: the inbox sweeper and the daily cleanup. The logic is in :mod:`tds`."""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task

from tasks.celery_app import enqueue_event
from tds import inbox, runs, services
from tds.config import get_settings
from tds.db import get_engine


@shared_task(name="tds.sweep_inbox", bind=True)
def sweep_inbox(self) -> int:
    settings = get_settings()
    return inbox.sweep(get_engine(settings.database_url), dt.timedelta(seconds=settings.inbox_sweep_after),
                       functools.partial(enqueue_event, self.app))


@shared_task(name="tds.cleanup")
def cleanup() -> dict:
    """Runs left ``running`` by a dead process are aborted; finished events past their retention go."""
    settings = get_settings()
    engine = get_engine(settings.database_url)
    aborted = runs.recover_stale(engine, services.redis_client(settings), stale_after=settings.run_stale_after)
    purged = inbox.purge_finished(engine, dt.timedelta(days=settings.inbox_retention_days))
    return {"runs_aborted": aborted, "events_purged": purged}
