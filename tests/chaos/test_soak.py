"""Soak (``make soak``, not in CI): webhooks at 10/s for an hour (``TDS_SOAK_SECONDS``),
5 % of simulator calls failing, one Redis restart half-way.

Invariant: nothing lost, every record at its newest version, and the resident memory of
every worker and beat process flat within 10 % between the first minute and the end. The
test restarts a process that exits, as compose and systemd do (a Redis restart can make a
worker exit: see docs/reliability.md), and reports the exits.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.chaos import harness
from tests.chaos.conftest import chaos_env, settings_of
from tests.helpers import signed_post
from webhook_receiver import create_app

SECONDS = int(os.environ.get("TDS_SOAK_SECONDS", "0"))
RATE = 10

pytestmark = pytest.mark.skipif(not SECONDS, reason="the soak runs with make soak (TDS_SOAK_SECONDS)")


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (the pool), from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(entry) != pid and int(fields[1]) != pid:
                continue
            with open(f"/proc/{entry}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return total


def test_soak(simulator_factory, engine, database_url, private_redis, log_dir, processes):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    env = chaos_env(sim, database_url, private_redis.url)
    client = create_app(settings_of(env)).test_client()
    penv = harness.process_env(env)
    worker, beat = harness.worker(penv, log_dir), harness.beat(penv, log_dir)
    processes.extend([worker, beat])
    ids = sim.simulator.store.ids(org, "items")
    sim.simulator.configure(error_rate=0.05)
    start, n, restarted, baseline = time.monotonic(), 0, False, None
    while time.monotonic() - start < SECONDS:
        record = harness.item_update(sim, org, ids[n % len(ids)], n)
        partial = {k: v for k, v in record.items() if k not in ("warehouses", "locations")}  # needs a fetch
        assert signed_post(client, "items", {"item": partial}, org=org).status_code == 202
        n += 1
        elapsed = time.monotonic() - start
        if baseline is None and elapsed > min(60, SECONDS / 4):
            baseline = {p.log_path: _rss_kb(p.proc.pid) for p in (worker, beat)}
        if not restarted and elapsed > SECONDS / 2:
            private_redis.restart(down_for=2)
            restarted = True
        worker.supervise()
        beat.supervise()
        time.sleep(max(0.0, start + n / RATE - time.monotonic()))
    sim.simulator.configure(error_rate=0.0)
    took = harness.wait_until(lambda: (worker.supervise(), harness.all_finished(engine))[1], 300,
                              what="the soak's events",
                              progress=lambda: (harness.inbox_counts(engine), harness.queue_lengths(private_redis.url)))
    final = {p.log_path: _rss_kb(p.proc.pid) for p in (worker, beat)}
    report = harness.Report("soak", sent=n, converged_s=round(took, 1),
                            notes={"seconds": SECONDS, "rss_kb_start": baseline, "rss_kb_end": final,
                                   "worker_exits": worker.exits, "beat_exits": beat.exits})
    report.lost, report.duplicated, diffs = harness.compare_items(engine, sim, org, ids[: min(n, len(ids))])
    report.dead_letters = harness.dead_letter_count(engine)
    report.emit()
    assert (report.lost, report.duplicated, diffs) == (0, 0, [])
    for name, before in baseline.items():
        assert final[name] <= before * 1.10, f"{name}: RSS grew from {before} kB to {final[name]} kB"
