"""One circuit breaker per Zoho API root, its state shared by every worker through Redis.

When Zoho is down, each worker finding out on its own would spend its retries (and the
rate limit) on a dead service. The breaker state lives in Redis
(``tds:zoho:breaker:<api root>:pybreaker:{state,fail_counter,success_counter,opened_at}``),
so once it opens every worker stops calling that API until it half-opens.

Only transient failures (5xx, 429, timeouts, connection errors) count; an answered request
of any other kind, fatal 4xx included, shows Zoho is up and resets the count.

The HTTP call itself runs outside the breaker: :meth:`ApiBreaker.check` before it, then
:meth:`record_success` or :meth:`record_failure` after. ``pybreaker.CircuitBreaker.call``
holds a process-wide lock for the length of the call, which would let only one thread of
a process talk to Zoho at a time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pybreaker
import redis as redis_lib

from .errors import ZohoCircuitOpen

log = logging.getLogger(__name__)


def bytes_client(redis: redis_lib.Redis) -> redis_lib.Redis:
    """A client on the same server that returns bytes, as ``CircuitRedisStorage`` requires."""
    kwargs = redis.connection_pool.connection_kwargs
    if not kwargs.get("decode_responses"):
        return redis
    pool = redis_lib.ConnectionPool(connection_class=redis.connection_pool.connection_class,
                                    **{**kwargs, "decode_responses": False})
    return redis_lib.Redis(connection_pool=pool)


class _Failed(Exception):
    """Carries a transient failure into the breaker so it counts."""


def _succeed() -> None:
    return None


def _fail() -> None:
    raise _Failed()


class ApiBreaker:
    def __init__(self, redis: redis_lib.Redis, api_root: str, fail_max: int, reset_timeout: float) -> None:
        self.api_root = api_root
        self.storage = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, bytes_client(redis), namespace=f"tds:zoho:breaker:{api_root}"
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            state_storage=self.storage,
            name=api_root,
            throw_new_error_on_trip=False,
        )

    @property
    def state(self) -> str:
        return self.breaker.current_state

    def check(self) -> None:
        """Raise :class:`ZohoCircuitOpen` while the shared breaker is open and not yet due to half-open."""
        if self.breaker.current_state != pybreaker.STATE_OPEN:
            return
        opened_at = self.storage.opened_at
        if opened_at is None:
            return
        due = opened_at + timedelta(seconds=self.breaker.reset_timeout)
        now = datetime.now(timezone.utc)
        if now < due:
            raise ZohoCircuitOpen(
                f"circuit open for {self.api_root} after repeated failures",
                retry_after=max(1.0, (due - now).total_seconds()),
            )

    def record_success(self) -> None:
        self._record(_succeed)

    def record_failure(self) -> None:
        self._record(_fail)

    def _record(self, outcome) -> None:
        before = self.breaker.current_state
        try:
            self.breaker.call(outcome)
        except (_Failed, pybreaker.CircuitBreakerError):
            pass  # the outcome is recorded; the caller raises its own error
        after = self.breaker.current_state
        if after != before:
            log.warning("Zoho circuit for %s: %s -> %s", self.api_root, before, after)
