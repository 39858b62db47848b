"""The Celery app, built from :class:`tds.config.Settings`: broker, queues, routes, beat.

:func:`create_celery` is the one place the app is configured. ``celery -A tasks worker``
finds the default app, built from the process's settings, in :mod:`tasks`; the webhook
receiver builds a sending-only app of its own with ``include=()``, so it loads neither
the task modules nor what they import (sync, processing, the Zoho client).

Queues: one per registry entity (``tds.items``, ``tds.invoices``, …) for webhook events,
``tds.sync`` for syncs and reconciles (long runs that must never hold up webhooks: run
their workers apart, ``tds worker --queues sync``), ``tds.maintenance`` for the sweepers
and the cleanup, ``tds.images`` for image downloads (one task per image, low priority: see
:mod:`tds.images`), and ``tds.odoo`` for pushes to Odoo (so a slow or absent Odoo never
holds up the ERP). Messages carry only ids.

The beat schedule comes from the settings (``TDS_SCHEDULE_*``): the inbox sweeper, the
incremental syncs (one scheduler task that sends each entity's run, staggered over the
period), the reconcile with repair, an optional full sync, the daily cleanup, the
hourly image sweep, and the alert check (every minute); the Odoo push only when
``ODOO_URL`` is set.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from contextlib import contextmanager

from celery import Celery, signals
from kombu import Queue
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps as kombu_dumps

from tds import registry
from tds.config import Settings

MAINTENANCE_QUEUE = "tds.maintenance"
SYNC_QUEUE = "tds.sync"
IMAGES_QUEUE = "tds.images"
ODOO_QUEUE = "tds.odoo"
TASK_MODULES = ("tasks.events", "tasks.maintenance", "tasks.syncs", "tasks.images", "tasks.odoo")
PROCESS_EVENT = "tds.process_event"
SYNC_ENTITY = "tds.sync_entity"
RECONCILE_ENTITY = "tds.reconcile_entity"
DOWNLOAD_IMAGE = "tds.download_image"
ODOO_PUSH = "tds.odoo.push"
ODOO_PUSH_EVENT = "tds.odoo.push_event"
SYNC_TASKS = (SYNC_ENTITY, RECONCILE_ENTITY)

QUEUE_GROUPS = {
    "webhooks": lambda: registry.queues(),
    "sync": lambda: [SYNC_QUEUE],
    "maintenance": lambda: [MAINTENANCE_QUEUE],
    "images": lambda: [IMAGES_QUEUE],
    "odoo": lambda: [ODOO_QUEUE],
}


def all_queues() -> list[str]:
    return [*registry.queues(), SYNC_QUEUE, MAINTENANCE_QUEUE, IMAGES_QUEUE, ODOO_QUEUE]


def queues_of(groups: list[str]) -> list[str]:
    """The queues of ``webhooks``, ``sync``, ``maintenance``, ``images``, ``odoo`` or ``all``."""
    if not groups or "all" in groups:
        return all_queues()
    return [q for group in groups for q in QUEUE_GROUPS[group]()]


def route_task(name, args, kwargs, options, task=None, **_):
    """Event tasks go to their entity's queue (the entity is the second argument); syncs
    and reconciles to ``tds.sync``; everything else to ``tds.maintenance``."""
    if name == PROCESS_EVENT:
        entity = kwargs.get("entity") or (args[1] if len(args) > 1 else None)
        if entity:
            return {"queue": registry.get(entity).queue}
    if name.startswith("tds.odoo."):
        return {"queue": ODOO_QUEUE}
    if name in SYNC_TASKS:
        return {"queue": SYNC_QUEUE}
    if name == DOWNLOAD_IMAGE:
        return {"queue": IMAGES_QUEUE}
    return {"queue": MAINTENANCE_QUEUE}


def beat_schedule(settings: Settings) -> dict:
    """The periodic jobs, from ``TDS_SCHEDULE_*``; a period of 0 leaves a job out."""
    jobs = {
        "sweep-inbox": ("tds.sweep_inbox", settings.schedule_sweep, {}),
        "incremental-sync": ("tds.sync_incremental_all", settings.schedule_incremental, {}),
        "reconcile": ("tds.reconcile_all", settings.schedule_reconcile,
                      {"repair": settings.schedule_reconcile_repair}),
        "full-sync": ("tds.sync_all", settings.schedule_full, {}),
        "cleanup": ("tds.cleanup", settings.schedule_cleanup, {}),
        "sweep-images": ("tds.sweep_images", settings.schedule_images, {}),
        "check-alerts": ("tds.check_alerts", settings.schedule_alerts, {}),
    }
    return {name: {"task": task, "schedule": float(every), "kwargs": kwargs}
            for name, (task, every, kwargs) in jobs.items() if every}


class _KeptClientChannel(kombu_redis.Channel):
    """kombu's Redis channel, keeping the one client it publishes through instead of
    building a new one for every message. A redis-py client is thread-safe (each command
    takes a connection from the channel's pool and gives it back), and the channel, its pool
    and so this client are replaced whenever kombu reconnects."""

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        kept = self.__dict__.get("_kept_client")
        if kept is None:
            kept = self.__dict__["_kept_client"] = self._create_client()
        yield kept


class KeptClientTransport(kombu_redis.Transport):
    """The Redis transport with :class:`_KeptClientChannel` (``broker_transport``)."""

    Channel = _KeptClientChannel


def create_celery(settings: Settings, include: tuple[str, ...] = TASK_MODULES) -> Celery:
    """A Celery app for ``settings``; ``include`` names the task modules a worker loads."""
    app = Celery("tds", include=list(include), set_as_current=False)
    app.conf.update(
        broker_url=settings.redis_url,
        # rediss:// keeps kombu's own transport (the scheme is what turns on TLS there)
        broker_transport=f"{__name__}:KeptClientTransport" if settings.redis_url.startswith("redis://") else None,
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
        task_send_sent_event=False,  # one publish per task; workers' events show it in Flower
        timezone="UTC",
        beat_scheduler="tasks.beat:HealingRedBeatScheduler",
        redbeat_redis_url=settings.redis_url,
        redbeat_key_prefix="tds:redbeat:",
        redbeat_lock_timeout=settings.beat_lock_timeout,
        beat_max_loop_interval=settings.beat_loop_interval,
        beat_schedule={**beat_schedule(settings), **_odoo_schedule(settings)},
    )
    if "tasks.maintenance" in include:
        from tasks.maintenance import WorkerSweep

        app.steps["worker"].add(WorkerSweep)
    return app


def _odoo_schedule(settings: Settings) -> dict:
    if not settings.odoo_enabled:
        return {}
    return {"odoo-push": {"task": ODOO_PUSH, "schedule": float(settings.odoo_sync_period),
                          "options": {"queue": ODOO_QUEUE, "expires": float(settings.odoo_sync_period)}}}


@signals.setup_logging.connect
def _setup_logging(**_):
    """Workers and beat log in TDS's one format (``TDS_LOG_FORMAT``), not Celery's own."""
    from tds import logs
    from tds.config import get_settings

    logs.setup(get_settings(), "beat" if "beat" in sys.argv else "worker")


@signals.worker_process_shutdown.connect
def _process_gone(**_):
    """A prefork child exits: drop its live metrics (multiprocess mode)."""
    from tds import metrics

    metrics.mark_process_dead(os.getpid())


def enqueue_event(app: Celery, event_id: int, entity: str, countdown: float = 0) -> None:
    """Send an inbox event to its entity's queue (the message carries only the id);
    ``countdown`` lets a burst of webhooks for one record arrive before it is processed
    (the receiver holds back only a body that needs a Zoho fetch)."""
    app.send_task(PROCESS_EVENT, args=[event_id, entity], queue=registry.get(entity).queue,
                  countdown=countdown or None)


class EventSender:
    """``enqueue_event`` for the receiver's hot path: the same message, for a fraction of
    the work.

    The message is the one ``send_task`` sends, built by Celery (``app.amqp.as_task_v2``)
    and published by kombu's channel to the entity's queue; what is left out is the
    wrapping around them on every call: routing, the producer pool, declaring the queue,
    the retry policy, and a "safe" repr of arguments that are two plain values. One
    channel is kept per process and shared by its threads (publishing on it is a stateless
    LPUSH through a thread-safe client); when a send fails the channel is dropped, so the
    next send opens a new one, and the error is raised to the caller.
    """

    def __init__(self, app: Celery):
        self.app = app
        self._connection = None
        self._channel = None
        self._lock = threading.Lock()

    def __call__(self, event_id: int, entity: str, countdown: float = 0) -> None:
        channel = self._channel or self._open()
        task_id = str(uuid.uuid4())
        args = [event_id, entity]
        message = self.app.amqp.as_task_v2(task_id, PROCESS_EVENT, args, {},
                                            countdown=countdown or None, reply_to=self.app.thread_oid,
                                            ignore_result=None, argsrepr=repr(args), kwargsrepr="{}")
        properties = {**message.properties, "delivery_mode": 2}
        try:
            channel.basic_publish(
                channel.prepare_message(kombu_dumps(message.body), 0, "application/json", "utf-8",
                                        message.headers, properties),
                "", registry.get(entity).queue)
        except Exception:
            self.close()
            raise

    def _open(self):
        with self._lock:
            if self._channel is None:
                self._connection = self.app.connection_for_write()
                self._channel = self._connection.default_channel
            return self._channel

    def close(self) -> None:
        with self._lock:
            connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # already broken: nothing more to free
                pass


def send_sync(app: Celery, entity: str, organization_id: str, refetch: bool = False, **options) -> None:
    """Send one sync of (organization, entity) to ``tds.sync``; ``options`` are the task's
    keyword arguments (``mode``, ``since``, ``per_page``, ``run_id``) and ``countdown``."""
    countdown = options.pop("countdown", None)
    app.send_task(SYNC_ENTITY, args=[entity, organization_id], kwargs={"refetch": refetch, **options},
                  queue=SYNC_QUEUE, countdown=countdown)


def send_reconcile(app: Celery, entity: str, organization_id: str, repair: bool = False, **options) -> None:
    """Send one reconcile of (organization, entity) to ``tds.sync``."""
    app.send_task(RECONCILE_ENTITY, args=[entity, organization_id], kwargs={"repair": repair, **options},
                  queue=SYNC_QUEUE)


def send_image(app: Celery, organization_id: str, zoho_item_id: str) -> None:
    """Send one image download to the images queue."""
    app.send_task(DOWNLOAD_IMAGE, args=[organization_id, zoho_item_id], queue=IMAGES_QUEUE)


def send_odoo_push_event(app: Celery, settings: Settings, event_id: int) -> None:
    """After an item event was written: push that item to Odoo (when Odoo is configured)."""
    if settings.odoo_enabled:
        app.send_task(ODOO_PUSH_EVENT, args=[event_id], queue=ODOO_QUEUE)
