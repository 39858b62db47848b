"""Healing without an operator: the processing lease, the sweep (its order, its lock, an
emptied Redis), coalescing bursts, and the commands an operator uses when they want to."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest
import simplejson
import sqlalchemy as sa
from click.testing import CliRunner

from tds.cli import cli
from tds.db import utcnow
from tds.inbox import deadletters, healing
from tds.inbox import events as inbox
from tds.models import inbox_events
from tests.conftest import ORG, WEBHOOK_SECRET
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app


def _webhook_event(conn, zoho_id: str, modified: dt.datetime | None = None, n: int = 0) -> int:
    return inbox.store(conn, source=inbox.Source.WEBHOOK, entity="items", organization_id=ORG, zoho_id=zoho_id,
                       key=f"k-{zoho_id}-{n}", modified=modified, body="{}").id


def _age(engine, event_id: int, **columns_seconds_ago) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(inbox_events).where(inbox_events.c.id == event_id).values(
            **{c: utcnow() - dt.timedelta(seconds=s) for c, s in columns_seconds_ago.items()}))


def test_a_claimed_event_whose_lease_ran_out_is_redriven(engine, settings):
    with engine.begin() as conn:
        held = _webhook_event(conn, "1")
        stranded = _webhook_event(conn, "2")
        for event_id in (held, stranded):
            assert inbox.claim(conn, event_id) is not None
    _age(engine, stranded, claimed_at=90, enqueued_at=90, received_at=90)
    with engine.connect() as conn:
        due = inbox.due_for_redrive(conn, dt.timedelta(minutes=5), lease=dt.timedelta(seconds=60))
    assert due == [(stranded, "items", inbox.Redrive.LEASE_EXPIRED)]  # the live one is left to its worker


def test_an_event_taken_ahead_by_a_killed_worker_is_redriven_after_the_lease(engine, settings):
    """Prefetched or held for its countdown by a worker that died: its queue is empty, so
    the message is not waiting there; a queue with a backlog waits the full threshold."""
    with engine.begin() as conn:
        event_id = _webhook_event(conn, "5")
    _age(engine, event_id, received_at=90, enqueued_at=90)
    with engine.connect() as conn:
        backlog = inbox.due_for_redrive(conn, dt.timedelta(minutes=5), dt.timedelta(seconds=60), idle_entities=())
        idle = inbox.due_for_redrive(conn, dt.timedelta(minutes=5), dt.timedelta(seconds=60),
                                     idle_entities=["items"])
    assert backlog == [] and idle == [(event_id, "items", inbox.Redrive.UNSENT)]


def test_the_sweep_sends_before_it_marks_so_a_failed_sweep_retries_at_once(engine, settings):
    with engine.begin() as conn:
        ids = [_webhook_event(conn, str(n)) for n in range(3)]
    for event_id in ids:
        _age(engine, event_id, received_at=600)
    sent = []

    def flaky(event_id, entity):
        if len(sent) == 1:
            raise ConnectionError("Redis went away")
        sent.append(event_id)

    with pytest.raises(ConnectionError):
        inbox.sweep(engine, dt.timedelta(minutes=5), flaky)
    with engine.connect() as conn:
        still_due = [e for e, _, _ in inbox.due_for_redrive(conn, dt.timedelta(minutes=5), dt.timedelta(seconds=60))]
    assert sent == ids[:1] and still_due == ids[1:]  # the next sweep sends the rest, not five minutes later


def test_a_burst_for_one_record_is_coalesced_into_its_newest_version(engine, settings):
    newest = utcnow()
    with engine.begin() as conn:
        older = [_webhook_event(conn, "7", newest - dt.timedelta(seconds=3 - n), n) for n in range(3)]
        last = _webhook_event(conn, "7", newest, 3)
        other_record = _webhook_event(conn, "8", newest - dt.timedelta(seconds=9), 4)
    with engine.begin() as conn:
        assert [inbox.claim(conn, e) for e in older] == [None, None, None]
        assert inbox.claim(conn, last) is not None and inbox.claim(conn, other_record) is not None
    with engine.connect() as conn:
        notes = dict(conn.execute(sa.select(inbox_events.c.id, inbox_events.c.last_error)
                                  .where(inbox_events.c.id.in_(older))).fetchall())
    assert set(notes.values()) == {f"superseded by event {last}"}


def test_an_emptied_redis_makes_the_next_sweep_resend_every_unfinished_event(engine, settings, redis_client):
    with engine.begin() as conn:
        young = _webhook_event(conn, "11")
    sent = []
    report = healing.run_sweep(settings, lambda e, _: sent.append(e), redis_client)
    assert report.broker_was_empty and sent == [young]  # however young: its message went with Redis
    again = healing.run_sweep(settings, lambda e, _: sent.append(e), redis_client)
    assert not again.broker_was_empty and sent == [young]


def test_workers_sweep_only_when_no_sweep_ran_lately_and_one_at_a_time(engine, settings, redis_client):
    sent = []
    assert healing.sweep_if_overdue(settings, lambda e, _: sent.append(e), redis_client) is not None
    assert healing.sweep_if_overdue(settings, lambda e, _: sent.append(e), redis_client) is None  # just swept
    redis_client.delete(healing.SWEPT_AT)
    lock = redis_client.lock(healing.SWEEP_LOCK, timeout=30)
    assert lock.acquire(blocking=False)  # another worker is sweeping
    assert healing.sweep_if_overdue(settings, lambda e, _: sent.append(e), redis_client) is None
    lock.release()


def test_the_sweep_clears_sync_locks_nobody_can_renew(engine, settings, redis_client):
    redis_client.set("tds:lock:sync:1:items", "gone")  # no expiry: its holder died without one
    redis_client.set("tds:lock:sync:1:invoices", "running", ex=600)
    report = healing.run_sweep(settings, lambda *a: None, redis_client)
    assert report.sync_locks_cleared == 1
    assert not redis_client.exists("tds:lock:sync:1:items") and redis_client.exists("tds:lock:sync:1:invoices")


def test_a_burst_of_webhooks_costs_one_zoho_fetch(worker, engine, database_url, redis_url, simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_COALESCE_SECONDS="2"))
    client = create_app(settings).test_client()
    zid = next(r for r in sim.simulator.store.records(org, "items") if r.get("item_type") == "inventory")["item_id"]
    sim.simulator.reset_counters()
    for n in range(5):  # list-style bodies (no per-warehouse stock): each alone would need a fetch
        record = sim.simulator.update(org, "items", zid, {"name": f"burst {n}"}, send_webhook=False)
        partial = {k: v for k, v in record.items() if k not in ("warehouses", "locations")}
        assert signed_post(client, "items", {"item": partial}, org=org).status_code == 202
    wait_for(lambda: _all_finished(engine), timeout=30, what="the burst")
    calls = sim.simulator.counters()
    assert calls.get("GET /inventory/v1/items/{id}", 0) == 1, calls
    with engine.connect() as conn:
        superseded = conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                  .where(inbox_events.c.last_error.like("superseded%"))).scalar()
    assert superseded == 4


def test_a_complete_body_is_processed_at_once_while_one_needing_a_fetch_waits(worker, engine, database_url,
                                                                              redis_url, simulator_factory):
    """Coalescing saves Zoho calls, so only a body that needs a fetch waits for its countdown."""
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_COALESCE_SECONDS="10"))
    client = create_app(settings).test_client()
    first, second = [r for r in sim.simulator.store.records(org, "items") if r.get("item_type") == "inventory"][:2]
    sim.simulator.reset_counters()
    partial = {k: v for k, v in first.items() if k not in ("warehouses", "locations")}
    waiting = signed_post(client, "items", {"item": partial}, org=org).get_json()["event_id"]
    prompt = signed_post(client, "items", {"item": second}, org=org).get_json()["event_id"]
    wait_for(lambda: _status(engine, prompt) == "done", timeout=30, what="the complete body")
    assert _status(engine, waiting) == "received"  # still held for its countdown
    wait_for(lambda: _status(engine, waiting) == "done", timeout=60, what="the body needing a fetch")
    calls = sim.simulator.counters()
    assert calls.get("GET /inventory/v1/items/{id}", 0) == 1, calls  # the partial body's fetch alone


def _status(engine, event_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events.c.status).where(inbox_events.c.id == event_id)).scalar_one()


def test_a_service_item_webhook_costs_no_zoho_call(worker, engine, database_url, redis_url, simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    service = next(r for r in sim.simulator.store.records(org, "items") if r.get("item_type") != "inventory")
    assert "warehouses" not in service
    sim.simulator.reset_counters()
    resp = signed_post(create_app(settings).test_client(), "items", {"item": service}, org=org)
    wait_for(lambda: _all_finished(engine), timeout=30, what="the service item")
    calls = {k: v for k, v in sim.simulator.counters().items()
             if k.startswith("GET /inventory/v1/item") and not k.endswith("/image")}  # its image is another job
    assert resp.status_code == 202 and calls == {}, calls


def _all_finished(engine) -> bool:
    with engine.connect() as conn:
        statuses = set(conn.execute(sa.select(inbox_events.c.status)).scalars())
    return bool(statuses) and statuses <= {"done", "dead"}


# ------------------------------------------------------------------ what an operator types


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_inbox_sweep_with_redis_down_says_so_in_one_line(settings, tmp_path):
    """Checked before anything is sent or marked: one line naming Redis and the fix, exit 6."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TDS_DATABASE_URL": settings.database_url,
           "TDS_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "inbox", "sweep"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 6, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("database:")]
    assert len(lines) == 1 and "Redis" in lines[0] and "unreachable" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_events_replay_processes_a_past_period_again_and_changes_nothing(worker, engine, database_url, redis_url,
                                                                       simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org))
    client = create_app(settings).test_client()
    items = sim.simulator.store.records(org, "items")[:3]
    for record in items:
        assert signed_post(client, "items", {"item": record}, org=org).status_code == 202
    wait_for(lambda: _all_finished(engine), timeout=30, what="the first delivery")
    products = sa.table("products", sa.column("zoho_item_id"), sa.column("name"), sa.column("synced_at"))

    def rows():
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(products.c.zoho_item_id, products.c.name)).fetchall())

    before = rows()
    dry = CliRunner().invoke(cli, ["events", "replay", "--since", "1h", "--entity", "items", "--dry-run"])
    assert dry.exit_code == 0 and "would replay 3 events" in dry.output, dry.output
    one = CliRunner().invoke(cli, ["events", "replay", "--since", "1h", "--id", items[0]["item_id"]])
    assert one.exit_code == 0 and "replayed 1 events" in one.output, one.output
    for _ in range(2):  # twice: idempotent
        result = CliRunner().invoke(cli, ["events", "replay", "--since", (utcnow() - dt.timedelta(hours=1)).isoformat()])
        assert result.exit_code == 0 and "replayed 3 events" in result.output, result.output
        wait_for(lambda: _all_finished(engine), timeout=30, what="the replay")
    assert rows() == before


