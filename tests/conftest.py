"""Shared fixtures: real PostgreSQL, real Redis and a real Celery worker on 127.0.0.1.

The test run gets a PostgreSQL database of its own (created here, dropped at the end) and
Redis db 15 (flushed around every test). The environment is set before ``tasks`` is
imported, so the Celery app and the worker use them too.
"""

from __future__ import annotations

import os
import time
import uuid

import psycopg2
import pytest
import redis as redis_lib
import sqlalchemy as sa

PG_ADMIN_DSN = os.environ.get("TDS_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_HOST_URL = os.environ.get("TDS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
TEST_DB = f"tds_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
TEST_DATABASE_URL = f"{PG_HOST_URL}/{TEST_DB}"
CLAIM_KEY = "_tds_test_run_claim"


def _claim_redis_db(base: str = "redis://127.0.0.1:6379") -> str:
    """A Redis db no other test run on this machine is using (the worker of a parallel run
    would otherwise consume this run's queues)."""
    for number in range(15, 0, -1):
        try:
            if redis_lib.Redis.from_url(f"{base}/{number}").set(CLAIM_KEY, os.getpid(), nx=True, ex=3 * 3600):
                return f"{base}/{number}"
        except redis_lib.RedisError:
            break
    return f"{base}/15"


TEST_REDIS_URL = os.environ.get("TDS_TEST_REDIS_URL") or _claim_redis_db()
WEBHOOK_SECRET = "TestWebhookSecret123"
ORG = "60001234567"

os.environ.update(
    {
        "TDS_DATABASE_URL": TEST_DATABASE_URL,
        "TDS_REDIS_URL": TEST_REDIS_URL,
        "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ZOHO_ORGANIZATION_ID": ORG,
        "TDS_LOG_LEVEL": "INFO",
    }
)

from tds.config import Settings, set_settings  # noqa: E402

pytest_plugins = ["tests.simulated"]


def _admin(sql: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def database_url():
    """A fresh PostgreSQL database migrated to head, dropped after the run."""
    from tds import db, schema

    _admin(f'CREATE DATABASE "{TEST_DB}"')
    schema.upgrade(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    db.dispose_engines()
    _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


@pytest.fixture
def engine(database_url):
    """The test database, emptied before each test."""
    from tds.db import get_engine
    from tds.models import metadata

    eng = get_engine(database_url)
    existing = set(sa.inspect(eng).get_table_names())
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name in existing)
    for attempt in range(10):  # a task of the previous test may still be writing: wait for it, then empty
        try:
            with eng.begin() as conn:
                conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            break
        except sa.exc.OperationalError:
            if attempt == 9:
                raise
            time.sleep(0.5)
    return eng


@pytest.fixture
def redis_url() -> str:
    return TEST_REDIS_URL


_BROKER_PREFIXES = (b"_kombu", b"unacked", b"tds.", b"celery", CLAIM_KEY.encode())


def clean_redis(client: redis_lib.Redis) -> None:
    """Delete TDS's own keys (tokens, limits, locks) but not the broker's queues and bindings,
    which the session worker is using."""
    doomed = [k for k in client.scan_iter(count=1000) if not k.startswith(_BROKER_PREFIXES)]
    if doomed:
        client.delete(*doomed)


@pytest.fixture
def redis_client(redis_url):
    """The test Redis db with TDS's own keys cleared before and after each test."""
    client = redis_lib.Redis.from_url(redis_url)
    clean_redis(client)
    yield client
    clean_redis(client)
    client.close()


@pytest.fixture
def base_settings(redis_url) -> Settings:
    """Settings for tests that do not touch the ERP database."""
    return Settings.from_env(
        {
            "TDS_REDIS_URL": redis_url,
            "ZOHO_CLIENT_ID": "1000.TESTCLIENT",
            "ZOHO_CLIENT_SECRET": "testsecret",
            "ZOHO_REFRESH_TOKEN": "1000.refresh.test",
            "ZOHO_ORGANIZATION_ID": ORG,
            "ZOHO_API_URL": "https://www.zohoapis.com",
            "ZOHO_ACCOUNTS_URL": "https://accounts.zoho.com",
            "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
        env_file=None,
    )


@pytest.fixture
def settings(database_url, redis_client, redis_url):
    """Process-wide settings pointing at the test database and Redis (seen by the worker)."""
    s = Settings.from_env(
        {
            "TDS_DATABASE_URL": database_url,
            "TDS_REDIS_URL": redis_url,
            "ZOHO_ORGANIZATION_ID": ORG,
            "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TDS_TASK_RETRY_BACKOFF_MAX": "2",
        },
        env_file=None,
    )
    set_settings(s)
    yield s
    set_settings(None)


@pytest.fixture(scope="session")
def celery_worker_session(database_url):
    """A real Celery worker consuming every TDS queue from Redis, in this process."""
    from celery.contrib.testing.worker import start_worker

    import tasks

    broker = redis_lib.Redis.from_url(TEST_REDIS_URL)
    broker.flushdb()  # before the worker binds its queues
    broker.set(CLAIM_KEY, os.getpid(), ex=3 * 3600)
    with start_worker(
        tasks.app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        queues=tasks.all_queues(),
        shutdown_timeout=30,
    ) as worker:
        yield worker



@pytest.fixture
def worker(celery_worker_session, engine, settings):
    """The session worker, with an empty database and Redis for this test."""
    return celery_worker_session


def pytest_sessionfinish(session, exitstatus):
    """Give this run's Redis db back to other test runs."""
    if not os.environ.get("TDS_TEST_REDIS_URL"):
        try:
            redis_lib.Redis.from_url(TEST_REDIS_URL).delete(CLAIM_KEY)
        except redis_lib.RedisError:
            pass
