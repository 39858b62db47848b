"""Shared fixtures: real PostgreSQL, real Redis and a real Celery worker on 127.0.0.1.

Every test process (the run, or each pytest-xdist worker under ``make test``) gets a
PostgreSQL database of its own (created here, dropped at the end), a Redis db of its own
(claimed from 15 down to 1, TDS's own keys cleared around every test) and a folder of its
own for product images. The environment is set in ``pytest_configure``, before ``tasks`` is
imported, so the Celery app and the worker use them too. The xdist controller runs no test
and claims nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid

import psycopg2
import pytest
import redis as redis_lib
import sqlalchemy as sa

from tds.config import Settings, set_settings

PG_ADMIN_DSN = os.environ.get("TDS_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_HOST_URL = os.environ.get("TDS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
TEST_DB = f"tds_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
TEST_DATABASE_URL = f"{PG_HOST_URL}/{TEST_DB}"
REDIS_BASE = "redis://127.0.0.1:6379"
CLAIM_KEY = "_tds_test_run_claim"
#: a claim is renewed while its process lives, so a killed run frees its db this long after
CLAIM_SECONDS = 300
CLAIM_WAIT = 600  # how long to wait for a free db when other runs hold all fifteen

_claims: dict[str, str] = {}  # url -> token, the dbs this process holds
_claims_lock = threading.Lock()
_renewer: threading.Thread | None = None

# renew our claim; put it back if a flush took it; 0 when another process holds the db
_RENEW = """
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
if not held then redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _renew_claims() -> None:
    while True:
        time.sleep(CLAIM_SECONDS / 10)
        with _claims_lock:
            held = dict(_claims)
        for url, token in held.items():
            client = redis_lib.Redis.from_url(url)
            try:
                if not client.eval(_RENEW, 1, CLAIM_KEY, token, CLAIM_SECONDS):
                    print(f"\nanother test process took {url} from this one", file=sys.stderr)
            except redis_lib.RedisError:
                pass
            finally:
                client.close()


def claim_redis_db(base: str = REDIS_BASE) -> str:
    """A Redis db that no other test process on this machine is using: each xdist worker and
    each other test run takes its own, so no Celery worker consumes another's queues. Waits
    while all fifteen are held; never shares one. Give it back with :func:`release_redis_db`."""
    global _renewer
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    deadline, said = time.monotonic() + CLAIM_WAIT, False
    while True:
        for number in range(15, 0, -1):
            url = f"{base}/{number}"
            client = redis_lib.Redis.from_url(url)
            try:
                won = client.set(CLAIM_KEY, token, nx=True, ex=CLAIM_SECONDS)
            except redis_lib.RedisError:
                return url  # Redis is down: the tests that need it say so
            finally:
                client.close()
            if won:
                with _claims_lock:
                    _claims[url] = token
                    if _renewer is None:
                        _renewer = threading.Thread(target=_renew_claims, name="redis-db-claims", daemon=True)
                        _renewer.start()
                return url
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis dbs 1-15 on {base} are all claimed by other test runs ({CLAIM_KEY})")
        if not said:
            print(f"\nRedis dbs 1-15 on {base} are all claimed by other test runs: waiting", file=sys.stderr)
            said = True
        time.sleep(2)


def release_redis_db(url: str) -> None:
    """Give a db taken by :func:`claim_redis_db` back (only if this process still holds it)."""
    with _claims_lock:
        token = _claims.pop(url, None)
    if token is None:
        return
    client = redis_lib.Redis.from_url(url)
    try:
        client.eval(_RELEASE, 1, CLAIM_KEY, token)
    except redis_lib.RedisError:
        pass
    finally:
        client.close()


def empty_redis_db(client: redis_lib.Redis) -> None:
    """Every key but the claim: what ``FLUSHDB`` would do, without freeing the db for a moment."""
    doomed = [k for k in client.scan_iter(count=1000) if k != CLAIM_KEY.encode()]
    for start in range(0, len(doomed), 1000):
        client.delete(*doomed[start:start + 1000])


#: set by pytest_configure in every process that runs tests
TEST_REDIS_URL = ""
IMAGE_DIR = ""
WEBHOOK_SECRET = "TestWebhookSecret123"
ORG = "60001234567"


def _xdist_controller(config) -> bool:
    """The pytest-xdist process that hands tests to its workers and runs none itself."""
    return (getattr(config.option, "dist", "no") != "no" and not config.getoption("collectonly")
            and not hasattr(config, "workerinput"))


def pytest_configure(config):
    global TEST_REDIS_URL, IMAGE_DIR
    given = os.environ.get("TDS_TEST_REDIS_URL")
    if _xdist_controller(config):
        if given and (config.option.numprocesses or 0) > 1:
            raise pytest.UsageError("TDS_TEST_REDIS_URL names one Redis db for every xdist worker: use -n 0 or unset it")
        return
    TEST_REDIS_URL = given or claim_redis_db()
    IMAGE_DIR = tempfile.mkdtemp(prefix="tds-test-images-")
    os.environ.update(
        {
            "TDS_DATABASE_URL": TEST_DATABASE_URL,
            "TDS_REDIS_URL": TEST_REDIS_URL,
            "TDS_IMAGE_DIR": IMAGE_DIR,
            "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ZOHO_ORGANIZATION_ID": ORG,
            "TDS_LOG_LEVEL": "INFO",
            # the in-process worker must not sweep on its own: tests decide when a sweep runs
            "TDS_WORKER_SWEEP_AFTER": "0",
        }
    )


@pytest.hookimpl(trylast=True)  # after the session fixtures (the worker on that db) are torn down
def pytest_sessionfinish(session, exitstatus):
    """Give this process's Redis db back to other test runs, and drop its images."""
    if TEST_REDIS_URL:
        release_redis_db(TEST_REDIS_URL)
    if IMAGE_DIR:
        shutil.rmtree(IMAGE_DIR, ignore_errors=True)


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


@pytest.fixture(scope="session")
def redis_url() -> str:
    """This process's Redis db (see :func:`claim_redis_db`)."""
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
            "TDS_IMAGE_DIR": IMAGE_DIR,
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
            "TDS_COALESCE_SECONDS": "0",
            "TDS_IMAGE_DIR": IMAGE_DIR,
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

    assert tasks.app.conf.broker_url == TEST_REDIS_URL, "tasks was imported before pytest_configure"
    broker = redis_lib.Redis.from_url(TEST_REDIS_URL)
    if TEST_REDIS_URL in _claims:  # a worker on a db another process holds would take its tasks
        assert broker.get(CLAIM_KEY) == _claims[TEST_REDIS_URL].encode(), f"{TEST_REDIS_URL} is not ours"
    empty_redis_db(broker)  # before the worker binds its queues
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
