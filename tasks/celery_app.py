"""The Celery app, built from :class:`tds.config.Settings`: broker, queues, routes, beat.

:func:`create_celery` is the one place the app is configured. ``celery -A tasks worker``
finds the default app, built from the process's settings, in :mod:`tasks`; the webhook
receiver builds a sending-only app of its own with ``include=()``, so it loads neither
the task modules nor what they import (sync, processing, the Zoho client).

Queues: one per registry entity (``tds.items``, ``tds.invoices``, …) plus
``tds.maintenance`` for the sweeper and syncs. Messages carry only ids.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from tds import registry
from tds.config import Settings

MAINTENANCE_QUEUE = "tds.maintenance"
TASK_MODULES = ("tasks.events", "tasks.maintenance")
PROCESS_EVENT = "tds.process_event"
SYNC_ENTITY = "tds.sync_entity"


def all_queues() -> list[str]:
    return [*registry.queues(), MAINTENANCE_QUEUE]


def queues_for(role: str) -> list[str]:
    """The queues a worker of ``role`` consumes: ``webhooks`` (one queue per entity, short
    tasks), ``sync`` (full syncs and housekeeping, long tasks) or ``all``.

    Deployments run the two roles as separate workers so a long sync never holds a slot a
    webhook is waiting for. A new queue joins a role here and nowhere else.
    """
    roles = {"webhooks": list(registry.queues()), "sync": [MAINTENANCE_QUEUE], "all": all_queues()}
    try:
        return roles[role]
    except KeyError:
        raise ValueError(f"unknown worker role {role!r}; known: {', '.join(roles)}") from None


WORKER_ROLES = ("webhooks", "sync", "all")


def route_task(name, args, kwargs, options, task=None, **_):
    """Event tasks go to their entity's queue (the entity is the second argument)."""
    if name == PROCESS_EVENT:
        entity = kwargs.get("entity") or (args[1] if len(args) > 1 else None)
        if entity:
            return {"queue": registry.get(entity).queue}
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
        },
    )
    return app


def enqueue_event(app: Celery, event_id: int, entity: str) -> None:
    """Send an inbox event to its entity's queue (the message carries only the id)."""
    app.send_task(PROCESS_EVENT, args=[event_id, entity], queue=registry.get(entity).queue)


def send_sync(app: Celery, entity: str, organization_id: str, refetch: bool = False) -> None:
    """Send one full sync of (organization, entity) to the maintenance queue."""
    app.send_task(SYNC_ENTITY, args=[entity, organization_id], kwargs={"refetch": refetch}, queue=MAINTENANCE_QUEUE)
