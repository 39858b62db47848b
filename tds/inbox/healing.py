"""The sweep: what heals TDS after a lost message, a killed worker or an emptied Redis.

Beat runs :func:`run_sweep` every ``TDS_SCHEDULE_SWEEP``; every worker also runs it
(:func:`sweep_if_overdue`) when no sweep has run for ``TDS_WORKER_SWEEP_AFTER`` seconds, so
healing never depends on beat staying up. One sweep at a time, under a Redis lock: the
race it prevents is N workers noticing together that beat is gone and each re-sending the
whole inbox.

One sweep:

1. notices whether Redis came back empty: the marker ``tds:broker:mark`` is set by every
   sweep and disappears only with Redis's data (``FLUSHALL``, a restart without
   persistence). Every message queued before was lost with it, so the sweep then re-sends
   every RECEIVED and RETRYING event at once, however young (a RECEIVED one held for its
   coalescing countdown too: its message went with Redis);
2. re-sends the inbox events due (:func:`tds.inbox.events.due_for_redrive`: never sent, lease run
   out, retry lost, wait over), each sent before it is marked sent. A RECEIVED event is
   due after ``TDS_INBOX_SWEEP_AFTER``, or after the lease when its entity's queue is
   empty: then its message is not waiting in Redis but was taken ahead of time by a
   worker (prefetched, or held for its coalescing countdown) that was killed. A long
   backlog keeps its queue non-empty, so it is never re-sent while it merely waits;
3. clears sync locks with no expiry (a lock whose holder can no longer renew it, so it
   would block that sync for ever; TDS's own locks always expire, so this is for a lock
   left by hand or by an older version), and has :func:`tds.runs.recover_stale` mark
   ``aborted`` the runs whose lock is gone and whose heartbeat is older than
   ``TDS_RUN_STALE_AFTER`` (the cleanup does the same, once a day);
4. records its time (``tds:inbox:swept_at``) and logs one line with every count.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import redis as redis_lib

from tds import registry, runs
from tds.config import Settings
from tds.db import get_engine
from tds.inbox import events as inbox

log = logging.getLogger(__name__)

SWEEP_LOCK = "tds:lock:inbox-sweep"
SWEEP_LOCK_TIMEOUT = 120
SWEPT_AT = "tds:inbox:swept_at"
BROKER_MARK = "tds:broker:mark"
SYNC_LOCKS = "tds:lock:sync:*"


@dataclass
class SweepReport:
    redriven: dict[str, int] = field(default_factory=dict)  # reason → events sent again
    broker_was_empty: bool = False
    sync_locks_cleared: int = 0
    runs_aborted: int = 0

    @property
    def total(self) -> int:
        return sum(self.redriven.values())

    def describe(self) -> str:
        parts = [f"{n} {why}" for why, n in sorted(self.redriven.items())] or ["nothing due"]
        if self.broker_was_empty:
            parts.append("Redis came back empty: every unfinished event sent again")
        if self.sync_locks_cleared:
            parts.append(f"{self.sync_locks_cleared} orphaned sync locks cleared")
        if self.runs_aborted:
            parts.append(f"{self.runs_aborted} dead sync runs aborted")
        return f"re-enqueued {self.total} events ({', '.join(parts)})"


class SweepRunning(RuntimeError):
    """Another process holds the sweep lock."""


def run_sweep(settings: Settings, enqueue: Callable[[int, str], None], redis: redis_lib.Redis) -> SweepReport:
    """One sweep (see the module docstring); raises :class:`SweepRunning` when one is under way."""
    lock = redis.lock(SWEEP_LOCK, timeout=SWEEP_LOCK_TIMEOUT)
    if not lock.acquire(blocking=False):
        raise SweepRunning("another sweep is running")
    try:
        report = SweepReport()
        report.broker_was_empty = not redis.exists(BROKER_MARK)
        older_than = 0 if report.broker_was_empty else settings.inbox_sweep_after
        engine = get_engine(settings.database_url)
        counts = inbox.sweep(engine, dt.timedelta(seconds=older_than), enqueue,
                             lease=dt.timedelta(seconds=settings.processing_lease),
                             idle_entities=idle_entities(redis))
        report.redriven = {str(why): n for why, n in counts.items()}
        redis.set(BROKER_MARK, int(time.time()))  # only after the re-sends reached Redis
        report.sync_locks_cleared = clear_orphaned_sync_locks(redis)
        report.runs_aborted = runs.recover_stale(engine, redis, stale_after=settings.run_stale_after)
        redis.set(SWEPT_AT, time.time())
    finally:
        try:
            lock.release()
        except redis_lib.exceptions.LockError:  # Redis lost it meanwhile (flushed): nothing to free
            pass
    (log.warning if report.total or report.sync_locks_cleared or report.runs_aborted else log.info)("inbox sweep: %s", report.describe())
    return report


def idle_entities(redis: redis_lib.Redis) -> list[str]:
    """Entities whose queue holds no message right now."""
    entities = list(registry.ENTITIES)
    with redis.pipeline(transaction=False) as pipe:
        for entity in entities:
            pipe.llen(entity.queue)
        lengths = pipe.execute()
    return [entity.name for entity, length in zip(entities, lengths) if not length]


def sweep_if_overdue(settings: Settings, enqueue: Callable[[int, str], None],
                     redis: redis_lib.Redis) -> SweepReport | None:
    """Run the sweep when none has run for ``TDS_WORKER_SWEEP_AFTER`` seconds (beat is gone,
    or Redis forgot when the last one ran); ``None`` when it was not due or another runs."""
    last = redis.get(SWEPT_AT)
    if last is not None and time.time() - float(last) < settings.worker_sweep_after:
        return None
    try:
        report = run_sweep(settings, enqueue, redis)
    except SweepRunning:
        return None
    log.warning("the sweep had not run for %ss: this worker ran it", settings.worker_sweep_after)
    return report


def clear_orphaned_sync_locks(redis: redis_lib.Redis) -> int:
    """Delete sync locks that never expire: their holder cannot renew them, nobody frees them."""
    cleared = 0
    for key in redis.scan_iter(match=SYNC_LOCKS, count=500):
        if redis.ttl(key) == -1 and redis.delete(key):
            log.warning("cleared sync lock %s: it had no expiry, so its holder was gone", key.decode())
            cleared += 1
    return cleared
