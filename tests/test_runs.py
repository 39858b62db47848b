"""Runs that behave: plans and budgets, interruption, locks, the schedule, the admin API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis as redis_lib
import sqlalchemy as sa

from tds import registry, runs, services
from tds.mappers.documents import invoices
from tds.models import events, sync_runs
from tds.sync import availability
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared
from tests.conftest import claim_redis_db, empty_redis_db, release_redis_db
from tests.helpers import wait_for
from tests.simulated import settings_for, use


def _env(sim, database_url, redis_url, org, **extra):
    cfg = sim.simulator.config
    return {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
            "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
            "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "TDS_ZOHO_RATE_LIMIT": "100000",
            **extra}


def _tds(env, *args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _runs(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id)).fetchall()


def test_plan_prints_the_cost_and_a_run_over_the_quota_is_refused(engine, database_url, redis_url, redis_client,
                                                                  simulator_factory, tmp_path):
    sim = simulator_factory(scale="small", daily_limit=200)  # Zoho tells what is left in X-Rate-Limit-Remaining
    org = sim.simulator.config.organizations[0]
    env = _env(sim, database_url, redis_url, org)
    invoices_n = len(sim.simulator.store.records(org, "invoices"))

    plan = _tds(env, "sync", "--full", "--plan", "--entities", "invoices", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert f"invoices           {org}: ~{invoices_n:,} records, 2 list + {invoices_n} detail calls" in plan.stdout
    assert "calls left today" in plan.stdout and "min at 100000 calls/min" in plan.stdout
    with engine.connect() as conn:  # a plan writes nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar() == 0

    refused = _tds(env, "sync", "--full", "--entities", "invoices", cwd=tmp_path)
    assert refused.returncode == 4, refused.stderr
    # 2 list + 250 detail calls; the 2 list calls the plan spent counting are not spent again
    assert "refused: the full needs about 250 Zoho calls" in refused.stderr and "--force" in refused.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar() == 0

    # without Zoho's figure, the configured plan limit less today's own calls decides
    redis_client.delete(*redis_client.keys("tds:zoho:quota-remaining:*"))
    assert _tds({**env, "TDS_ZOHO_DAILY_LIMIT": "50"}, "sync", "--entities", "invoices", cwd=tmp_path).returncode == 4
    forced = _tds(env, "sync", "--full", "--force", "--entities", "users", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr

    incremental = _tds(env, "sync", "--incremental", "--entities", "users", cwd=tmp_path)
    assert incremental.returncode == 0 and "users (" in incremental.stderr


def test_sigterm_marks_the_run_aborted_and_releases_its_lock(engine, database_url, redis_url, redis_client,
                                                             simulator_factory, tmp_path):
    sim = simulator_factory(scale=0.3)  # 1,500 invoices: eight pages, each a page of detail calls
    org = sim.simulator.config.organizations[0]
    env = _env(sim, database_url, redis_url, org)
    proc = subprocess.Popen([sys.executable, "-m", "tds.cli", "sync", "--full", "--entities", "invoices"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r.status == "running" and r.records_seen > 0 for r in _runs(engine)), timeout=60,
                 what="the sync to write its first page")
        assert redis_client.get(runs.lock_name(org, "invoices")) is not None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "marked aborted" in err
    (run,) = _runs(engine)
    assert run.status == "aborted" and run.records_seen >= 200 and run.finished_at is not None
    assert redis_client.get(runs.lock_name(org, "invoices")) is None
    # the next run starts at once
    settings = use(settings_for(sim, database_url, redis_url, org))
    assert sync.full_sync(settings, registry.get("users"), org, zoho_shared.zoho_client(settings)).records_seen > 0


def test_already_running_says_who_holds_the_lock(engine, database_url, redis_url, redis_client, simulator_factory,
                                                 tmp_path):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    lock = runs.RunLock(redis_client, org, "items")
    lock.acquire(run_id=987)
    try:
        busy = _tds(_env(sim, database_url, redis_url, org), "sync", "--entities", "items", cwd=tmp_path)
    finally:
        lock.release()
    assert busy.returncode == 3
    assert f"a run of items for organization {org} is already running: held by " in busy.stderr
    assert "(run 987) since" in busy.stderr
    assert _runs(engine)[-1].status == "skipped"


def test_a_run_left_running_by_a_killed_process_is_recognised_as_stale(engine, database_url, redis_url,
                                                                       redis_client, simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    with engine.begin() as conn:  # what a kill -9 leaves: a running row, and its lock long expired
        dead = runs.create(conn, org, "users", runs.Mode.FULL)
    assert runs.recover_stale(engine, redis_client, stale_after=3600) == 0  # heartbeat still fresh: not yet
    sync.full_sync(settings, registry.get("users"), org, zoho_shared.zoho_client(settings))
    status = {r.id: r.status for r in _runs(engine)}
    assert status[dead] == "aborted" and list(status.values()).count("succeeded") == 1


def test_a_module_the_organization_lacks_ends_its_run_once_as_unavailable(engine, database_url, redis_url,
                                                                        simulator_factory):
    sim = simulator_factory(scale="tiny", shapes="varied")  # no stock adjustments in this organization
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    result = availability.sync_entity(settings, registry.get("stock_adjustments"), org,
                                      zoho_shared.zoho_client(settings))
    assert isinstance(result, availability.Unavailable)
    (run,) = _runs(engine)
    assert run.status == "unavailable" and run.finished_at is not None
    with engine.connect() as conn:
        emitted = [(r.name, (r.payload or {}).get("status")) for r in conn.execute(
            sa.select(events).where(events.c.name.like("tds.zoho.sync.%")).order_by(events.c.id))]
    assert emitted == [("tds.zoho.sync.started", None), ("tds.zoho.sync.failed", "unavailable")]


def _queued(client: redis_lib.Redis, queue: str) -> int:
    return sum(client.llen(k) for k in client.scan_iter(match=f"{queue}*") if client.type(k) == b"list")


def _beat_window(count: int, env, tmp_path, broker, seconds: float) -> tuple[int, int]:
    """Run ``count`` beat processes for ``seconds`` after the first job; jobs sent (sweeps, incrementals)."""
    empty_redis_db(broker)
    beats = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "tasks", "beat", "--loglevel", "INFO",
                               "-s", str(tmp_path / f"beat{count}-{i}")], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(count)]
    try:
        wait_for(lambda: _queued(broker, "tds.maintenance") >= 1, timeout=60, what="the first scheduled job")
        time.sleep(seconds)
        return (_count_tasks(broker, "tds.maintenance", "tds.sweep_inbox"),
                _count_tasks(broker, "tds.maintenance", "tds.sync_incremental_all"))
    finally:
        for beat in beats:
            beat.terminate()
        for beat in beats:
            beat.wait(20)
        empty_redis_db(broker)


def test_two_beat_processes_send_each_job_once_per_period(tmp_path, database_url):
    """RedBeat's lock keeps a second beat from scheduling anything while the first runs:
    two beats send what one sends in the same time, not twice as much."""
    url = claim_redis_db()  # a db of its own: the session worker would consume what the beats send
    broker = redis_lib.Redis.from_url(url)
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": url, "TDS_SCHEDULE_SWEEP": "2",
           "TDS_SCHEDULE_INCREMENTAL": "3", "TDS_SCHEDULE_RECONCILE": "0", "TDS_SCHEDULE_CLEANUP": "0"}
    try:
        one = _beat_window(1, env, tmp_path, broker, 10)
        two = _beat_window(2, env, tmp_path, broker, 10)
    finally:
        release_redis_db(url)
    assert one[0] >= 2 and one[1] >= 2, one
    assert two[0] <= one[0] + 1 and two[1] <= one[1] + 1, (one, two)
    assert two[0] >= one[0] - 1 and two[1] >= one[1] - 1, (one, two)


def _count_tasks(client: redis_lib.Redis, queue: str, name: str) -> int:
    import json

    count = 0
    for key in client.scan_iter(match=f"{queue}*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            if json.loads(raw)["headers"]["task"] == name:
                count += 1
    return count


def test_admin_api_starts_a_sync_and_reports_its_progress(worker, engine, database_url, redis_url,
                                                          simulator_factory):
    from webhook_receiver import create_app

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_ADMIN_TOKEN="admin-token-123"))
    client = create_app(settings).test_client()

    assert client.post("/api/zoho/bulk-sync/users").status_code == 401
    assert client.post("/api/zoho/bulk-sync/users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/zoho/reconcile/latest").status_code == 401
    auth = {"Authorization": "Bearer admin-token-123"}
    assert client.post("/api/zoho/bulk-sync/itemz", headers=auth).status_code == 404
    assert client.post("/api/zoho/bulk-sync/users", headers=auth, json={"batch_size": 500}).status_code == 400

    started = client.post("/api/zoho/bulk-sync/invoices", headers=auth, json={"incremental": False, "batch_size": 50})
    assert started.status_code == 202
    run_id = started.get_json()["run_id"]
    done = wait_for(lambda: (r := client.get(f"/api/zoho/bulk-sync/runs/{run_id}", headers=auth).get_json())
                    ["status"] == "succeeded" and r, timeout=120, what="the run to finish")
    total = len(sim.simulator.store.records(org, "invoices"))
    assert done["records_seen"] == total and done["mode"] == "full" and done["params"]["per_page"] == 50
    assert sim.simulator.counters()["GET /books/v3/invoices"] == -(-total // 50)
    assert client.get("/api/zoho/reconcile/latest", headers=auth).status_code == 404

    off = create_app(settings.replace(admin_token="")).test_client()
    assert off.post("/api/zoho/bulk-sync/users", headers=auth).status_code == 403


def test_the_schedule_runs_incremental_syncs_on_the_sync_queue(worker, engine, database_url, redis_url,
                                                               simulator_factory):
    import tasks

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_SCHEDULE_INCREMENTAL="2"))
    tasks.app.send_task("tds.sync_incremental_all")
    expected = len(registry.enabled(settings))
    wait_for(lambda: sum(r.status == "succeeded" for r in _runs(engine)) == expected, timeout=120,
             what="an incremental run of every entity")
    assert {r.mode for r in _runs(engine)} == {"incremental"}
    # sent again while nothing is pending: each entity once more; never stacked
    tasks.app.send_task("tds.sync_incremental_all")
    tasks.app.send_task("tds.sync_incremental_all")
    wait_for(lambda: len(_runs(engine)) >= 2 * expected, timeout=120, what="the second round")

    def settled():  # every countdown spent, every run finished, nothing left pending
        time.sleep(3)
        return (all(r.status != "running" for r in _runs(engine))
                and not list(services.redis_client(settings).scan_iter("tds:sync:pending:*")))

    wait_for(settled, timeout=60, what="the runs to settle")
    assert len(_runs(engine)) <= 3 * expected


def test_ctrl_c_during_a_rate_limited_sync_stops_within_two_seconds(engine, database_url, redis_url, redis_client,
                                                                    simulator_factory, tmp_path):
    """Ctrl-C while the detail calls wait for the rate limit: the process stops calling Zoho and
    printing at once, the run is aborted, its lock released, and it exits 130 within 2 s."""
    import threading

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    env = _env(sim, database_url, redis_url, org, TDS_ZOHO_RATE_LIMIT="20")
    proc = subprocess.Popen([sys.executable, "-m", "tds.cli", "sync", "--full", "--entities", "invoices"], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read():
        for line in proc.stderr:
            lines.append((time.monotonic(), line.rstrip()))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("waiting for Zoho rate limit" in text for _, text in lines), timeout=60,
                 what="the sync waiting for the rate limit")
        calls_before = sim.simulator.counters()["api_calls_total"]
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    assert returncode == 130, lines[-10:]
    assert took < 2.0, f"exited {took:.1f} s after Ctrl-C"
    assert sim.simulator.counters()["api_calls_total"] - calls_before <= 4  # TDS_ZOHO_DETAIL_CONCURRENCY: in flight
    said = [text for _, text in lines]
    stop = next(i for i, text in enumerate(said) if text.startswith("interrupted"))
    assert not [t for t in said[stop + 1:] if "records" in t or "waiting" in t], said[stop:]
    (run,) = _runs(engine)
    assert run.status == "aborted" and run.reason == "interrupted"
    assert redis_client.get(runs.lock_name(org, "invoices")) is None
