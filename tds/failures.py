"""What a failure means: retry soon, wait in PostgreSQL, or dead-letter.

Read top-down, the way a task's retry policy applies it (:mod:`tasks.policy`):

* the daily Zoho quota is spent → **wait** in PostgreSQL until the quota resets (hours:
  never held as a broker ETA message, which Redis would redeliver after its visibility
  timeout);
* a transient failure (Zoho 429/5xx, timeouts, connection errors, database operational
  errors) → **retry** after a short exponential backoff with jitter, until
  ``TDS_TASK_MAX_RETRIES`` is spent;
* anything else (validation, mapping, other 4xx), or retries exhausted → **dead letter**.

This module only decides (:mod:`tds.decisions` holds what a decision is); the inbox
(:mod:`tds.inbox`) records what was decided for an event, and :mod:`tds.deadletters` keeps
the letters.
"""

from __future__ import annotations

import datetime as dt

import requests
from sqlalchemy import exc as sa_exc

from tds.backoff import backoff
from tds.config import Settings
from tds.db import utcnow
from tds.decisions import Action, Decision
from tds.zoho.errors import ZohoQuotaExceeded, ZohoTransientError

TASK_BACKOFF_BASE_SECONDS = 2.0


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ZohoTransientError):
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


def decide(settings: Settings, exc: BaseException, retries: int) -> Decision:
    """The decision for a task that failed with ``exc`` after ``retries`` retries."""
    if isinstance(exc, ZohoQuotaExceeded):
        wait = max(60.0, float(getattr(exc, "retry_after", None) or 3600))
        return Decision(Action.WAIT, wait_until=utcnow() + dt.timedelta(seconds=wait))
    if is_transient(exc) and retries < settings.task_max_retries:
        countdown = backoff(retries + 1, TASK_BACKOFF_BASE_SECONDS, settings.task_retry_backoff_max)
        return Decision(Action.RETRY, countdown=countdown)
    return Decision(Action.DEAD)
