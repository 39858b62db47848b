"""What a failure means: retry soon, wait in PostgreSQL, or dead-letter.

Read top-down, the way a task's retry policy applies it (:mod:`tasks.policy`):

* the daily Zoho quota is spent → **wait** in PostgreSQL until the quota resets (hours:
  never held as a broker ETA message, which Redis would redeliver after its visibility
  timeout);
* the shared per-minute budget is full (our limiter said "retry in N s", or Zoho's 429
  with a short ``Retry-After``) → **retry** after N seconds: the task gives its worker
  slot back instead of sleeping, and the wait does not count against the retries;
* a transient failure (Zoho 429/5xx, timeouts, connection errors, database operational
  errors) → **retry** after a short exponential backoff with jitter, until
  ``TDS_TASK_MAX_RETRIES`` is spent;
* anything else (validation, mapping, other 4xx), or retries exhausted → **dead letter**.

This module only decides (:mod:`tds.inbox.decisions` holds what a decision is); the inbox
(:mod:`tds.inbox.events`) records what was decided for an event, and :mod:`tds.inbox.deadletters` keeps
the letters.
"""

from __future__ import annotations

import datetime as dt
import random

import redis
import requests

from tds.backoff import backoff
from tds.config import Settings
from tds.db import is_unavailable, utcnow
from tds.inbox.decisions import Action, Decision
from tds.zoho.errors import ZohoQuotaExceeded, ZohoRateLimited, ZohoTransientError

TASK_BACKOFF_BASE_SECONDS = 2.0
RATE_LIMIT_WAIT_MAX = 65.0  # a per-minute window frees within a minute


def unrecorded_countdown(settings: Settings, retries: int) -> float:
    """The countdown of a task whose failure could not even be recorded (database down)."""
    return backoff(min(retries, settings.task_max_retries) + 1, TASK_BACKOFF_BASE_SECONDS,
                   settings.task_retry_backoff_max)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ZohoTransientError):
        return True
    if is_unavailable(exc):
        return True
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True  # the shared budget's Redis is away (restarting): not the record's fault
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


def decide(settings: Settings, exc: BaseException, retries: int) -> Decision:
    """The decision for a task that failed with ``exc`` after ``retries`` retries."""
    if isinstance(exc, ZohoQuotaExceeded):
        wait = max(60.0, float(getattr(exc, "retry_after", None) or 3600))
        return Decision(Action.WAIT, wait_until=utcnow() + dt.timedelta(seconds=wait))
    if isinstance(exc, ZohoRateLimited) and exc.retry_after and exc.retry_after <= RATE_LIMIT_WAIT_MAX:
        # the shared budget is spent for a few seconds: give the worker slot back and come
        # back when the window frees; waiting for the budget is not a failure, so it never
        # exhausts the retries
        return Decision(Action.RETRY, countdown=exc.retry_after + random.uniform(0, 1))
    if is_transient(exc) and retries < settings.task_max_retries:
        countdown = backoff(retries + 1, TASK_BACKOFF_BASE_SECONDS, settings.task_retry_backoff_max)
        return Decision(Action.RETRY, countdown=countdown)
    return Decision(Action.DEAD)
