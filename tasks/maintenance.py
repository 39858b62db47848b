"""Maintenance tasks: inbox sweeper and syncs. The logic is in :mod:`tds`."""

from __future__ import annotations

import datetime as dt

from tasks.app import app, enqueue_event
from tds import failures, inbox, registry, services, sync
from tds.config import get_settings
from tds.db import get_engine


@app.task(name="tds.sweep_inbox")
def sweep_inbox() -> int:
    settings = get_settings()
    return inbox.sweep(get_engine(settings.database_url), dt.timedelta(seconds=settings.inbox_sweep_after),
                       enqueue_event)


@app.task(name="tds.sync_entity", bind=True, max_retries=None)
def sync_entity(self, entity: str, organization_id: str, mode: str = "full", refetch: bool = False) -> dict:
    settings = get_settings()
    ent = registry.get(entity)
    try:
        result = sync.full_sync(settings, ent, organization_id, services.zoho_client(settings),
                                redis=services.redis_client(settings), enqueue=enqueue_event, refetch=refetch)
    except sync.SyncAlreadyRunning:
        return {"entity": entity, "organization_id": organization_id, "status": "already running"}
    except Exception as exc:
        decision = failures.decide(settings, exc, self.request.retries)
        if decision.action == "retry":
            raise self.retry(countdown=decision.countdown, exc=exc)
        if decision.action == "wait":  # daily quota spent: the run is recorded as failed, the next one resumes
            return {"entity": entity, "organization_id": organization_id, "status": "waiting for the Zoho quota",
                    "until": decision.wait_until.isoformat()}
        failures.dead_letter_task(settings, self.name, entity, {"entity": entity, "organization_id": organization_id,
                                                                 "mode": mode}, exc, organization_id)
        return {"entity": entity, "organization_id": organization_id, "status": decision.action}
    return {"entity": entity, "organization_id": organization_id, "status": "succeeded",
            "seen": result.records_seen, "written": result.records_written}


@app.task(name="tds.sync_all")
def sync_all(mode: str = "full") -> int:
    settings = get_settings()
    sent = 0
    for org in settings.zoho_organization_ids:
        for entity in registry.ENTITIES:
            sync_entity.apply_async(args=[entity.name, org, mode])
            sent += 1
    return sent
