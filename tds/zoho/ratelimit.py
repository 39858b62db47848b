"""The per-organization Zoho budget every worker shares through Redis.

Zoho allows 100 requests per minute per organization and a plan-sized number per day.
A worker that counted on its own would let N workers spend N times the budget and get the
organization blocked (code 44) for everyone, so both counts live in Redis:

``tds:zoho:ratelimit:LIMITER/zoho/<org>/<n>/1/minute``
    the moving window of the last minute's requests (the ``limits`` library).
``tds:zoho:quota:<org>``
    "daily quota exhausted": present, with the reset as its expiry, after Zoho answered
    code 45 or ``X-Rate-Limit-Remaining: 0``. While it exists no call for the
    organization leaves the process.
``tds:zoho:quota-remaining:<org>``
    the latest ``X-Rate-Limit-Remaining`` Zoho sent, expiring at its ``X-Rate-Limit-Reset``.
``tds:zoho:calls:<org>:<YYYYMMDD>``
    the calls TDS itself made that UTC day; with ``TDS_ZOHO_DAILY_LIMIT`` it tells what is
    left when Zoho sends no rate-limit headers. A sync or reconcile plan reads both
    (:meth:`DailyQuota.remaining`) before it starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import redis as redis_lib
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from tds.zoho.budget import QUOTA_PREFIX, REMAINING_PREFIX
from tds.zoho.budget import day_key as _budget_day_key
from tds.zoho.budget import remaining as _budget_remaining

from .classify import seconds_until_utc_midnight
from .errors import ZohoQuotaExceeded, ZohoRateLimited

log = logging.getLogger(__name__)

LIMITER_PREFIX = "tds:zoho:ratelimit"


class OrgRateLimiter:
    """``per_minute`` requests per organization, across every worker sharing ``redis``."""

    def __init__(self, redis: redis_lib.Redis, redis_url: str, per_minute: int,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        storage = RedisStorage(redis_url, connection_pool=redis.connection_pool, key_prefix=LIMITER_PREFIX)
        self.limiter = MovingWindowRateLimiter(storage)
        self.item = RateLimitItemPerMinute(per_minute)
        self.sleep = sleep

    def acquire(self, org_id: str, max_wait: float = 0) -> None:
        """Take one request from ``org_id``'s window.

        When the window is full, raises :class:`ZohoRateLimited` with ``retry_after`` (the
        seconds until a slot frees): a task gives its worker slot back and is retried
        after that countdown (:mod:`tds.process.failures`), never sleeping. Only a process of its
        own (``tds sync`` at the command line) passes ``max_wait`` to sleep up to that
        many seconds instead.
        """
        waited = 0.0
        while not self.limiter.hit(self.item, "zoho", org_id):
            reset_at, _remaining = self.limiter.get_window_stats(self.item, "zoho", org_id)
            wait = max(0.05, reset_at - time.time())
            if waited + wait > max_wait:
                raise ZohoRateLimited(
                    f"organization {org_id} is at {self.item.amount} requests/minute; "
                    f"waiting {waited + wait:.0f}s would pass the {max_wait:.0f}s limit",
                    retry_after=wait,
                )
            log.debug("rate limit full for organization %s; waiting %.2fs", org_id, wait)
            self.sleep(wait)
            waited += wait

    def clear(self, org_id: str) -> None:
        self.limiter.clear(self.item, "zoho", org_id)




class DailyQuota:
    """The shared "quota exhausted until T" marker, and what is left of the day's calls."""

    def __init__(self, redis: redis_lib.Redis, daily_limit: int | None = None) -> None:
        self.redis = redis
        self.daily_limit = daily_limit

    def check(self, org_id: str) -> None:
        """Raise :class:`ZohoQuotaExceeded` at once while ``org_id``'s quota is spent."""
        self.check_ttl(org_id, self.redis.pttl(QUOTA_PREFIX + org_id))

    def queue_check(self, pipe, org_id: str) -> None:
        """Queue the read :meth:`check_ttl` needs on ``pipe`` (the call's admission pipeline)."""
        pipe.pttl(QUOTA_PREFIX + org_id)

    def check_ttl(self, org_id: str, ttl) -> None:
        """:meth:`check` on the marker's PTTL read by :meth:`queue_check`."""
        if ttl and ttl > 0:
            raise ZohoQuotaExceeded(
                f"daily API quota of organization {org_id} is exhausted", retry_after=ttl / 1000.0
            )

    def exhaust(self, org_id: str, seconds: float) -> None:
        seconds = max(1, int(seconds))
        self.redis.set(QUOTA_PREFIX + org_id, int(time.time()) + seconds, ex=seconds)
        log.warning("daily Zoho quota of organization %s exhausted for %ss", org_id, seconds)

    def queue_record(self, pipe, org_id: str, headers: Mapping[str, str]) -> int | None:
        """Queue the writes that count one call on ``pipe``: today's count, and Zoho's
        ``X-Rate-Limit-Remaining`` when it sent one. Once it has run, pass what this returns
        to :meth:`after_record`, which marks the quota spent when nothing is left."""
        remaining = _number(headers.get("X-Rate-Limit-Remaining"))
        reset = _number(headers.get("X-Rate-Limit-Reset"))
        reset = reset if reset and reset > 0 else int(seconds_until_utc_midnight())
        day_key = self._day_key(org_id)
        pipe.incr(day_key)
        pipe.expire(day_key, 2 * 86400)
        if remaining is not None:
            pipe.set(REMAINING_PREFIX + org_id, remaining, ex=max(1, reset))
        return reset if remaining is not None and remaining <= 0 else None

    def after_record(self, org_id: str, spent_for: int | None) -> None:
        """Mark the quota spent when the recorded answer said nothing is left."""
        if spent_for is not None:
            self.exhaust(org_id, spent_for)

    def calls_today(self, org_id: str) -> int:
        return _number(self.redis.get(self._day_key(org_id))) or 0

    def remaining(self, org_id: str) -> int | None:
        """Calls left today: Zoho's own latest figure when it sent one, else the configured
        daily limit less the calls TDS made today; None when neither is known."""
        return _budget_remaining(self.redis, org_id, self.daily_limit)

    @staticmethod
    def _day_key(org_id: str) -> str:
        return _budget_day_key(org_id)


def _number(raw) -> int | None:
    try:
        return int(float(raw))
    except (TypeError, ValueError):
        return None
