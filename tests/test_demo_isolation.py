"""``tds demo`` never touches the configured database or its Redis queues."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest
import redis as redis_lib

from tests.conftest import PG_ADMIN_DSN, PG_HOST_URL, _admin, claim_redis_db, empty_redis_db, release_redis_db


@pytest.fixture
def users_database():
    """A PostgreSQL database holding somebody's rows, dropped afterwards."""
    name = f"tds_user_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(f'CREATE DATABASE "{name}"')
    conn = psycopg2.connect(PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id integer PRIMARY KEY, name text)")
        cur.execute("INSERT INTO customers VALUES (1, 'Real customer'), (2, 'Another')")
    conn.close()
    yield name, f"{PG_HOST_URL}/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _snapshot(name: str):
    conn = psycopg2.connect(PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"))
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        tables = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT id, name FROM customers ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    return tables, rows


@pytest.fixture
def users_redis(tmp_path):
    """The user's Redis, holding queued TDS messages: a redis-server of its own (the shared one's
    dbs are in use by the workers of parallel test runs, which would consume the messages)."""
    binary = shutil.which("redis-server")
    proc = None
    if binary:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/3"
    else:
        url = claim_redis_db()
    client = redis_lib.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            assert time.monotonic() < deadline, "the test's redis-server did not start"
            time.sleep(0.1)
    client.delete("tds.items", "tds.maintenance")
    client.rpush("tds.items", b'{"queued": "event 1"}', b'{"queued": "event 2"}')
    client.rpush("tds.maintenance", b'{"queued": "sync"}')
    yield url, client
    if proc is None:
        empty_redis_db(client)
        release_redis_db(url)
    client.close()
    if proc is not None:
        proc.terminate()
        proc.wait(10)


def _demo_env(database_url: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update({"TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url})
    return env


def test_demo_leaves_the_configured_database_and_queues_alone(tmp_path, users_database, users_redis):
    name, database_url = users_database
    redis_url, client = users_redis
    before = _snapshot(name)
    queued = (client.lrange("tds.items", 0, -1), client.lrange("tds.maintenance", 0, -1))
    (tmp_path / ".env").write_text(f"TDS_DATABASE_URL={database_url}\nTDS_REDIS_URL={redis_url}\n")

    proc = subprocess.run([sys.executable, "-m", "tds.cli", "demo", "--scale", "small", "--changes", "5"],
                          env=_demo_env(database_url, redis_url), cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert "tds-demo.db" in first and name not in proc.stdout
    assert "private, started for the demo" in proc.stdout
    assert (tmp_path / "tds-demo.db").exists()
    assert _snapshot(name) == before
    assert (client.lrange("tds.items", 0, -1), client.lrange("tds.maintenance", 0, -1)) == queued
    assert client.dbsize() == 2  # nothing added either

    again = subprocess.run([sys.executable, "-m", "tds.cli", "demo", "--scale", "tiny", "--changes", "2"],
                           env=_demo_env(database_url, redis_url), cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]  # its own database, marked: reused


def test_demo_refuses_a_database_holding_real_data(tmp_path, users_database):
    name, database_url = users_database
    with_password = database_url.replace("postgres@", "postgres:hunter2secret@")
    before = _snapshot(name)
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "demo", "--scale", "tiny", "--database", with_password],
                          env=_demo_env("", ""), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 8
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "holds data that is not the demo's" in errors[0]
    assert "hunter2secret" not in proc.stdout + proc.stderr
    assert _snapshot(name) == before
