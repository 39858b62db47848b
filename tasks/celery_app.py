"""The Celery app, built from :class:`tds.config.Settings`: broker, queues, routes, beat.

:func:`create_celery` is the one place the app is configured. ``celery -A tasks worker``
finds the default app, built from the process's settings, in :mod:`tasks`; the webhook
receiver builds a sending-only app of its own with ``include=()``, so it loads neither
the task modules nor what they import (sync, processing, the Zoho client).

Queues: one per registry entity (``tds.items``, ``tds.invoices``, …) plus
``tds.maintenance`` for the sweeper and syncs, and ``tds.odoo`` for pushes to Odoo (so a
slow or absent Odoo never holds up the ERP). Messages carry only ids. The Odoo push is on
the beat schedule only when ``ODOO_URL`` is set.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from tds import registry
from tds.config import Settings

MAINTENANCE_QUEUE = "tds.maintenance"
ODOO_QUEUE = "tds.odoo"
TASK_MODULES = ("tasks.events", "tasks.maintenance", "tasks.odoo")
PROCESS_EVENT = "tds.process_event"
SYNC_ENTITY = "tds.sync_entity"
ODOO_PUSH = "tds.odoo.push"
ODOO_PUSH_EVENT = "tds.odoo.push_event"


def all_queues() -> list[str]:
    return [*registry.queues(), MAINTENANCE_QUEUE, ODOO_QUEUE]


def route_task(name, args, kwargs, options, task=None, **_):
    """Event tasks go to their entity's queue (the entity is the second argument)."""
    if name == PROCESS_EVENT:
        entity = kwargs.get("entity") or (args[1] if len(args) > 1 else None)
        if entity:
            return {"queue": registry.get(entity).queue}
    if name.startswith("tds.odoo."):
        return {"queue": ODOO_QUEUE}
    return {"queue": MAINTENANCE_QUEUE}


def create_celery(settings: Settings, include: tuple[str, ...] = TASK_MODULES) -> Celery:
    """A Celery app for ``settings``; ``include`` names the task modules a worker loads."""
    app = Celery("tds", include=list(include), set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_default_queue=MAINTENANCE_QUEUE,
        task_queues=[Queue(name, routing_key=name) for name in all_queues()],
        task_routes=(route_task,),
        worker_send_task_events=True,
        task_send_sent_event=True,
        timezone="UTC",
        beat_scheduler="redbeat.RedBeatScheduler",
        redbeat_redis_url=settings.redis_url,
        redbeat_key_prefix="tds:redbeat:",
        redbeat_lock_timeout=300,
        beat_max_loop_interval=30,
        beat_schedule={
            "sweep-inbox": {"task": "tds.sweep_inbox", "schedule": 60.0},
            "full-sync-nightly": {"task": "tds.sync_all", "schedule": crontab(hour=2, minute=0)},
            **_odoo_schedule(settings),
        },
    )
    return app


def _odoo_schedule(settings: Settings) -> dict:
    if not settings.odoo_enabled:
        return {}
    return {"odoo-push": {"task": ODOO_PUSH, "schedule": float(settings.odoo_sync_period),
                          "options": {"queue": ODOO_QUEUE, "expires": float(settings.odoo_sync_period)}}}


def enqueue_event(app: Celery, event_id: int, entity: str) -> None:
    """Send an inbox event to its entity's queue (the message carries only the id)."""
    app.send_task(PROCESS_EVENT, args=[event_id, entity], queue=registry.get(entity).queue)


def send_sync(app: Celery, entity: str, organization_id: str, refetch: bool = False) -> None:
    """Send one full sync of (organization, entity) to the maintenance queue."""
    app.send_task(SYNC_ENTITY, args=[entity, organization_id], kwargs={"refetch": refetch}, queue=MAINTENANCE_QUEUE)


def send_odoo_push_event(app: Celery, settings: Settings, event_id: int) -> None:
    """After an item event was written: push that item to Odoo (when Odoo is configured)."""
    if settings.odoo_enabled:
        app.send_task(ODOO_PUSH_EVENT, args=[event_id], queue=ODOO_QUEUE)
