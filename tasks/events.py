"""Entity tasks: process one inbox event. The logic is in :mod:`tds.processing`."""

from __future__ import annotations

from tasks.app import app, enqueue_event
from tds import failures, processing, services
from tds.config import get_settings


@app.task(name="tds.process_event", bind=True, max_retries=None)
def process_event(self, event_id: int, entity: str = ""):
    settings = get_settings()
    try:
        outcome = processing.process_event(settings, event_id, client=services.zoho_client(settings))
    except Exception as exc:  # classified in tds.failures: retry, wait, or dead letter
        decision = failures.handle_event_failure(settings, event_id, exc, self.request.retries, self.name)
        if decision.action == "retry":
            raise self.retry(countdown=decision.countdown, exc=exc)
        return decision.action
    for follow_id, follow_entity in outcome.follow_up:
        enqueue_event(follow_id, follow_entity)
    return outcome.status
