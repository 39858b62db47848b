"""Entity tasks: process one inbox event (and the batch it takes). The logic is in :mod:`tds.process.processor`."""

from __future__ import annotations

from tasks.policy import zoho_task
from tasks.sending import enqueue_event, send_image, send_odoo_push_event
from tds.config import get_settings
from tds.db import get_engine
from tds.inbox import events as inbox
from tds.inbox.decisions import Decision
from tds.process import processor as processing
from tds.zoho import shared as zoho_shared


def _record_failure(task, exc: BaseException, decision: Decision, event_id: int, entity: str = "") -> Decision:
    with get_engine(get_settings().database_url).begin() as conn:
        return inbox.record_failure(conn, event_id, decision, exc, task.name)


@zoho_task("tds.process_event", on_failure=_record_failure)
def process_event(self, event_id: int, entity: str = ""):
    settings = get_settings()
    outcome = processing.process_event(
        settings, event_id, client=lambda: zoho_shared.zoho_client(settings),
        # a retry after a failure that could not be recorded: the event is still ours
        taking_over=self.request.unrecorded_failure,
        resend=lambda other_id, other_entity: enqueue_event(self.app, other_id, other_entity))
    for follow_id, follow_entity in outcome.follow_up:
        enqueue_event(self.app, follow_id, follow_entity)
    for job in outcome.images:
        send_image(self.app, job.organization_id, job.zoho_item_id)
    if outcome.entity == "items":
        for done_id, status in outcome.finished:
            if status in (processing.Result.DONE, processing.Result.DELETED):
                send_odoo_push_event(self.app, settings, done_id)
    return str(outcome.status)
