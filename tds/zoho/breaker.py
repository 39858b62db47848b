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
import time
from dataclasses import dataclass
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


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Seen:
    """The breaker's shared state as read in the call's admission pipeline."""

    state: str | None  # None: the keys are missing (pybreaker re-creates them on the slow path)
    failures: int


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

    def key(self, name: str) -> str:
        return self.storage._namespace(name)

    def queue_read(self, pipe) -> None:
        """Queue the reads :meth:`check_read` needs (state, failure count, opened at) on ``pipe``."""
        pipe.get(self.key("state"))
        pipe.get(self.key("fail_counter"))
        pipe.get(self.key("opened_at"))

    def check_read(self, state, failures, opened_at) -> Seen:
        """:meth:`check` on values read by :meth:`queue_read`, without a round trip of its own."""
        state = _text(state)
        if state is None:
            self.check()  # pybreaker initialises missing keys
            return Seen(None, 0)
        if state == pybreaker.STATE_OPEN and opened_at:
            self._refuse_until_due(datetime(*time.gmtime(int(opened_at))[:6], tzinfo=timezone.utc))
        try:
            count = int(_text(failures) or 0)
        except ValueError:
            count = -1  # unreadable: let the slow path reset it
        return Seen(state, count)

    def queue_success(self, pipe, seen: Seen | None) -> bool:
        """Queue a success on ``pipe`` when the breaker was closed at admission: in the closed
        state a success only resets the failure count (as pybreaker does), so it rides in the
        call's closing pipeline. Returns False when the slow path (:meth:`record_success`) must
        run instead: half-open (a success may close the circuit), open, or unknown."""
        if seen is None or seen.state != pybreaker.STATE_CLOSED:
            return False
        if seen.failures != 0:
            pipe.set(self.key("fail_counter"), 0)
        return True

    def check(self) -> None:
        """Raise :class:`ZohoCircuitOpen` while the shared breaker is open and not yet due to half-open."""
        if self.breaker.current_state != pybreaker.STATE_OPEN:
            return
        opened_at = self.storage.opened_at
        if opened_at is not None:
            self._refuse_until_due(opened_at)

    def _refuse_until_due(self, opened_at: datetime) -> None:
        """Raise :class:`ZohoCircuitOpen` while ``opened_at`` + the reset timeout is ahead."""
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
