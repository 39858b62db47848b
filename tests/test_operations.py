"""The operator's side: status and its exit codes, alerts delivered to a webhook, named
events, the change log, retention, /metrics, the status page in Chromium, Flower's auth."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug.serving import make_server

from tds import hooks, registry
from tds.cli import cli
from tds.config import Settings, set_settings
from tds.db import utcnow
from tds.inbox.events import Source, store
from tds.models import alerts as alerts_table
from tds.models import change_log, events, inbox_events
from tds.ops import alerts, status
from tds.sinks import changes
from tests.conftest import ORG, WEBHOOK_SECRET
from tests.helpers import signed_post, wait_for
from tests.test_spine import item
from webhook_receiver import create_app

ADMIN = "AdminToken1234567890"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _settings(database_url, redis_url, **extra) -> Settings:
    s = Settings.from_env({"TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_ORGANIZATION_ID": ORG,
                           "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "TDS_TASK_RETRY_BACKOFF_MAX": "2",
                           "TDS_ADMIN_TOKEN": ADMIN, "TDS_ENTITIES": "items,customers,invoices", **extra},
                          env_file=None)
    set_settings(s)
    return s


@pytest.fixture
def ops(database_url, redis_url, redis_client, engine):
    s = _settings(database_url, redis_url)
    yield s
    set_settings(None)


def _pending(engine, n: int, entity: str = "items") -> None:
    with engine.begin() as conn:
        for i in range(n):
            store(conn, source=Source.FETCH, entity=entity, organization_id=ORG, zoho_id=str(1000 + i),
                  key=f"test-{entity}-{i}", body="test")


# ------------------------------------------------------------------ tds status


def test_status_is_healthy_then_warns_then_is_critical_by_pending_events(ops, engine, redis_client):
    redis_client.set(status.BEAT_LOCK, "x", ex=60)  # a beat is running
    runner = CliRunner()
    out = runner.invoke(cli, ["status", "--json", "--no-workers"])
    snap = json.loads(out.output)
    assert out.exit_code == 0, out.output
    assert [e["entity"] for e in snap["entities"]] == ["items", "customers", "invoices"]
    assert snap["severity"] == "healthy"

    _pending(engine, 51)
    out = runner.invoke(cli, ["status", "--json", "--no-workers"])
    assert out.exit_code == 1
    items = next(e for e in json.loads(out.output)["entities"] if e["entity"] == "items")
    assert items["pending"] == 51

    _pending(engine, 201)
    out = runner.invoke(cli, ["status", "--no-workers"])  # the human table
    assert out.exit_code == 2
    assert "CRITICAL: 201 events pending for items" in out.output
    assert "invoices" in out.output and "status: critical" in out.output


def test_status_is_critical_and_quick_when_redis_is_stopped(ops, engine, database_url, tmp_path):
    """Redis down: nothing moves, so the status is critical — never "healthy", never "all empty" —
    in the command (exit 2, within seconds), /api/status and /metrics alike."""
    import time

    from status_page import create_app as status_app
    from tests.chaos.harness import PrivateRedis

    redis = PrivateRedis()
    redis.stop()
    try:
        s = _settings(database_url, redis.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
        env.update({"TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis.url, "ZOHO_ORGANIZATION_ID": ORG,
                    "TDS_ENTITIES": "items,customers,invoices", "TDS_IMAGE_DIR": str(tmp_path)})
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "tds.cli", "status", "--json"], env=env, capture_output=True,
                              text=True, timeout=60)
        took = time.monotonic() - started
        snap = json.loads(done.stdout)
        human = subprocess.run([sys.executable, "-m", "tds.cli", "status"], env=env, capture_output=True, text=True,
                               timeout=60)
        api = status_app(s).test_client().get("/api/status", headers={"Authorization": f"Bearer {ADMIN}"})
        metrics = create_app(s).test_client().get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    finally:
        redis.close()
    assert done.returncode == 2 and snap["severity"] == "critical", done.stdout + done.stderr
    redis_finding = next(f for f in snap["findings"] if f["key"] == "redis")
    assert redis_finding["severity"] == "critical" and "Redis unreachable" in redis_finding["message"]
    assert took < 8, f"tds status took {took:.1f} s with Redis down"
    assert human.returncode == 2 and "status: critical" in human.stdout and "all empty" not in human.stdout
    assert "queues: unknown" in human.stdout and "status: healthy" not in human.stdout
    assert api.status_code == 200 and api.get_json()["severity"] == "critical"
    assert [f["key"] for f in api.get_json()["findings"]] == [f["key"] for f in snap["findings"]]
    assert "tds_health_severity 2.0" in metrics.get_data(as_text=True)


def test_status_is_critical_when_postgresql_is_stopped(ops, redis_client, redis_url, tmp_path):
    from status_page import create_app as status_app
    from tds import db
    from tests.chaos.harness import PrivatePostgres

    try:
        pg = PrivatePostgres()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    try:
        pg.stop()
        s = _settings(pg.url, redis_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
        env.update({"TDS_DATABASE_URL": pg.url, "TDS_REDIS_URL": redis_url, "ZOHO_ORGANIZATION_ID": ORG,
                    "TDS_IMAGE_DIR": str(tmp_path)})
        done = subprocess.run([sys.executable, "-m", "tds.cli", "status", "--json", "--no-workers"], env=env,
                              capture_output=True, text=True, timeout=60)
        page = status_app(s).test_client().get("/status", headers={"Authorization": f"Bearer {ADMIN}"})
    finally:
        db.dispose_engines()
        pg.close()
    assert done.returncode == 2, done.stdout + done.stderr
    snap = json.loads(done.stdout)
    assert snap["severity"] == "critical" and "database" in snap["unknown"]
    assert "PostgreSQL unreachable" in next(f for f in snap["findings"] if f["key"] == "database")["message"]
    assert page.status_code == 200 and 'id="severity">critical' in page.get_data(as_text=True)


def test_status_says_critical_without_a_beat_and_names_a_queue_nobody_consumes(ops, redis_client):
    snap = status.snapshot(ops)
    snap["workers"] = {"w1@host": ["tds.items", "tds.sync"]}
    found = {c.kind: c for c in alerts.conditions(ops, snap)}
    assert found["beat"].severity == "critical"
    assert "tds.invoices" in {c.key.split(":", 1)[1] for c in alerts.conditions(ops, snap) if c.kind == "no_worker"}


def test_status_lists_live_workers_and_their_queues(worker, engine, database_url, redis_url):
    from tasks.celery_app import live_workers

    s = _settings(database_url, redis_url)
    snap = status.snapshot(s, workers=live_workers)
    assert snap["workers"], "the session worker answers Celery inspect"
    consumed = {q for qs in snap["workers"].values() for q in qs}
    assert {"tds.items", "tds.invoices", "tds.maintenance"} <= consumed
    assert not [c for c in snap["conditions"] if c["kind"] == "no_worker"]


def test_tds_worker_names_itself_from_its_queues_unless_named(ops, redis_client, monkeypatch):
    """The README's worker lines give two nodes, not two ``celery@host``; ``-n`` still wins."""
    execs = []
    monkeypatch.setattr(os, "execvp", lambda path, argv: execs.append(argv))
    runner = CliRunner()
    for args in (["--queues", "webhooks", "--queues", "maintenance"], ["--queues", "sync"], [],
                 ["--queues", "sync", "-n", "mine@box"]):
        done = runner.invoke(cli, ["worker", *args])
        assert done.exit_code == 0, done.output
    names = [argv[argv.index("-n") + 1] for argv in execs]
    host = socket.gethostname()
    assert names == [f"webhooks@{host}", f"sync@{host}", f"all@{host}", "mine@box"]
    assert [argv.count("-n") for argv in execs] == [1, 1, 1, 1]


