"""Chaos: workers killed with kill -9, Redis flushed and restarted under load.

Each test states its invariant and ends by comparing the products table with the
simulator's items: same rows, same name and Zoho time, one row per item, no dead letter.
"""

from __future__ import annotations

import time

from tests.chaos import harness
from tests.chaos.conftest import chaos_env, settings_of
from tests.helpers import signed_post
from webhook_receiver import create_app


def _setup(simulator_factory, engine, database_url, private_redis, **extra):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    env = chaos_env(sim, database_url, private_redis.url, **extra)
    client = create_app(settings_of(env)).test_client()
    ids = sim.simulator.store.ids(org, "items")
    return sim, org, env, client, ids


def _converge_and_compare(report, engine, sim, org, ids, timeout, processes=(), redis_url=None):
    start = time.monotonic()
    def finished():
        for proc in processes:  # as compose's restart: unless-stopped does (see docs/reliability.md)
            proc.supervise()
        return harness.all_finished(engine)

    try:
        harness.wait_until(finished, timeout, what="every inbox event finished",
                           progress=lambda: (harness.inbox_counts(engine), harness.queue_lengths(redis_url)))
    except AssertionError:
        for proc in processes:
            print(proc.log_path, proc.alive(), proc.log()[-4000:])
        raise AssertionError(f"not converged: {harness.inbox_counts(engine)}") from None
    report.converged_s = round(time.monotonic() - start, 1)
    report.lost, report.duplicated, diffs = harness.compare_items(engine, sim, org, ids)
    report.dead_letters = harness.dead_letter_count(engine)
    report.notes["process_exits"] = [status for proc in processes for status in proc.exits]
    report.emit()
    assert diffs == [], diffs[:5]
    assert (report.lost, report.duplicated, report.dead_letters) == (0, 0, 0)


def test_worker_process_group_killed_five_times(simulator_factory, engine, database_url, private_redis, log_dir,
                                                processes):
    """Invariant: kill -9 of the whole worker (main process and pool) five times during a
    load loses nothing and writes nothing twice; events a killed worker held are re-driven
    once their processing lease runs out, and events it had taken ahead (prefetched, or held
    for the coalescing countdown) once their queue is empty — the worker's own sweep; no
    beat runs, and the five-minute threshold for unsent events is set to an hour."""
    sim, org, env, client, ids = _setup(simulator_factory, engine, database_url, private_redis,
                                        TDS_INBOX_SWEEP_AFTER="3600", TDS_COALESCE_SECONDS="1")
    total = harness.size(1000, 5000)
    worker = harness.worker(harness.process_env(env), log_dir)
    processes.append(worker)
    report = harness.Report("worker kill -9 x5", sent=total)
    kills = {total * k // 6 for k in range(1, 6)}
    for n in range(total):
        if n in kills:
            worker.kill9()
            worker.start()
        resp = signed_post(client, "items", {"item": harness.item_update(sim, org, ids[n % len(ids)], n)}, org=org)
        assert resp.status_code == 202, resp.get_json()
    report.notes["kills"] = len(kills)
    _converge_and_compare(report, engine, sim, org, ids[: min(total, len(ids))], timeout=180,
                          processes=[worker], redis_url=private_redis.url)


def test_redis_flushed_and_restarted_under_load(simulator_factory, engine, database_url, private_redis, log_dir,
                                               processes):
    """Invariant: Redis FLUSHALL once and a Redis restart (empty) once in the middle of a
    load, beat and worker left running: beat survives both (it takes its lock again), the
    receiver never loses a stored event (a failed enqueue is re-driven), and the first sweep
    after Redis came back empty re-sends what Redis lost, without any restart."""
    sim, org, env, client, ids = _setup(simulator_factory, engine, database_url, private_redis)
    total = harness.size(600, 3000)
    penv = harness.process_env(env)
    worker = harness.worker(penv, log_dir)
    beat = harness.beat(penv, log_dir)
    processes.extend([worker, beat])
    report = harness.Report("Redis FLUSHALL + restart", sent=total)
    for n in range(total):
        if n == total // 3:
            private_redis.flushall()
        if n == 2 * total // 3:
            private_redis.restart(down_for=1.0)
        worker.supervise()
        beat.supervise()
        resp = signed_post(client, "items", {"item": harness.item_update(sim, org, ids[n % len(ids)], n)}, org=org)
        assert resp.status_code == 202, resp.get_json()
    _converge_and_compare(report, engine, sim, org, ids[: min(total, len(ids))], timeout=120,
                          processes=[worker, beat], redis_url=private_redis.url)
    assert beat.exits == [], "beat must survive Redis on its own"
    assert "took the beat lock" in beat.log(), beat.log()[-3000:]


def test_events_sent_after_a_flush_are_processed_without_a_sweep(simulator_factory, engine, database_url,
                                                                 private_redis, log_dir, processes):
    """Invariant: after Redis is flushed, webhooks sent afterwards reach the running worker
    at once: the receiver's sends do not depend on anything the flush removed (kombu's
    ``_kombu.binding.*`` keys), and no sweep is needed for them."""
    sim, org, env, client, ids = _setup(simulator_factory, engine, database_url, private_redis,
                                        TDS_WORKER_SWEEP_AFTER="3600", TDS_INBOX_SWEEP_AFTER="3600",
                                        TDS_PROCESSING_LEASE="3600")
    worker = harness.worker(harness.process_env(env), log_dir)
    processes.append(worker)
    first = signed_post(client, "items", {"item": harness.item_update(sim, org, ids[0], 0)}, org=org)
    assert first.status_code == 202
    harness.wait_until(lambda: harness.all_finished(engine), 60, what="the first event")
    private_redis.flushall()
    assert not private_redis.client().keys("_kombu.binding.*")
    for n, zid in enumerate(ids[:20], start=1):
        assert signed_post(client, "items", {"item": harness.item_update(sim, org, zid, n)}, org=org).status_code == 202
    took = harness.wait_until(lambda: harness.all_finished(engine), 30, what="events sent after the flush")
    assert private_redis.client().get("tds:inbox:swept_at") is None  # no sweep ran: they were delivered
    lost, duplicated, diffs = harness.compare_items(engine, sim, org, ids[:20])
    assert (lost, duplicated, diffs) == (0, 0, [])
    harness.Report("events after FLUSHALL, no sweep", sent=21, converged_s=round(took, 1)).emit()
