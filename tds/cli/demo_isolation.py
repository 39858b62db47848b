"""The demo's own database and Redis, so that it never touches your setup.

The demo ignores ``TDS_DATABASE_URL``, ``TDS_REDIS_URL`` and every other
``TDS_*``/``ZOHO_*`` setting (and ``.env``):

* database: ``--database URL``, else the SQLite file ``tds-demo.db`` in the current folder.
  The demo marks its database (table ``tds_demo``) and refuses, with exit code 8, a
  database that holds rows but no mark: that is somebody's data.
* Redis: ``--redis URL``, else a private ``redis-server`` on a free port, started and
  stopped by the demo. Without a ``redis-server`` binary it falls back to db
  ``DEMO_REDIS_DB`` of the local Redis, says so, and refuses it when it holds keys the
  demo did not write.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import redis as redis_lib
import sqlalchemy as sa

from tds.config import mask_url, normalise_database_url
from tds.db import get_engine, utcnow
from tds.exit_codes import ExitCode, Failure

DEMO_DATABASE_FILE = "tds-demo.db"
DEMO_MARK_TABLE = "tds_demo"
DEMO_REDIS_DB = 13
DEMO_REDIS_MARK = "tds:demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis_lib.RedisError:
        return False


@dataclass
class DemoRedis:
    url: str
    process: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)


def _shared_redis_db() -> DemoRedis:
    """The fallback without a redis-server binary: one db of the local Redis, kept for the demo."""
    url = f"redis://127.0.0.1:6379/{DEMO_REDIS_DB}"
    print(f"redis-server is not installed, so the demo uses db {DEMO_REDIS_DB} of the Redis on 127.0.0.1:6379 "
          "(install redis-server to give the demo a private one)", flush=True)
    if not _redis_answers(url):
        raise Failure("no redis-server binary and no Redis on 127.0.0.1:6379",
                      "install redis-server (apt-get install redis-server) or pass --redis URL", ExitCode.REDIS)
    client = redis_lib.Redis.from_url(url)
    if client.dbsize() and not client.exists(DEMO_REDIS_MARK):
        raise Failure(f"Redis db {DEMO_REDIS_DB} on 127.0.0.1:6379 holds keys the demo did not write",
                      "pass --redis URL of a Redis db the demo may use", ExitCode.REFUSED)
    client.set(DEMO_REDIS_MARK, "1")
    return DemoRedis(url)


def claim_database(url: str) -> None:
    """Mark ``url`` as the demo's database, or refuse it when it holds somebody's data."""
    shown = mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    engine = get_engine(url)
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        tables = inspector.get_table_names()
        if DEMO_MARK_TABLE not in tables:
            holding = [t for t in tables if t != "alembic_version"
                       and conn.execute(sa.text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None]
            if holding:
                raise Failure(f"database {shown} holds data that is not the demo's (table {holding[0]})",
                              "run the demo without --database, or give it an empty database", ExitCode.REFUSED)
            conn.execute(sa.text(f"CREATE TABLE {DEMO_MARK_TABLE} (marked_at VARCHAR(40) NOT NULL)"))
            conn.execute(sa.text(f"INSERT INTO {DEMO_MARK_TABLE} (marked_at) VALUES (:at)"),
                         {"at": utcnow().isoformat()})


def demo_database_url(url: str | None) -> str:
    """``--database``, else the SQLite file ``tds-demo.db`` here; never ``TDS_DATABASE_URL``."""
    if url:
        return normalise_database_url(url, "--database")
    return f"sqlite:///{os.path.abspath(DEMO_DATABASE_FILE)}"


def redis_for_demo(url: str | None, workdir: str) -> DemoRedis:
    """``--redis`` when it answers, else a private redis-server (its files in ``workdir``), else the shared db."""
    if url:
        if not _redis_answers(url):
            raise Failure(f"Redis at {mask_url(url)} (--redis) is unreachable", "start it or pass another --redis URL",
                          ExitCode.REDIS)
        return DemoRedis(url)
    binary = shutil.which("redis-server")
    if not binary:
        return _shared_redis_db()
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    private = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(private):
        if time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit("a private redis-server was started but does not answer")
        time.sleep(0.1)
    return DemoRedis(private, proc)