# ------------------------------------------------------------------ alerts


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()


def test_an_alert_fires_once_repeats_hourly_and_clears_to_the_webhook(engine, database_url, redis_url, redis_client,
                                                                       hook_server):
    url, received = hook_server
    s = _settings(database_url, redis_url, TDS_ALERT_WEBHOOK_URL=url)
    redis_client.set(status.BEAT_LOCK, "x", ex=600)
    _pending(engine, 60)
    t0 = utcnow()
    snap = lambda: status.snapshot(s)  # noqa: E731

    first = alerts.check(s, snap(), now=t0)
    assert [(n.state, n.severity) for n in first] == [("opened", "warning")]
    assert received[-1]["text"].startswith("[TDS WARNING] ALERT: 60 events pending for items")
    assert alerts.check(s, snap(), now=t0 + dt.timedelta(minutes=1)) == []  # open: no repeat within the hour
    assert len(received) == 1
    again = alerts.check(s, snap(), now=t0 + dt.timedelta(minutes=61))
    assert [n.state for n in again] == ["repeated"] and len(received) == 2

    with engine.begin() as conn:
        conn.execute(sa.update(inbox_events).values(status="done", processed_at=utcnow()))
    cleared = alerts.check(s, snap(), now=t0 + dt.timedelta(minutes=62))
    assert [n.state for n in cleared] == ["cleared"]
    assert received[-1]["tds"]["state"] == "cleared" and len(received) == 3
    with engine.connect() as conn:
        row = conn.execute(sa.select(alerts_table)).one()
    assert row.cleared_at is not None and row.kind == "pending"


