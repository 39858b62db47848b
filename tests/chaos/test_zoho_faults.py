"""Chaos: Zoho failing a fifth of its calls during a full sync and a webhook load.

Invariant: with 20 % of API calls failing (500, 502 and 503 with HTML bodies, timeouts,
dropped connections) and a few seconds of total outage in the middle, the full sync and
every webhook still converge to Zoho's data; the shared circuit breaker opens during the
outage and closes after it; nothing is dead-lettered.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from tasks.celery_app import create_celery
from tasks.sending import send_sync
from tests.chaos import harness
from tests.chaos.conftest import chaos_env, settings_of
from tests.helpers import signed_post
from webhook_receiver import create_app


def test_zoho_failing_a_fifth_of_calls_during_a_sync_and_a_webhook_load(simulator_factory, engine, database_url,
                                                                        private_redis, log_dir, processes):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    env = chaos_env(sim, database_url, private_redis.url, TDS_ZOHO_TIMEOUT="1", TDS_ZOHO_BREAKER_FAILURES="3",
                    TDS_ZOHO_BREAKER_RESET="2", TDS_TASK_MAX_RETRIES="20")
    settings = settings_of(env)
    client = create_app(settings).test_client()
    worker = harness.worker(harness.process_env(env), log_dir)
    processes.append(worker)
    ids = sim.simulator.store.ids(org, "items")
    total = harness.size(200, 1000)
    faults = {"error_rate": 0.12, "slow_rate": 0.04, "slow_seconds": 2.0, "drop_rate": 0.04}
    sim.simulator.configure(**faults)
    send_sync(create_celery(settings, include=()), "items", org)
    for n in range(total):
        if n == total // 2:  # Zoho down for a few seconds: the breaker must open
            sim.simulator.configure(error_rate=1.0, slow_rate=0.0, drop_rate=0.0)
            time.sleep(4)
            sim.simulator.configure(**faults)
        record = harness.item_update(sim, org, ids[n % len(ids)], n)
        partial = {k: v for k, v in record.items() if k not in ("warehouses", "locations")}  # costs a fetch
        assert signed_post(client, "items", {"item": partial}, org=org).status_code == 202
        time.sleep(0.01)
    start = time.monotonic()

    def synced() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text("SELECT count(*) FROM tds_sync_runs WHERE entity = 'items' "
                                             "AND status = 'succeeded'")).scalar())

    harness.wait_until(lambda: harness.all_finished(engine) and synced(), 240, what="the sync and every webhook",
                       progress=lambda: (harness.inbox_counts(engine), harness.queue_lengths(private_redis.url)))
    counters = sim.simulator.counters()
    report = harness.Report("Zoho failing 20 % of calls", sent=total, converged_s=round(time.monotonic() - start, 1),
                            notes={"api_calls": counters["api_calls_total"],
                                   "429_with_retry_after": counters["faults_429_retry_after"],
                                   "429_without": counters["faults_429"]})
    report.lost, report.duplicated, diffs = harness.compare_items(engine, sim, org, ids)  # the sync wrote them all
    report.dead_letters = harness.dead_letter_count(engine)
    log = worker.log()
    report.notes["breaker_opened"] = log.count("-> open")
    report.notes["breaker_closed"] = log.count("-> closed")
    report.emit()
    assert (report.lost, report.duplicated, report.dead_letters, diffs) == (0, 0, 0, [])
    assert report.notes["breaker_opened"] and report.notes["breaker_closed"], log[-3000:]
    assert report.notes["429_with_retry_after"] and report.notes["429_without"]  # both kinds were met
