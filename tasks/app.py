"""The Celery app: broker settings, one queue per registry entity, routes, beat schedule."""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

from tds import registry
from tds.config import Settings, get_settings

MAINTENANCE_QUEUE = "tds.maintenance"
DEAD_LETTER_QUEUE = "tds.dead_letter"
ENTITY_TASKS = ("tds.process_event",)


def all_queues() -> list[str]:
    return [*registry.queues(), MAINTENANCE_QUEUE, DEAD_LETTER_QUEUE]


def route_task(name, args, kwargs, options, task=None, **_):
    """Entity tasks go to their entity's queue (the entity is the second argument)."""
    if name in ENTITY_TASKS:
        entity = kwargs.get("entity") or (args[1] if len(args) > 1 else None)
        if entity:
            return {"queue": registry.get(entity).queue}
    return {"queue": MAINTENANCE_QUEUE}


def configure(app: Celery, settings: Settings) -> None:
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
            "full-sync-nightly": {"task": "tds.sync_all", "schedule": crontab(hour=2, minute=0),
                                  "kwargs": {"mode": "full"}},
        },
    )


app = Celery("tds")
configure(app, get_settings())


def enqueue_event(event_id: int, entity: str) -> None:
    """Send an inbox event to its entity's queue (the message carries only the id)."""
    app.send_task("tds.process_event", args=[event_id, entity], queue=registry.get(entity).queue)