def test_the_beat_task_checks_alerts_through_a_worker(worker, engine, database_url, redis_url, hook_server):
    import tasks

    url, received = hook_server
    _settings(database_url, redis_url, TDS_ALERT_WEBHOOK_URL=url)
    assert any(job["task"] == "tds.check_alerts" and job["schedule"] == 60.0
               for job in tasks.app.conf.beat_schedule.values())
    tasks.app.send_task("tds.check_alerts", queue="tds.maintenance")
    wait_for(lambda: any("no beat is running" in r["text"] for r in received), what="the beat alert posted")


def test_a_dead_alert_webhook_is_logged_not_raised(ops, engine, caplog):
    s = ops.replace(alert_webhook_url="http://127.0.0.1:9/nothing")
    notices = alerts.check(s, status.snapshot(s))
    assert notices  # beat is not running
    assert "alert webhook failed" in caplog.text


# ------------------------------------------------------------------ events and the change log


def test_a_webhook_writes_named_events_and_a_change_log_with_only_what_changed(worker, engine, database_url,
                                                                                redis_url):
    s = _settings(database_url, redis_url)
    heard = []
    fn = hooks.subscribe("tds.zoho.webhook.*", lambda name, ev: heard.append((name, ev.get("event_id"))))
    try:
        client = create_app(s, enqueue=None).test_client()
        first = signed_post(client, "items", {"item": item()}).get_json()["event_id"]
        wait_for(lambda: changes.listing(engine, "items"), what="the created change")
        second = signed_post(client, "items", {"item": item(modified="2024-02-26T16:00:00+0200",
                                                           rate="90.00")}).get_json()["event_id"]
        wait_for(lambda: len(changes.listing(engine, "items")) == 2, what="the updated change")
        signed_post(client, "items", {"item": item(modified="2024-02-26T16:00:00+0200", rate="90.00")},
                    extra="again")  # same version again: no change row
        wait_for(lambda: hooks.listing(engine, "tds.zoho.webhook.processed", limit=10).__len__() >= 2,
                 what="processed events")
    finally:
        hooks.unsubscribe("tds.zoho.webhook.*", fn)
    rows = changes.listing(engine, "items", "3850050000000077005")
    updated, created = rows[0], rows[1]
    assert (created.action, created.source, created.inbox_event_id) == ("created", "webhook", first)
    assert created.changes["name"] == [None, "OIL FILTER"]
    assert (updated.action, updated.inbox_event_id) == ("updated", second)
    assert updated.changes["unit_price"] == ["85", "90"]
    assert "name" not in updated.changes and "zoho_metadata" not in updated.changes
    assert ("tds.zoho.webhook.received", first) in heard
    out = CliRunner().invoke(cli, ["changes", "--entity", "items", "--id", "3850050000000077005"])
    assert "updated items 3850050000000077005 (webhook event" in out.output and "unit_price: '85' → '90'" in out.output
    out = CliRunner().invoke(cli, ["events", "list", "--name", "tds.zoho.webhook.*", "--since", "1h"])
    assert "tds.zoho.webhook.processed" in out.output and "tds.zoho.webhook.received" in out.output


