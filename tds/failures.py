"""What happens when processing fails: retry soon, wait in PostgreSQL, or dead-letter.

Three outcomes, read top-down:

* the daily Zoho quota is spent → the event **waits** in PostgreSQL until the quota resets
  (hours: never held as a broker ETA message, which Redis would redeliver after its
  visibility timeout);
* a transient failure (Zoho 429/5xx, timeouts, connection errors, database operational
  errors) → **retry** after a short exponential backoff with jitter, until
  ``TDS_TASK_MAX_RETRIES`` is spent;
* anything else (validation, mapping, other 4xx), or retries exhausted → **dead letter**:
  a row in ``tds_dead_letters`` with the payload, the error and every attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

import requests
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.models import dead_letters, inbox_events
from tds.zoho.errors import ZohoQuotaExceeded, ZohoTransientError

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0


@dataclass(frozen=True)
class Decision:
    action: str  # retry | wait | dead | superseded (another attempt holds the event)
    countdown: float = 0.0
    wait_until: dt.datetime | None = None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ZohoTransientError):
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


def backoff(retries: int, cap: float) -> float:
    """Exponential backoff with jitter: about 2, 4, 8 … seconds, never above ``cap``."""
    ceiling = min(cap, BACKOFF_BASE_SECONDS * (2**retries))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def decide(settings: Settings, exc: BaseException, retries: int) -> Decision:
    if isinstance(exc, ZohoQuotaExceeded):
        wait = max(60.0, float(getattr(exc, "retry_after", None) or 3600))
        return Decision("wait", wait_until=utcnow() + dt.timedelta(seconds=wait))
    if is_transient(exc) and retries < settings.task_max_retries:
        return Decision("retry", countdown=backoff(retries, settings.task_retry_backoff_max))
    return Decision("dead")


def describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:4000]


def handle_event_failure(settings: Settings, event_id: int, exc: BaseException, retries: int, task_name: str) -> Decision:
    """Record a failed attempt at an inbox event and say what the task does next."""
    decision = decide(settings, exc, retries)
    engine = get_engine(settings.database_url)
    now = utcnow()
    with engine.begin() as conn:
        event = conn.execute(sa.select(inbox_events).where(inbox_events.c.id == event_id)).first()
        if event is None:
            return Decision("dead")
        attempts = list(event.attempt_log or []) + [{"at": now.isoformat(), "error": describe(exc)}]
        values = {"last_error": describe(exc), "attempt_log": attempts}
        if decision.action == "retry":
            values.update(status="retrying", enqueued_at=now + dt.timedelta(seconds=decision.countdown))
        elif decision.action == "wait":
            values.update(status="waiting", next_attempt_at=decision.wait_until)
        else:
            values.update(status="dead", processed_at=now)
        # Only the attempt that holds the event records its failure: a second delivery of
        # the same event (re-driven by the sweeper) may already have finished it, or the
        # event may have been asked for again meanwhile (status back to "received").
        held = conn.execute(
            sa.update(inbox_events)
            .where(inbox_events.c.id == event_id, inbox_events.c.status == "processing")
            .values(**values)
        ).rowcount
        if not held:
            log.info("inbox event %s failed after another attempt took it over; leaving it to that one", event_id)
            return Decision("superseded")
        if decision.action == "dead":
            conn.execute(
                sa.insert(dead_letters).values(
                    inbox_event_id=event_id,
                    task_name=task_name,
                    entity=event.entity,
                    organization_id=event.organization_id,
                    zoho_id=event.zoho_id,
                    payload={"source": event.source, "content_type": event.content_type, "body": event.body},
                    error_class=exc.__class__.__name__,
                    error=describe(exc),
                    attempts=attempts,
                    created_at=now,
                )
            )
    log.log(
        logging.WARNING if decision.action != "dead" else logging.ERROR,
        "inbox event %s (%s %s) failed: %s → %s",
        event_id,
        event.entity,
        event.zoho_id,
        describe(exc),
        decision.action,
    )
    return decision


def dead_letter_task(settings: Settings, task_name: str, entity: str, payload: dict, exc: BaseException,
                     organization_id: str | None = None, zoho_id: str | None = None) -> None:
    """Dead-letter a task that is not tied to an inbox event (a sync run)."""
    now = utcnow()
    with get_engine(settings.database_url).begin() as conn:
        conn.execute(
            sa.insert(dead_letters).values(
                task_name=task_name,
                entity=entity,
                organization_id=organization_id,
                zoho_id=zoho_id,
                payload=payload,
                error_class=exc.__class__.__name__,
                error=describe(exc),
                attempts=[{"at": now.isoformat(), "error": describe(exc)}],
                created_at=now,
            )
        )
