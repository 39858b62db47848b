"""Maintenance tasks: the inbox sweeper, the sweep every worker runs when beat is late, the
daily cleanup and the alert check. The logic is in :mod:`tds`."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading

from celery import bootsteps, shared_task

from tasks.sending import enqueue_event, inspect_workers
from tds import hooks, runs, services
from tds.config import get_settings
from tds.db import get_engine
from tds.inbox import events as inbox
from tds.inbox import healing
from tds.ops import alerts, status
from tds.sinks import changes

log = logging.getLogger(__name__)


@shared_task(name="tds.sweep_inbox", bind=True)
def sweep_inbox(self) -> dict:
    settings = get_settings()
    try:
        report = healing.run_sweep(settings, functools.partial(enqueue_event, self.app),
                                   services.redis_client(settings))
    except healing.SweepRunning:
        return {"status": "another sweep is running"}
    return {"status": "swept", **report.redriven, "sync_locks_cleared": report.sync_locks_cleared,
            "runs_aborted": report.runs_aborted, "broker_was_empty": report.broker_was_empty}


class WorkerSweep(bootsteps.StartStopStep):
    """In the worker's main process, outside the pool: every few seconds, run the sweep if
    none has run for ``TDS_WORKER_SWEEP_AFTER`` (:func:`tds.inbox.healing.sweep_if_overdue`), so the
    inbox heals with beat gone. A thread, so a slow database never blocks the consumer."""

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread = None

    def start(self, parent):
        if not get_settings().worker_sweep_after:
            return
        self._thread = threading.Thread(target=self._run, args=(parent.app,), name="tds-worker-sweep", daemon=True)
        self._thread.start()

    def stop(self, parent):
        self._stop.set()

    def _run(self, app) -> None:
        settings = get_settings()
        every = max(1.0, min(30.0, settings.worker_sweep_after / 3))
        while not self._stop.wait(every):
            try:
                healing.sweep_if_overdue(settings, functools.partial(enqueue_event, app),
                                         services.redis_client(settings))
            except Exception as exc:  # Redis or PostgreSQL away: the next round tries again
                log.warning("worker sweep skipped: %s: %s", exc.__class__.__name__, exc)


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


@shared_task(name="tds.check_alerts", bind=True)
def check_alerts(self) -> list[str]:
    """Open, repeat and clear alerts (:mod:`tds.ops.alerts`); returns what was announced."""
    settings = get_settings()
    snap = status.snapshot(settings, workers=lambda _: inspect_workers(self.app))
    return [notice.text for notice in alerts.check(settings, snap)]