def test_a_sync_emits_started_completed_and_entity_synced(engine, database_url, redis_url, redis_client,
                                                         simulator_factory):
    from tds.sync import synchronizer as sync
    from tds.zoho import shared as zoho_shared
    from tests.simulated import settings_for, use

    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    s = use(settings_for(sim, database_url, redis_url, org))
    entity = registry.get("warehouses")
    result = sync.full_sync(s, entity, org, zoho_shared.zoho_client(s))
    names = [r.name for r in reversed(hooks.listing(engine, "tds.zoho.*"))]
    assert [n for n in names if "token" not in n] == ["tds.zoho.sync.started", "tds.zoho.sync.completed",
                                                      "tds.zoho.entity.synced"]
    assert "tds.zoho.token.refreshed" in names
    synced = hooks.listing(engine, "tds.zoho.entity.synced")[0]
    assert synced.payload["run_id"] == result.run_id and synced.entity == "warehouses"
    logged = changes.listing(engine, "warehouses")
    assert logged and {r.source for r in logged} == {"sync"} and logged[0].sync_run_id == result.run_id


def test_cleanup_purges_old_events_changes_and_finished_inbox_events_but_keeps_recent(ops, engine):
    from tasks.maintenance import cleanup

    old = utcnow() - dt.timedelta(days=31)
    with engine.begin() as conn:
        conn.execute(sa.insert(events), [hooks.row("tds.zoho.sync.started", at=old),
                                         hooks.row("tds.zoho.sync.started")])
        conn.execute(sa.insert(change_log), [
            {"organization_id": ORG, "entity": "items", "zoho_id": "1", "action": "created", "source": "sync",
             "created_at": when} for when in (old, utcnow())])
    result = cleanup()
    assert result["named_events_purged"] == 1 and result["changes_purged"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(change_log)).scalar() == 1


# ------------------------------------------------------------------ /metrics


def test_metrics_count_webhooks_by_entity_and_reason_behind_the_admin_token(ops, engine):
    client = create_app(ops, enqueue=lambda *a: None).test_client()
    signed_post(client, "items", {"item": item()})
    signed_post(client, "items", {"item": item()}, secret="WrongSecret123456")
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).get_data(as_text=True)
    assert 'tds_webhooks_accepted_total{entity="items"}' in text
    assert 'tds_webhooks_rejected_total{entity="items",reason="signature"}' in text
    assert 'tds_inbox_events{status="pending"} 1.0' in text
    assert 'tds_queue_depth{queue="tds.items"}' in text
    assert "tds_processing_latency_seconds_bucket" in text
    assert client.get("/healthz").status_code in (200, 503)  # open, whatever it says


def test_metrics_add_up_across_processes_in_multiprocess_mode(tmp_path):
    code = ("from tds import metrics\nmetrics.EVENTS_PROCESSED.labels('items', 'done').inc()\n")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    reader = ("from prometheus_client import CollectorRegistry, generate_latest, multiprocess\n"
              "r = CollectorRegistry(); multiprocess.MultiProcessCollector(r)\n"
              "print(generate_latest(r).decode())")
    out = subprocess.run([sys.executable, "-c", reader], env=env, capture_output=True, text=True, timeout=60)
    assert 'tds_events_processed_total{entity="items",result="done"} 2.0' in out.stdout


