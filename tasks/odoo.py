"""Odoo tasks on the ``tds.odoo`` queue: the scheduled push and the push after an item
event. The logic is in :mod:`tds.sinks.odoo.push`.

Odoo down (refused, timed out, 5xx) and a push already running are transient failures: the
task policy retries them with backoff. A push that still fails loses nothing: every
scheduled run compares every product with what Odoo holds.
"""

from __future__ import annotations

from tasks.policy import zoho_task
from tds import services
from tds.config import get_settings
from tds.queues import ODOO_PUSH, ODOO_PUSH_EVENT
from tds.sinks.odoo import push as odoo_push


def _summary(run) -> dict:
    if run is None:
        return {"status": "nothing to push"}
    return {"status": "succeeded", "run": run.run_id, "odoo_calls": run.odoo_calls, **run.result.as_dict()}


@zoho_task(ODOO_PUSH)
def push(self) -> dict:
    settings = get_settings()
    try:
        return _summary(odoo_push.push(settings, services.redis_client(settings), trigger="schedule"))
    except odoo_push.OdooBusy:
        return {"status": "already running"}  # skipped: the next scheduled run is one period away


@zoho_task(ODOO_PUSH_EVENT)
def push_event(self, event_id: int) -> dict:
    settings = get_settings()
    return _summary(odoo_push.push_for_event(settings, services.redis_client(settings), event_id))