def test_dead_letters_show_prints_one_letter_whole(engine, settings):
    with engine.begin() as conn:
        deadletters.add(conn, task_name="tds.process_event", entity="items", exc=ValueError("rate is NaN"),
                        payload={"body": '{"item": {"rate": "NaN"}}'}, organization_id=ORG, zoho_id="42")
        letter_id = conn.execute(sa.text("SELECT max(id) FROM tds_dead_letters")).scalar()
    result = CliRunner().invoke(cli, ["dead-letters", "show", str(letter_id)])
    assert result.exit_code == 0, result.output
    shown = simplejson.loads(result.output)
    assert shown["error"] == "ValueError: rate is NaN" and shown["payload"]["body"].startswith('{"item"')
    assert len(shown["attempts"]) == 1
    missing = CliRunner().invoke(cli, ["dead-letters", "show", "999999"])
    assert missing.exit_code == 1 and "no dead letter 999999" in missing.output


def test_receiver_answers_503_only_when_the_database_is_unavailable(settings):
    down = settings.replace(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{_closed_port()}/none")
    client = create_app(down, enqueue=lambda *a: None).test_client()
    resp = signed_post(client, "items", {"item": {"item_id": "1", "name": "x"}})
    assert resp.status_code == 503 and "retry" in resp.get_json()["error"]


def test_the_receiver_serves_while_slow_clients_hold_connections(settings, tmp_path):
    """Two clients that never finish their body must not stall other webhooks or /healthz;
    two receivers on one host start side by side (no shared control socket)."""
    ports = [_closed_port(), _closed_port()]
    env = {**os.environ, "TDS_DATABASE_URL": settings.database_url, "TDS_REDIS_URL": settings.redis_url,
           "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "ZOHO_ORGANIZATION_ID": ORG, "HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-m", "tds.cli", "receiver", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--threads", "4"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True) for port in ports]
    slow = []
    try:
        for port in ports:
            wait_for(lambda p=port: _answers(p), timeout=30, what=f"the receiver on {port}")
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", ports[0]))
            s.sendall(b"POST /api/zoho/webhooks/items HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            slow.append(s)
        start = time.monotonic()
        assert _answers(ports[0]) and time.monotonic() - start < 5
        assert all(p.poll() is None for p in procs)  # both still running
    finally:
        for s in slow:
            s.close()
        for p in procs:
            p.terminate()
            p.wait(10)


def _answers(port: int) -> bool:
    import requests

    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code in (200, 503)
    except requests.RequestException:
        return False
