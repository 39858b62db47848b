"""The receiver's answers: what is stored, what is refused, and why."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from tasks.celery_app import create_celery
from tasks.sending import EventSender, enqueue_event
from tds.config import ConfigError, Settings
from tds.db import get_engine, retrying_disconnect
from tds.inbox import events as inbox
from tds.models import inbox_events
from tests.conftest import ORG, WEBHOOK_SECRET
from tests.helpers import signed_post
from webhook_receiver import create_app
from webhook_receiver.app import POOL_SIZE

RECORD = {"item_id": "3850050000000077005", "name": "Filter", "last_modified_time": "2024-02-26T15:44:57+0200"}


@pytest.fixture
def sent():
    return []


@pytest.fixture
def client(engine, settings, sent):
    return create_app(settings, enqueue=lambda event_id, entity, countdown=0: sent.append((event_id, entity))).test_client()


def stored(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events).order_by(inbox_events.c.id)).fetchall()


def test_default_payload_is_stored_then_enqueued(client, engine, sent):
    resp = signed_post(client, "items", {"item": RECORD})
    assert resp.status_code == 202
    event_id = resp.get_json()["event_id"]
    assert sent == [(event_id, "items")]
    (row,) = stored(engine)
    assert (row.entity, row.organization_id, row.zoho_id, row.status) == ("items", ORG, RECORD["item_id"], "received")
    assert json.loads(row.body) == {"item": RECORD}
    assert row.enqueued_at == row.received_at  # stored as sent, in the insert itself


def test_a_webhook_costs_one_transaction(settings):
    """The event is stored already marked as sent: no second transaction to mark it."""
    commits = []

    def count(conn):
        commits.append(conn)

    client = create_app(settings, enqueue=lambda *a: None).test_client()
    receiver_engine = get_engine(settings.database_url, pre_ping=False, pool_size=POOL_SIZE)
    sa.event.listen(receiver_engine, "commit", count)
    try:
        assert signed_post(client, "items", {"item": RECORD}).status_code == 202
    finally:
        sa.event.remove(receiver_engine, "commit", count)
    assert len(commits) == 1


def test_a_complete_body_is_sent_at_once_and_one_needing_a_fetch_after_the_countdown(engine, settings):
    sent = []
    client = create_app(settings.replace(coalesce_seconds=2.0),
                        enqueue=lambda event_id, entity, countdown=0: sent.append((entity, countdown))).test_client()
    complete = {**RECORD, "item_type": "inventory", "warehouses": [{"warehouse_id": "1", "warehouse_name": "Main"}]}
    assert signed_post(client, "items", {"item": complete}).status_code == 202
    partial = {**RECORD, "item_type": "inventory", "last_modified_time": "2024-02-27T15:44:57+0200"}  # list-style
    assert signed_post(client, "items", {"item": partial}).status_code == 202
    assert sent == [("items", 0), ("items", 2.0)]


def test_a_postgresql_connection_killed_under_the_receiver_costs_no_5xx(engine, settings):
    """No pre-ping round trip per request: a dead connection is found by the insert, and
    the webhook is stored through a fresh one."""
    client = create_app(settings, enqueue=lambda *a: None).test_client()
    assert signed_post(client, "items", {"item": RECORD}).status_code == 202  # the pool holds a connection now
    with engine.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        conn.commit()
    assert killed >= 1
    other = {**RECORD, "last_modified_time": "2024-02-28T15:44:57+0200"}
    resp = signed_post(client, "items", {"item": other})
    assert resp.status_code == 202, resp.get_json()
    assert len(stored(engine)) == 2


def test_bare_record_and_alias_path(client, engine):
    assert signed_post(client, "products", RECORD).status_code == 202
    assert stored(engine)[0].zoho_id == RECORD["item_id"]


def test_form_encoded_jsonstring(client, engine):
    form = {"JSONString": json.dumps({"item": RECORD})}
    query = {"organization_id": ORG}
    pairs = sorted({**query, **form}.items())
    signature = hmac.new(WEBHOOK_SECRET.encode(), "".join(k + v for k, v in pairs).encode(), hashlib.sha256)
    resp = client.post(f"/api/zoho/webhooks/items?{urlencode(query)}", data=form,
                       headers={"X-Zoho-Webhook-Signature": base64.b64encode(signature.digest()).decode()})
    assert resp.status_code == 202, resp.get_json()
    assert stored(engine)[0].zoho_id == RECORD["item_id"]


def test_token_in_query_or_header_is_accepted(client, engine):
    body = json.dumps({"item": RECORD})
    by_query = client.post(f"/api/zoho/webhooks/items?organization_id={ORG}&token={WEBHOOK_SECRET}", data=body,
                           content_type="application/json")
    other = {**RECORD, "last_modified_time": "2024-02-27T15:44:57+0200"}
    by_header = client.post(f"/api/zoho/webhooks/items?organization_id={ORG}", data=json.dumps({"item": other}),
                            content_type="application/json", headers={"X-Webhook-Token": WEBHOOK_SECRET})
    assert (by_query.status_code, by_header.status_code) == (202, 202)
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(
    "headers,query",
    [
        ({}, ""),
        ({"X-Webhook-Token": "WrongSecret123456"}, ""),
        ({"X-Zoho-Webhook-Signature": "00" * 32}, ""),
        ({}, "&token=WrongSecret123456"),
    ],
)
def test_unauthenticated_requests_store_nothing(client, engine, sent, headers, query):
    resp = client.post(f"/api/zoho/webhooks/items?organization_id={ORG}{query}", data=json.dumps({"item": RECORD}),
                       content_type="application/json", headers=headers)
    assert resp.status_code == 401
    assert stored(engine) == [] and sent == []


def test_record_without_id_is_400(client, engine):
    resp = signed_post(client, "items", {"item": {"name": "no id"}})
    assert resp.status_code == 400
    assert "item_id" in resp.get_json()["error"]
    assert stored(engine) == []


def test_not_json_is_400(client, engine):
    resp = client.post(f"/api/zoho/webhooks/items?organization_id={ORG}&token={WEBHOOK_SECRET}", data=b"{not json",
                       content_type="application/json")
    assert resp.status_code == 400
    assert stored(engine) == []


def test_unknown_entity_is_404(client, engine):
    resp = signed_post(client, "spaceships", {"spaceship": {"id": "1"}})
    assert resp.status_code == 404
    assert stored(engine) == []


def test_unconfigured_organization_is_400(client, engine):
    resp = signed_post(client, "items", {"item": RECORD}, org="99999")
    assert resp.status_code == 400
    assert "99999" in resp.get_json()["error"]


def test_body_over_limit_is_413(engine, settings):
    small = settings.replace(webhook_max_bytes=2048)
    client = create_app(small, enqueue=lambda *a: None).test_client()
    resp = signed_post(client, "items", {"item": {**RECORD, "description": "x" * 5000}})
    assert resp.status_code == 413
    assert stored(engine) == []


def test_database_down_is_503(settings):
    down = settings.replace(database_url="postgresql+psycopg2://postgres@127.0.0.1:9/nowhere")
    client = create_app(down, enqueue=lambda *a: None).test_client()
    resp = signed_post(client, "items", {"item": RECORD})
    assert resp.status_code == 503


def test_enqueue_failure_still_answers_202_and_keeps_the_event(engine, settings):
    def broken(*_):
        raise ConnectionError("redis is down")

    client = create_app(settings, enqueue=broken).test_client()
    resp = signed_post(client, "items", {"item": RECORD})
    assert resp.status_code == 202
    (row,) = stored(engine)
    assert row.status == "received" and row.enqueued_at is None  # not marked sent: the sweeper counts from receipt
    with engine.connect() as conn:
        due = inbox.due_for_redrive(conn, dt.timedelta(0), lease=dt.timedelta(hours=1))
    assert [(event_id, why) for event_id, _, why in due] == [(row.id, inbox.Redrive.UNSENT)]


def test_no_task_sent_event_is_published_per_task(settings, redis_client):
    """Flower hears of a task from the worker (received, started, succeeded); the sender
    publishes the message alone."""
    sender = create_celery(settings, include=())
    events = redis_client.pubsub(ignore_subscribe_messages=True)
    db = redis_client.connection_pool.connection_kwargs.get("db", 0)
    events.subscribe(f"/{db}.celeryev/task.sent")  # kombu's fanout channel (PUBLISH spans every db)
    try:
        enqueue_event(sender, 1, "items")
        deadline = time.monotonic() + 1.0
        heard = []
        while time.monotonic() < deadline:
            message = events.get_message(timeout=0.1)
            if message:
                heard.append(message["channel"])
    finally:
        events.close()
        redis_client.delete("tds.items")
    assert heard == []


def test_contact_posted_to_customers_is_routed_by_type(client, engine, sent):
    vendor = {"contact_id": "4600000000001", "contact_name": "Vendor", "contact_type": "vendor",
              "last_modified_time": "2024-02-26T15:44:57+0200"}
    resp = signed_post(client, "customers", {"contact": vendor})
    assert resp.status_code == 202
    assert sent[0][1] == "vendors"
    assert stored(engine)[0].entity == "vendors"


def test_refuses_to_start_without_secret(database_url):
    bare = Settings.from_env({"TDS_DATABASE_URL": database_url}, env_file=None)
    with pytest.raises(ConfigError, match="ZOHO_WEBHOOK_SECRET"):
        create_app(bare, enqueue=lambda *a: None)
    allowed = bare.replace(webhook_allow_unsigned=True)
    assert create_app(allowed, enqueue=lambda *a: None) is not None


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_tds_receiver_serves_with_gunicorn_and_keeps_the_token_out_of_the_log(engine, database_url, redis_url,
                                                                              tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url,
           "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "ZOHO_ORGANIZATION_ID": ORG}
    log_path = tmp_path / "receiver.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "tds.cli", "receiver", "--bind", f"127.0.0.1:{port}",
                                 "--workers", "1", "--access-log"], env=env, cwd=tmp_path, stdout=log_file,
                                stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        resp = requests.post(f"{base}/api/zoho/webhooks/items?organization_id={ORG}&token={WEBHOOK_SECRET}",
                             json={"item": RECORD}, timeout=10)
        assert resp.status_code == 202
    finally:
        proc.terminate()
        proc.wait(20)
    text = log_path.read_text()
    assert "/api/zoho/webhooks/items" in text and " 202 " in text
    assert WEBHOOK_SECRET not in text
    assert stored(engine)[0].zoho_id == RECORD["item_id"]


def test_the_receiver_loads_neither_the_sync_nor_processing_nor_the_zoho_client():
    """The thin receiver imports what it needs to verify, store and send a task by name."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tds.config import Settings\n"
        "from webhook_receiver import create_app\n"
        "s = Settings.from_env({'TDS_DATABASE_URL': 'sqlite://', 'ZOHO_WEBHOOK_SECRET': 'TestWebhookSecret123',"
        " 'ZOHO_ORGANIZATION_ID': '1'}, env_file=None)\n"
        "create_app(s)\n"
        # the status for /metrics reads the last reconcile report and the quota left, nothing else of these
        "allowed = {'tds.sync', 'tds.sync.reports', 'tds.zoho', 'tds.zoho.budget'}\n"
        "loaded = [m for m in sys.modules if m.startswith(('tds.sync', 'tds.process', 'tds.zoho', 'tasks.events',"
        " 'tasks.maintenance', 'tasks.images')) and m not in allowed]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_the_receivers_sender_sends_what_send_task_sends(settings, monkeypatch):
    """The lean sender leaves out Celery's wrapping, not anything of the message."""
    from kombu.transport import redis as kombu_redis

    put = []  # what kombu's Redis channel would LPUSH, caught before it reaches a worker
    monkeypatch.setattr(kombu_redis.Channel, "_put", lambda self, queue, message, **kw: put.append((queue, message)))
    app = create_celery(settings, include=())
    enqueue_event(app, 7, "items", countdown=2)
    sender = EventSender(app)
    sender(7, "items", 2)
    sender.close()
    sender(8, "vendors")  # opens its channel again
    (_, celery), (_, lean), (queue, vendor) = put
    ids = {"id", "root_id", "eta", "correlation_id", "delivery_tag"}
    for part in ("headers", "properties"):
        assert {k: v for k, v in lean[part].items() if k not in ids} == \
            {k: v for k, v in celery[part].items() if k not in ids}
    assert {k: v for k, v in lean.items() if k not in ("headers", "properties")} == \
        {k: v for k, v in celery.items() if k not in ("headers", "properties")}
    assert lean["headers"]["eta"] and celery["headers"]["eta"]
    assert queue == "tds.vendors" and vendor["headers"]["eta"] is None


def test_a_refused_statement_is_not_tried_again(settings):
    """Only a dead connection earns the second try: the database refusing the statement
    (the receiver's 400 for a body it cannot store) is raised at once."""
    tries = []

    def work(conn):
        tries.append(conn)
        return conn.execute(sa.text("SELECT 1 / 0")).scalar()

    with pytest.raises(sa.exc.DataError):
        retrying_disconnect(get_engine(settings.database_url, pre_ping=False, pool_size=POOL_SIZE), work)
    assert len(tries) == 1
