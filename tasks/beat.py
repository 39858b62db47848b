"""``tds beat``'s scheduler: RedBeat, made to survive Redis losing its lock.

RedBeat keeps exactly one beat active with a Redis lock that the active beat extends on
every tick. When Redis is flushed or restarted without its data, the lock and the schedule
vanish with it, and RedBeat's own ``tick`` dies on ``LockNotOwnedError`` ("Cannot extend
a lock that's no longer owned"): beat exits, and with it the sweeper and every scheduled
sync. This scheduler's tick instead:

* Redis unreachable → logs one line and tries again after a short interval; no other beat
  can take the lock meanwhile either (the lock lives in the same Redis);
* the lock is gone (flushed, or expired while Redis was away) → takes it again if it is
  free, and installs the schedule again (it vanished with the lock) with the last run
  times this beat remembers, so a job sent just before the flush is not sent again;
* another beat holds the lock now → this beat becomes the standby: it sends nothing and
  tries to take the lock on every tick, so whichever beat survives goes on. Two beats
  never send the same job.

A standby beat (started second, or one that lost the lock) polls every
``TDS_BEAT_LOOP_INTERVAL`` seconds, so it takes over at most ``TDS_BEAT_LOCK_TIMEOUT`` +
``TDS_BEAT_LOOP_INTERVAL`` after the active beat died. A beat that crashes for another
reason exits non-zero; its supervisor restarts it (compose ``restart: unless-stopped``,
systemd ``Restart=always``).
"""

from __future__ import annotations

import logging

import redis as redis_lib
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, get_redis

log = logging.getLogger("tds.beat")

REDIS_DOWN_RETRY_SECONDS = 2.0


class HealingRedBeatScheduler(RedBeatScheduler):
    def __init__(self, *args, **kwargs):
        self._last_runs: dict = {}  # entry name → when this beat last sent it
        super().__init__(*args, **kwargs)

    def reserve(self, entry):
        sent = super().reserve(entry)
        self._last_runs[entry.name] = sent.last_run_at
        return sent

    def _install_schedule(self) -> None:
        self.setup_schedule()
        for name, last_run_at in self._last_runs.items():
            try:
                self.Entry.from_key(self.Entry.generate_key(self.app, name), app=self.app).reschedule(last_run_at)
            except KeyError:
                pass

    def tick(self, min=min, **kwargs):
        try:
            if self.lock_key and not self._hold_lock():
                return self.max_interval  # the standby: another beat is active
            remaining = [self.maybe_due(entry, **self._maybe_due_kwargs) for entry in self.schedule.values()]
        except redis_lib.exceptions.ConnectionError as exc:
            log.warning("beat: Redis unreachable (%s); trying again in %ss", exc, REDIS_DOWN_RETRY_SECONDS)
            return REDIS_DOWN_RETRY_SECONDS
        return min([r for r in remaining if r] + [self.max_interval])

    def _hold_lock(self) -> bool:
        """Extend the lock, or take it when it is free; False while another beat holds it."""
        if self.lock is not None:
            try:
                self.lock.extend(int(self.lock_timeout))
            except redis_lib.exceptions.LockNotOwnedError:
                log.warning("beat: the beat lock was lost (Redis flushed or restarted, or it expired)")
            else:
                if not get_redis(self.app).exists(self.app.redbeat_conf.schedule_key):
                    log.warning("beat: the schedule vanished from Redis; installing it again")
                    self._install_schedule()
                return True
        lock = self.lock or self._new_lock()
        if not lock.acquire(blocking=False):
            if self.lock is not None:
                log.warning("beat: another beat holds the lock now; this one waits as the standby")
            self.lock = None
            return False
        log.warning("beat: took the beat lock; this beat is active")
        self.lock = lock
        self._install_schedule()
        return True

    def _new_lock(self):
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)  # as RedBeat: extend *to* the timeout
        return lock
