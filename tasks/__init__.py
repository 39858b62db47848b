"""Celery side of TDS: ``celery -A tasks worker`` finds the app here.

The app is built by :func:`tasks.celery_app.create_celery` from the process's settings the
first time ``tasks.app`` is read, so importing this package configures nothing. The task
functions are thin wrappers over :mod:`tds` in :mod:`tasks.events` and
:mod:`tasks.maintenance` and :mod:`tasks.images`; their retry policy is declared once, in :mod:`tasks.policy`.
"""

from __future__ import annotations

import threading

from tds.queues import all_queues

__all__ = ["app", "celery", "all_queues", "enqueue_event", "send_sync", "send_reconcile", "send_image"]

_lock = threading.Lock()
_app = None


def default_app():
    """The process's Celery app, built once from :func:`tds.config.get_settings`."""
    global _app
    with _lock:
        if _app is None:
            from tasks.celery_app import create_celery
            from tds.config import get_settings

            _app = create_celery(get_settings())
            _app.set_current()
            _app.set_default()
        return _app


def enqueue_event(event_id: int, entity: str) -> None:
    from tasks.sending import enqueue_event as send

    send(default_app(), event_id, entity)


def send_sync(entity: str, organization_id: str, refetch: bool = False, **options) -> None:
    from tasks.sending import send_sync as send

    send(default_app(), entity, organization_id, refetch, **options)


def send_reconcile(entity: str, organization_id: str, repair: bool = False, **options) -> None:
    from tasks.sending import send_reconcile as send

    send(default_app(), entity, organization_id, repair, **options)


def send_image(organization_id: str, zoho_item_id: str) -> None:
    from tasks.sending import send_image as send

    send(default_app(), organization_id, zoho_item_id)


def __getattr__(name: str):
    if name in ("app", "celery"):
        return default_app()
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