# ------------------------------------------------------------------ the status page


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_status_page_wants_the_admin_token_and_api_status_is_json(ops, engine):
    from status_page import create_app as status_app

    client = status_app(ops, ).test_client()
    assert client.get("/healthz").status_code == 200
    denied = client.get("/status")
    assert denied.status_code == 401 and "Basic" in denied.headers["WWW-Authenticate"]
    assert client.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    snap = client.get("/api/status", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()
    assert [e["entity"] for e in snap["entities"]] == ["items", "customers", "invoices"]
    assert snap["images"][ORG]["summary"].startswith("images:")


def test_status_page_renders_in_headless_chromium_with_every_entity(ops, engine, redis_client):
    binary = _chromium()
    if not binary:
        pytest.skip("chromium is not installed (scripts/ensure-chromium.sh installs it as root)")
    from status_page import create_app as status_app

    _pending(engine, 60)
    alerts.check(ops, status.snapshot(ops))
    server, base = _serve(status_app(ops, ))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    url = base.replace("http://", f"http://tds:{ADMIN}@") + "/status"
    try:
        with tempfile.TemporaryDirectory() as profile:
            flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}"]
            dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        with tempfile.TemporaryDirectory() as profile:
            flags[-1] = f"--user-data-dir={profile}"
            subprocess.run([*flags, f"--screenshot={shot}", "--window-size=420,1400", url], capture_output=True,
                           timeout=120)
    finally:
        server.shutdown()
    html = dom.stdout
    assert 'id="entities"' in html, dom.stderr[-2000:]
    for entity in registry.enabled(ops):
        assert f'data-entity="{entity.name}"' in html
    assert "60 events pending for items" in html  # the open alert
    assert 'id="severity">critical' in html  # no beat, no worker asked → critical
    assert shot.exists() and shot.stat().st_size > 5000


