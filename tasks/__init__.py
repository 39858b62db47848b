"""Celery side of TDS: ``celery -A tasks worker`` finds the app here.

The app, its queues, routes and beat schedule are in :mod:`tasks.app`; the task functions
are thin wrappers over :mod:`tds` in :mod:`tasks.events` and :mod:`tasks.maintenance`.
"""

from tasks.app import all_queues as app_queues, app, enqueue_event  # noqa: F401
import tasks.events  # noqa: F401,E402  (registers the tasks)
import tasks.maintenance  # noqa: F401,E402

celery = app
