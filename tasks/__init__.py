"""Celery side of TDS: ``celery -A tasks worker`` finds the app here.

The app, its queues, routes and beat schedule are in :mod:`tasks.app`; the task functions
are thin wrappers over :mod:`tds` in :mod:`tasks.events` and :mod:`tasks.maintenance`.
"""

import tasks.events  # noqa: F401  (registers the tasks)
import tasks.maintenance  # noqa: F401
from tasks.app import all_queues as app_queues
from tasks.app import app, enqueue_event

celery = app

__all__ = ["app", "celery", "enqueue_event", "app_queues"]
