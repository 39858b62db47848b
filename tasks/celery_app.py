"""The Celery app, built from :class:`tds.config.Settings`: broker, queues, routes, beat.

:func:`create_celery` is the one place the app is configured. ``celery -A tasks worker``
finds the default app, built from the process's settings, in :mod:`tasks`; the webhook
receiver builds a sending-only app of its own with ``include=()``, so it loads neither
the task modules nor what they import (sync, processing, the Zoho client).

Queues (named, and tasks routed, in :mod:`tds.queues`): one per registry entity
(``tds.items``, ``tds.invoices``, …) for webhook events, ``tds.sync`` for syncs and reconciles (long runs that must never hold up webhooks: run
their workers apart, ``tds worker --queues sync``), ``tds.maintenance`` for the sweepers
and the cleanup, ``tds.images`` for image downloads (one task per image, low priority: see
:mod:`tds.sync.images`), and ``tds.odoo`` for pushes to Odoo (so a slow or absent Odoo never
holds up the ERP). Messages carry only ids.

The beat schedule comes from the settings (``TDS_SCHEDULE_*``): the inbox sweeper, the
incremental syncs (one scheduler task that sends each entity's run, staggered over the
period), the reconcile with repair, an optional full sync, the daily cleanup, the
hourly image sweep, and the alert check (every minute); the Odoo push only when
``ODOO_URL`` is set.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

from celery import Celery, signals
from kombu import Queue
from kombu.transport import redis as kombu_redis

from tasks.sending import inspect_workers
from tds.config import Settings
from tds.queues import (
    MAINTENANCE_QUEUE,
    ODOO_PUSH,
    ODOO_QUEUE,
    all_queues,
    route_task,
)

log = logging.getLogger(__name__)

TASK_MODULES = ("tasks.events", "tasks.maintenance", "tasks.syncs", "tasks.images", "tasks.odoo")


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


def live_workers(settings: Settings, timeout: float = 1.0) -> dict[str, list[str]] | None:
    """``{worker: [queues it consumes]}`` for the workers of ``settings``' broker, or None when
    it cannot be asked (the reader :func:`tds.ops.status.snapshot` is handed by the processes
    that may ask)."""
    try:
        app = create_celery(settings, include=())
    except Exception as exc:
        log.warning("could not ask the workers: %s", exc.__class__.__name__)
        return None
    return inspect_workers(app, timeout)


def worker_node_name(settings: Settings, groups: list[str], host: str | None = None, timeout: float = 1.0) -> str:
    """The node name ``tds worker`` gives itself: its first queue group at this host
    (``webhooks@host``, ``sync@host``, ``all@host``), as compose and systemd name theirs; when a
    live node already answers to that name (the same groups started twice here), the pid is
    added (``webhooks-<pid>@host``, the pid survives the exec). Two starts within the same
    second can still meet: status then shows a ``worker_name`` finding."""
    import socket

    host = host or socket.gethostname()
    base = groups[0] if groups else "all"
    name = f"{base}@{host}"
    try:
        app = create_celery(settings, include=())
        taken = app.control.ping(destination=[name], timeout=timeout) or []
    except Exception as exc:  # the broker was checked just before; say so and keep the plain name
        log.warning("could not ask whether %s is taken: %s", name, exc.__class__.__name__)
        taken = []
    return f"{base}-{os.getpid()}@{host}" if taken else name
