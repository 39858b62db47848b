"""What is left of the shared Zoho budget, read from Redis without loading the Zoho client.

The keys are written by :mod:`tds.zoho.ratelimit` (quota) and :mod:`tds.zoho.breaker`
(pybreaker's shared state); their names are defined here so that the status page, the
metrics and the alerts — which run in the thin receiver too — read the same keys.
"""

from __future__ import annotations

import time

import redis as redis_lib

QUOTA_PREFIX = "tds:zoho:quota:"  # present while the day's quota is spent
REMAINING_PREFIX = "tds:zoho:quota-remaining:"  # Zoho's latest X-Rate-Limit-Remaining
CALLS_PREFIX = "tds:zoho:calls:"  # the calls TDS made that UTC day
BREAKER_PREFIX = "tds:zoho:breaker:"  # + api root + ":pybreaker:state"


def _number(raw) -> int | None:
    try:
        return int(float(raw))
    except (TypeError, ValueError):
        return None


def day_key(org_id: str) -> str:
    return f"{CALLS_PREFIX}{org_id}:{time.strftime('%Y%m%d', time.gmtime())}"


def remaining(redis: redis_lib.Redis, org_id: str, daily_limit: int | None) -> int | None:
    """Calls left today: Zoho's own latest figure when it sent one, else the configured daily
    limit less the calls TDS made today; 0 while the quota is marked spent."""
    if redis.pttl(QUOTA_PREFIX + org_id) > 0:
        return 0
    reported = _number(redis.get(REMAINING_PREFIX + org_id))
    if reported is not None:
        return max(0, reported)
    if daily_limit:
        return max(0, daily_limit - (_number(redis.get(day_key(org_id))) or 0))
    return None


def breaker_states(redis: redis_lib.Redis) -> dict[str, str]:
    """``{api root: closed | open | half-open}`` for every breaker that has recorded a state."""
    out = {}
    for key in redis.scan_iter(match=f"{BREAKER_PREFIX}*:pybreaker:state", count=100):
        name = key.decode() if isinstance(key, bytes) else key
        value = redis.get(key)
        state = value.decode() if isinstance(value, bytes) else (value or "closed")
        out[name[len(BREAKER_PREFIX):-len(":pybreaker:state")]] = state
    return out
