"""Sending work to the workers, and asking them what they consume.

Every function takes the Celery app it sends through (the process's own: the receiver's
sending-only app, a worker's, the command line's), so nothing here builds one. Messages carry
only ids; the queue of each task is :mod:`tds.queues`'s.
"""

from __future__ import annotations

import logging
import threading
import uuid

from celery import Celery
from kombu.utils.json import dumps as kombu_dumps

from tds import registry
from tds.config import Settings
from tds.queues import (
    DOWNLOAD_IMAGE,
    IMAGES_QUEUE,
    ODOO_PUSH_EVENT,
    ODOO_QUEUE,
    PROCESS_EVENT,
    RECONCILE_ENTITY,
    SYNC_ENTITY,
    SYNC_QUEUE,
)

log = logging.getLogger(__name__)


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


class LiveWorkers(dict):
    """``{node: [queues it consumes]}``, built from every node's own reply; ``duplicates`` names
    the nodes that answered more than once (two workers started with the same name)."""

    duplicates: dict[str, int]


def inspect_workers(app: Celery, timeout: float = 1.0) -> LiveWorkers | None:
    """``{worker: [queues it consumes]}``, or None when the broker cannot be asked.

    Every reply is kept (a broadcast, not ``inspect``, which keys the replies by node name so
    that the last of two same-named workers wins and the answer flips from call to call)."""
    try:
        replies = app.control.broadcast("active_queues", reply=True, timeout=timeout) or []
    except Exception as exc:
        log.warning("could not ask the workers: %s", exc.__class__.__name__)
        return None
    out = LiveWorkers()
    seen: dict[str, int] = {}
    for reply in replies:
        for name, queues in (reply or {}).items():
            seen[name] = seen.get(name, 0) + 1
            names = {q["name"] for q in queues or [] if isinstance(q, dict)}
            out[name] = sorted(names | set(out.get(name, [])))
    out.duplicates = {name: n for name, n in seen.items() if n > 1}
    return out
