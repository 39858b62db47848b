"""Sync and reconcile tasks (queue ``tds.sync``) and the schedulers beat calls. The logic
is in :mod:`tds.sync.synchronizer`, :mod:`tds.sync.reconcile` and :mod:`tds.runs`."""

from __future__ import annotations

import datetime as dt
import functools

from celery import shared_task

from tasks.policy import zoho_task
from tasks.sending import enqueue_event, send_image, send_reconcile, send_sync
from tds import registry, runs, services
from tds.config import get_settings
from tds.db import get_engine
from tds.inbox import deadletters
from tds.inbox.decisions import Action, Decision
from tds.queues import RECONCILE_ENTITY, SYNC_ENTITY
from tds.runs import Mode
from tds.sync import availability, reconcile
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared


def _record_run_failure(task, exc: BaseException, decision: Decision, entity: str, organization_id: str,
                        **kwargs) -> Decision:
    """A run that failed for good is a dead letter replay sends again; a run stopped by the
    daily quota or the rate limit is recorded as deferred (with the reason and when it tries
    again; never an error), and the next scheduled one resumes from the cursor."""
    if decision.action is Action.DEAD:
        with get_engine(get_settings().database_url).begin() as conn:
            deadletters.add(conn, task_name=task.name, entity=entity, exc=exc, organization_id=organization_id,
                            payload={"entity": entity, "organization_id": organization_id, **kwargs})
    return decision


@zoho_task(SYNC_ENTITY, on_failure=_record_run_failure)
def sync_entity(self, entity: str, organization_id: str, mode: str = Mode.FULL, refetch: bool = False,
                since: str | None = None, per_page: int = sync.MAX_PER_PAGE, run_id: int | None = None) -> dict:
    settings = get_settings()
    redis = services.redis_client(settings)
    runs.clear_pending(redis, organization_id, entity, mode)
    try:
        result = availability.sync_entity(
            settings, registry.get(entity), organization_id, zoho_shared.zoho_client(settings), mode=Mode(mode),
            redis=redis, enqueue=functools.partial(enqueue_event, self.app), refetch=refetch,
            since=dt.datetime.fromisoformat(since) if since else None, per_page=per_page, run_id=run_id)
    except runs.AlreadyRunning as exc:
        return {"entity": entity, "organization_id": organization_id, "status": "skipped", "reason": str(exc)}
    if isinstance(result, availability.Unavailable):
        return {"entity": entity, "organization_id": organization_id, "status": "unavailable",
                "code": result.code, "message": result.message}
    for job in result.images:
        send_image(self.app, job.organization_id, job.zoho_item_id)
    return {"entity": entity, "organization_id": organization_id, "status": "succeeded", "run_id": result.run_id,
            "seen": result.records_seen, "written": result.records_written}


@zoho_task(RECONCILE_ENTITY, on_failure=_record_run_failure)
def reconcile_entity(self, entity: str, organization_id: str, repair: bool = False, run_id: int | None = None
                     ) -> dict:
    settings = get_settings()
    redis = services.redis_client(settings)
    runs.clear_pending(redis, organization_id, entity, Mode.RECONCILE)
    try:
        report = reconcile.reconcile_entity(settings, registry.get(entity), organization_id,
                                            zoho_shared.zoho_client(settings), repair=repair, redis=redis,
                                            enqueue=functools.partial(enqueue_event, self.app), run_id=run_id,
                                            send_images=lambda jobs: [send_image(self.app, job.organization_id,
                                                                                 job.zoho_item_id) for job in jobs])
    except runs.AlreadyRunning as exc:
        return {"entity": entity, "organization_id": organization_id, "status": "skipped", "reason": str(exc)}
    return {"entity": entity, "organization_id": organization_id, "status": "succeeded", "run_id": report.run_id,
            "match_percent": report.match_percent}


def _each(settings):
    for org in settings.zoho_organization_ids:
        for entity in registry.enabled(settings):
            yield org, entity


@shared_task(name="tds.sync_incremental_all", bind=True)
def sync_incremental_all(self) -> int:
    """One incremental sync per (organization, entity), staggered over the period; an
    entity whose previous run has not started yet is not sent again (skipped, not stacked)."""
    settings = get_settings()
    redis = services.redis_client(settings)
    period = settings.schedule_incremental or 300
    pairs = list(_each(settings))
    sent = 0
    for i, (org, entity) in enumerate(pairs):
        if runs.mark_pending(redis, org, entity.name, Mode.INCREMENTAL, ttl=2 * period):
            send_sync(self.app, entity.name, org, mode=Mode.INCREMENTAL, countdown=i * period / max(1, len(pairs)))
            sent += 1
    return sent


@shared_task(name="tds.reconcile_all", bind=True)
def reconcile_all(self, repair: bool = True) -> int:
    settings = get_settings()
    redis = services.redis_client(settings)
    sent = 0
    for org, entity in _each(settings):
        if runs.mark_pending(redis, org, entity.name, Mode.RECONCILE, ttl=2 * (settings.schedule_reconcile or 3600)):
            send_reconcile(self.app, entity.name, org, repair=repair)
            sent += 1
    return sent


@shared_task(name="tds.sync_all", bind=True)
def sync_all(self) -> int:
    settings = get_settings()
    redis = services.redis_client(settings)
    sent = 0
    for org, entity in _each(settings):
        if runs.mark_pending(redis, org, entity.name, Mode.FULL, ttl=2 * (settings.schedule_full or 86400)):
            send_sync(self.app, entity.name, org, mode=Mode.FULL)
            sent += 1
    return sent
