"""Chaos: two beats, the active one killed; Redis flushed under a running beat.

Invariant: every scheduled job is sent once per period — never twice by two beats, and
never skipped for longer than one lock period — whichever beat dies and whatever Redis
forgets. No worker runs: the test itself reads the maintenance queue, as a worker would.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time

from tds.queues import MAINTENANCE_QUEUE
from tests.chaos import harness
from tests.chaos.conftest import FAST_HEALING
from tests.conftest import ORG, WEBHOOK_SECRET

INTERVAL = float(FAST_HEALING["TDS_SCHEDULE_SWEEP"])
LOCK = float(FAST_HEALING["TDS_BEAT_LOCK_TIMEOUT"])
LOOP = float(FAST_HEALING["TDS_BEAT_LOOP_INTERVAL"])


class QueueReader(threading.Thread):
    """Pops the maintenance queue and notes when each sweep was sent."""

    def __init__(self, server: harness.PrivateRedis):
        super().__init__(daemon=True)
        self.server, self.sent, self.done = server, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                popped = self.server.client().brpop([MAINTENANCE_QUEUE], timeout=1)
            except Exception:  # Redis restarting under us
                time.sleep(0.2)
                continue
            if popped:
                task = json.loads(popped[1])["headers"]["task"]
                if task == "tds.sweep_inbox":
                    self.sent.append(time.monotonic())



def _env(redis_url: str) -> dict:
    return harness.process_env({"TDS_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/none",
                                "TDS_REDIS_URL": redis_url, "ZOHO_ORGANIZATION_ID": ORG,
                                "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, **FAST_HEALING})


SENT = re.compile(r"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*Sending due task sweep-inbox", re.M)


def sent_gaps(*beats: harness.Process) -> list[float]:
    """Seconds between consecutive sweeps sent, by any of ``beats``, from their own logs (the
    queue reader's arrival times jitter while Redis restarts under it)."""
    times = sorted(dt.datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f") for b in beats for t in SENT.findall(b.log()))
    return [(b - a).total_seconds() for a, b in zip(times, times[1:])]


def _holds_lock(beat: harness.Process) -> bool:
    log = beat.log()
    return "Acquired lock" in log or "took the beat lock" in log


def _active(beats):
    harness.wait_until(lambda: any(_holds_lock(b) for b in beats), 30, what="an active beat")
    return next(b for b in beats if _holds_lock(b))


def test_two_beats_one_killed_every_job_still_runs_once_per_period(private_redis, log_dir, processes):
    reader = QueueReader(private_redis)
    reader.start()
    env = _env(private_redis.url)
    first = harness.beat(env, log_dir, "beat-a")
    processes.append(first)
    harness.wait_until(lambda: reader.sent, 30, what="the first sweep sent")
    second = harness.beat(env, log_dir, "beat-b")
    processes.append(second)
    time.sleep(4 * INTERVAL)
    active = _active([first, second])
    standby = second if active is first else first
    killed_at = time.monotonic()
    active.kill9()
    time.sleep(LOCK + 4 * INTERVAL)
    survived = standby.alive()
    standby.kill9()  # nothing is sent any more: the reader drains what was
    time.sleep(1.5)
    reader.done.set()
    reader.join()

    gaps = sent_gaps(first, second)
    assert len(reader.sent) == len(gaps) + 1  # every sweep logged reached the queue, once
    assert min(gaps) >= INTERVAL * 0.5, f"a sweep was sent twice: gaps {gaps}"  # two beats never both send
    assert max(gaps) <= LOCK + LOOP + INTERVAL + 2, f"the standby took over too late: gaps {gaps}"
    assert survived and [t for t in reader.sent if t > killed_at + LOCK + LOOP + INTERVAL], "the standby sends"
    harness.Report("two beats, active killed", sent=len(reader.sent),
                   converged_s=round(max(gaps), 1),
                   notes={"longest_gap_s": round(max(gaps), 1), "shortest_gap_s": round(min(gaps), 1),
                          "lock_timeout_s": LOCK}).emit()


def test_beat_survives_a_flush_and_a_restart_of_redis(private_redis, log_dir, processes):
    reader = QueueReader(private_redis)
    reader.start()
    beat = harness.beat(_env(private_redis.url), log_dir)
    processes.append(beat)
    harness.wait_until(lambda: reader.sent, 30, what="the first sweep sent")
    private_redis.flushall()
    flushed_at = time.monotonic()
    harness.wait_until(lambda: [t for t in reader.sent if t > flushed_at], LOCK + 10, what="a sweep after the flush")
    private_redis.restart(down_for=2)
    restarted_at = time.monotonic()
    took = harness.wait_until(lambda: [t for t in reader.sent if t > restarted_at], LOCK + 10,
                              what="a sweep after the restart")
    reader.done.set()
    reader.join()
    assert beat.alive(), beat.log()[-3000:]
    assert "LockNotOwnedError" not in beat.log()
    assert min(sent_gaps(beat)) >= INTERVAL * 0.5, sent_gaps(beat)
    harness.Report("beat under Redis FLUSHALL + restart", sent=len(reader.sent), converged_s=round(took, 1)).emit()
