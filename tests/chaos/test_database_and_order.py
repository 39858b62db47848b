"""Chaos: PostgreSQL stopped under load; a thousand updates delivered in shuffled order.

Each test ends by comparing the products table with the simulator's items.
"""

from __future__ import annotations

import random
import time

import pytest

from tds import schema
from tds.db import get_engine
from tests.chaos import harness
from tests.chaos.conftest import chaos_env, settings_of
from tests.helpers import signed_post
from tests.simulated import settings_for, use
from webhook_receiver import create_app


def test_shuffled_updates_newest_version_of_each_record_wins(worker, engine, database_url, redis_url,
                                                             simulator_factory):
    """Invariant: 1,000 updates to 50 records, delivered in shuffled order, leave each
    record at its newest version (the stale-write guard and coalescing; nothing else)."""
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    client = create_app(use(settings_for(sim, database_url, redis_url, org))).test_client()
    ids = sim.simulator.store.ids(org, "items")[:50]
    total = harness.size(1000, 1000)
    bodies = [harness.item_update(sim, org, ids[n % len(ids)], n) for n in range(total)]
    random.Random(20261201).shuffle(bodies)
    for body in bodies:
        assert signed_post(client, "items", {"item": body}, org=org).status_code == 202
    start = time.monotonic()
    harness.wait_until(lambda: harness.all_finished(engine), 120, what="every update finished")
    report = harness.Report("1,000 shuffled updates to 50 records", sent=total,
                            converged_s=round(time.monotonic() - start, 1))
    report.lost, report.duplicated, diffs = harness.compare_items(engine, sim, org, ids)
    report.dead_letters = harness.dead_letter_count(engine)
    report.notes["coalesced"] = harness.superseded_count(engine)
    report.emit()
    assert (report.lost, report.duplicated, report.dead_letters, diffs) == (0, 0, 0, [])


@pytest.fixture
def private_postgres():
    server = harness.PrivatePostgres()
    schema.upgrade(server.url)
    yield server
    get_engine(server.url).dispose()
    server.close()


def test_postgres_stopped_under_load(simulator_factory, private_postgres, private_redis, log_dir, processes):
    """Invariant: while PostgreSQL is down the receiver answers 503 (never 202 and lost) and
    workers retry without recording (they cannot); once it is back, the receiver and the
    workers reconnect without a restart, Zoho's retries of the 503s are stored, and every
    record converges. The lease and sweeps are set long, so the retries alone must heal."""
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    env = chaos_env(sim, private_postgres.url, private_redis.url, TDS_PROCESSING_LEASE="3600",
                    TDS_INBOX_SWEEP_AFTER="3600", TDS_WORKER_SWEEP_AFTER="3600")
    client = create_app(settings_of(env)).test_client()
    engine = get_engine(private_postgres.url)
    worker = harness.worker(harness.process_env(env), log_dir)
    processes.append(worker)
    ids = sim.simulator.store.ids(org, "items")
    for n, zid in enumerate(ids[:5]):  # warm up the worker, so the burst below meets it running
        signed_post(client, "items", {"item": harness.item_update(sim, org, zid, -n - 1)}, org=org)
    harness.wait_until(lambda: harness.all_finished(engine), 60, what="the warm-up")
    total, down_for = harness.size(300, 3000), harness.size(5, 10)
    refused, sent = [], 0
    outage_end = None
    for n in range(total):
        if n == total // 3:  # a burst just stored: the worker still holds some when the database goes
            private_postgres.stop()
            outage_end = time.monotonic() + down_for
        if outage_end and time.monotonic() > outage_end:
            private_postgres.start()
            outage_end = None
        body = harness.item_update(sim, org, ids[n % len(ids)], n)
        resp = signed_post(client, "items", {"item": body}, org=org)
        assert resp.status_code in (202, 503), (resp.status_code, resp.get_json())
        sent += 1
        if resp.status_code == 503:
            refused.append(body)
            time.sleep(0.05)  # the load goes on at a webhook's pace through the outage
    if outage_end:
        while time.monotonic() < outage_end:
            time.sleep(0.1)
        private_postgres.start()
    assert refused, "the outage refused nothing: it did not happen during the load"
    for body in refused:  # Zoho retries what was answered 503
        assert signed_post(client, "items", {"item": body}, org=org).status_code == 202
    start = time.monotonic()
    harness.wait_until(lambda: harness.all_finished(engine), 120, what="every event finished after the outage")
    report = harness.Report("PostgreSQL stopped under load", sent=sent, converged_s=round(time.monotonic() - start, 1),
                            notes={"answered_503": len(refused), "down_s": down_for})
    report.lost, report.duplicated, diffs = harness.compare_items(engine, sim, org, ids[: min(total, len(ids))])
    report.dead_letters = harness.dead_letter_count(engine)
    report.notes["worker_retries_unrecorded"] = worker.log().count("could not record its failure")
    report.emit()
    assert (report.lost, report.duplicated, report.dead_letters, diffs) == (0, 0, 0, [])
    assert report.notes["worker_retries_unrecorded"], "the worker never met the outage"
