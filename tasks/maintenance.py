"""Maintenance tasks: the inbox sweeper and syncs. The logic is in :mod:`tds`."""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task

from tasks.celery_app import SYNC_ENTITY, enqueue_event, send_sync
from tasks.policy import zoho_task
from tds import availability, deadletters, inbox, registry, services, sync
from tds.config import get_settings
from tds.db import get_engine
from tds.decisions import Action, Decision


@shared_task(name="tds.sweep_inbox", bind=True)
def sweep_inbox(self) -> int:
    settings = get_settings()
    return inbox.sweep(get_engine(settings.database_url), dt.timedelta(seconds=settings.inbox_sweep_after),
                       functools.partial(enqueue_event, self.app))


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
        result = availability.sync_entity(settings, registry.get(entity), organization_id,
                                          services.zoho_client(settings), redis=services.redis_client(settings),
                                          enqueue=functools.partial(enqueue_event, self.app), refetch=refetch)
    except sync.SyncAlreadyRunning:
        return {"entity": entity, "organization_id": organization_id, "status": "already running"}
    if isinstance(result, availability.Unavailable):
        return {"entity": entity, "organization_id": organization_id, "status": "unavailable",
                "code": result.code, "message": result.message}
    return {"entity": entity, "organization_id": organization_id, "status": "succeeded",
            "seen": result.records_seen, "written": result.records_written}


@shared_task(name="tds.sync_all", bind=True)
def sync_all(self) -> int:
    settings = get_settings()
    sent = 0
    for org in settings.zoho_organization_ids:
        for entity in registry.enabled(settings):
            send_sync(self.app, entity.name, org)
            sent += 1
    return sent
