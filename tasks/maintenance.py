"""Maintenance tasks: the inbox sweeper and syncs, and the sweep every worker runs when
beat is late. The logic is in :mod:`tds`."""

from __future__ import annotations

import functools
import logging
import threading

from celery import bootsteps, shared_task

from tasks.celery_app import SYNC_ENTITY, enqueue_event, send_sync
from tasks.policy import zoho_task
from tds import deadletters, healing, registry, services, sync
from tds.config import get_settings
from tds.db import get_engine
from tds.decisions import Action, Decision

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
            "broker_was_empty": report.broker_was_empty}


class WorkerSweep(bootsteps.StartStopStep):
    """In the worker's main process, outside the pool: every few seconds, run the sweep if
    none has run for ``TDS_WORKER_SWEEP_AFTER`` (:func:`tds.healing.sweep_if_overdue`), so the
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


def _record_sync_failure(task, exc: BaseException, decision: Decision, entity: str, organization_id: str,
                         refetch: bool = False) -> Decision:
    """A sync that failed for good is a dead letter replay sends again; a sync stopped by
    the daily quota is recorded as a failed run, and the next one resumes."""
    if decision.action is Action.DEAD:
        with get_engine(get_settings().database_url).begin() as conn:
            deadletters.add(conn, task_name=task.name, entity=entity, exc=exc, organization_id=organization_id,
                            payload={"entity": entity, "organization_id": organization_id})
    return decision


@zoho_task(SYNC_ENTITY, on_failure=_record_sync_failure)
def sync_entity(self, entity: str, organization_id: str, refetch: bool = False) -> dict:
    settings = get_settings()
    try:
        result = sync.full_sync(settings, registry.get(entity), organization_id, services.zoho_client(settings),
                                redis=services.redis_client(settings),
                                enqueue=functools.partial(enqueue_event, self.app), refetch=refetch)
    except sync.SyncAlreadyRunning:
        return {"entity": entity, "organization_id": organization_id, "status": "already running"}
    return {"entity": entity, "organization_id": organization_id, "status": "succeeded",
            "seen": result.records_seen, "written": result.records_written}


@shared_task(name="tds.sync_all", bind=True)
def sync_all(self) -> int:
    sent = 0
    for org in get_settings().zoho_organization_ids:
        for entity in registry.ENTITIES:
            send_sync(self.app, entity.name, org)
            sent += 1
    return sent