# ------------------------------------------------------------------ Flower


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tds_flower_refuses_without_basic_auth():
    out = subprocess.run([sys.executable, "-m", "tds.cli", "flower"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TDS_FLOWER_BASIC_AUTH": ""})
    assert out.returncode == 2 and "TDS_FLOWER_BASIC_AUTH" in out.stderr


def test_tds_flower_guards_metrics_and_healthcheck_too(database_url, redis_url):
    port = _free_port()
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url,
           "TDS_FLOWER_BASIC_AUTH": "ops:FlowerPass12345"}
    proc = subprocess.Popen([sys.executable, "-m", "tds.cli", "flower", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return requests.get(f"{base}/healthcheck", timeout=2) is not None
            except requests.ConnectionError:
                return None
        wait_for(up, timeout=60, what="flower listening")
        for path in ("/metrics", "/healthcheck", "/", "/tasks/datatable"):
            assert requests.get(base + path, timeout=5).status_code == 401, path
            assert requests.get(base + path, auth=("ops", "wrong"), timeout=5).status_code == 401, path
        assert requests.get(f"{base}/metrics", auth=("ops", "FlowerPass12345"), timeout=5).status_code == 200
        assert requests.get(f"{base}/healthcheck", auth=("ops", "FlowerPass12345"), timeout=5).text == "OK"
    finally:
        proc.terminate()
        proc.wait(20)


# ------------------------------------------------------------------ logs


def test_a_full_demo_with_every_secret_set_logs_json_lines_and_no_secret(engine, database_url, tmp_path):
    from tds.simulator.config import SimulatorConfig

    sim = SimulatorConfig()  # the demo runs on the emptied test database (``engine``): it waits for every
    secrets = {                # unfinished inbox event, earlier tests' too
        "ZOHO_CLIENT_SECRET": "ClientSecretXyz987654", "ZOHO_REFRESH_TOKEN": "1000.RefreshTokenAbc123456",
        "ZOHO_WEBHOOK_SECRET": "WebhookSecretQrs4567", "TDS_ADMIN_TOKEN": "AdminTokenUvw7654321",
        "TDS_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T000/B000/SlackTokenLmn2468",
        "TDS_FLOWER_BASIC_AUTH": "ops:FlowerPasswordJkl1357",
    }
    # a Redis of its own (the demo starts a private one when none answers): the session worker
    # consumes the test Redis and would take the demo's tasks
    env = {**os.environ, **secrets, "TDS_DATABASE_URL": database_url,
           "TDS_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",
           "TDS_LOG_FORMAT": "json", "TDS_LOG_LEVEL": "INFO", "TDS_IMAGE_DIR": str(tmp_path / "images")}
    out = subprocess.run([sys.executable, "-m", "tds.cli", "demo", "--scale", "small", "--changes", "5"], env=env,
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    everything = out.stdout + out.stderr
    hidden = [*secrets.values(), "SlackTokenLmn2468", "FlowerPasswordJkl1357", sim.client_secret, sim.refresh_token]
    assert not [s for s in hidden if s in everything]
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert lines and {line["component"] for line in lines} == {"demo"}
    assert any(line.get("event_id") for line in lines) or any(line.get("run_id") for line in lines)


def test_receiver_metrics_under_two_gunicorn_workers_only_go_up(ops, engine, redis_client, database_url, redis_url,
                                                               tmp_path):
    """The default ``tds receiver`` (two gunicorn workers), no TDS_METRICS_DIR set: ten webhooks,
    each followed by a scrape, whichever worker answers it; the count goes 1, 2, … 10."""
    import re

    import simplejson

    from tds.receive import signature as webhook_auth

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_", "PROMETHEUS_"))}
    env.update({"TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_ORGANIZATION_ID": ORG,
                "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "TDS_ADMIN_TOKEN": ADMIN, "TDS_ENTITIES": "items",
                "TDS_RUNTIME_DIR": str(tmp_path / "run"), "PYTHONPATH": str(Path(__file__).parent.parent)})
    proc = subprocess.Popen([sys.executable, "-m", "tds.cli", "receiver", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False
    try:
        wait_for(up, timeout=60, what="the receiver")
        seen = []
        for n in range(10):
            body = simplejson.dumps({"item": item(f"77{n:03d}")}, use_decimal=True).encode()
            params = {"organization_id": ORG}
            sig = webhook_auth.sign(WEBHOOK_SECRET, body, pairs=params.items())
            posted = requests.post(f"{base}/api/zoho/webhooks/items", params=params, data=body, timeout=10,
                                   headers={"Content-Type": "application/json", webhook_auth.SIGNATURE_HEADER: sig})
            assert posted.status_code == 202, posted.text
            text = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30).text
            found = re.search(r'^tds_webhooks_accepted_total\{entity="items"\} (\S+)$', text, re.M)
            seen.append(float(found.group(1)) if found else 0.0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        redis_client.delete("tds.items")  # the events it queued are this test's alone
    assert seen == [float(n) for n in range(1, 11)], seen
    assert (tmp_path / "run" / "metrics" / f"receiver-{port}").is_dir()


def test_the_grafana_dashboard_uses_only_metric_names_tds_exports():
    import re

    from tds import metrics

    dashboard = json.loads((Path(__file__).parent.parent / "deploy/grafana/tds-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\btds_[a-z_]+", target["expr"])}
    documented = set(re.findall(r"\btds_[a-z_]+", metrics.__doc__))
    exported = documented | {f"{n}_bucket" for n in documented}
    assert used and used <= exported, used - exported


def test_doctor_checks_scopes_workers_and_beat(ops, redis_client):
    from tds.ops import doctor

    assert not doctor.scopes_cover_entities(ops).ok
    crm_less = ops.replace(zoho_scopes=("ZohoBooks.fullaccess.all",))
    check = doctor.scopes_cover_entities(crm_less.replace(entities=("items", "invoices")))
    assert not check.ok and "items" in check.label and "invoices" not in check.label
    assert doctor.scopes_cover_entities(ops.replace(zoho_scopes=("ZohoBooks.fullaccess.all",
                                                                 "ZohoInventory.fullaccess.all"))).ok
    check = doctor.workers_consume_every_queue(ops, {"w@h": ["tds.items"]})
    assert not check.ok and "tds.invoices" in check.label and check.line().startswith("✘")
    assert not doctor.one_beat(ops).ok
    redis_client.set(status.BEAT_LOCK, "x", ex=60)
    assert doctor.one_beat(ops).line().startswith("✔")
