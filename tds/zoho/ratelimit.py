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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import redis as redis_lib
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from .classify import seconds_until_utc_midnight
from .errors import ZohoQuotaExceeded, ZohoRateLimited

log = logging.getLogger(__name__)

QUOTA_PREFIX = "tds:zoho:quota:"
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
        after that countdown (:mod:`tds.failures`), never sleeping. Only a process of its
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
    """The shared "quota exhausted until T" marker."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis

    def check(self, org_id: str) -> None:
        """Raise :class:`ZohoQuotaExceeded` at once while ``org_id``'s quota is spent."""
        ttl = self.redis.pttl(QUOTA_PREFIX + org_id)
        if ttl and ttl > 0:
            raise ZohoQuotaExceeded(
                f"daily API quota of organization {org_id} is exhausted", retry_after=ttl / 1000.0
            )

    def exhaust(self, org_id: str, seconds: float) -> None:
        seconds = max(1, int(seconds))
        self.redis.set(QUOTA_PREFIX + org_id, int(time.time()) + seconds, ex=seconds)
        log.warning("daily Zoho quota of organization %s exhausted for %ss", org_id, seconds)

    def record_headers(self, org_id: str, headers: Mapping[str, str]) -> None:
        """Mark the quota spent when Zoho says ``X-Rate-Limit-Remaining: 0``."""
        remaining = _number(headers.get("X-Rate-Limit-Remaining"))
        if remaining is not None and remaining <= 0:
            reset = _number(headers.get("X-Rate-Limit-Reset"))
            self.exhaust(org_id, reset if reset and reset > 0 else seconds_until_utc_midnight())


def _number(raw) -> int | None:
    try:
        return int(float(raw))
    except (TypeError, ValueError):
        return None
