"""What the bench claims on the shared servers, and the machine it runs on.

:class:`Env` takes a Redis db (with the claim the test suite takes, so a bench never shares a
test run's db) and a database of its own, migrated, and drops both when done. The constants
here are the ones every section and every process the bench starts agree on.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg2
import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN_DSN = os.environ.get("TDS_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_HOST_URL = os.environ.get("TDS_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
CLAIM_KEY = "_tds_test_run_claim"  # the same claim the test suite takes: a bench never shares a test run's db
SECRET = "BenchWebhookSecret123"
ORG = "60001234567"


def claim_redis(base: str = "redis://127.0.0.1:6379") -> str:
    for number in range(14, 0, -1):
        if redis_lib.Redis.from_url(f"{base}/{number}").set(CLAIM_KEY, f"bench {os.getpid()}", nx=True, ex=3600):
            return f"{base}/{number}"
    raise SystemExit("no free Redis db for the bench")


def admin(sql: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


class Env:
    def __init__(self):
        self.db = f"tds_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.database_url = f"{PG_HOST_URL}/{self.db}"
        self.pg_dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={self.db}"
        self.redis_url = claim_redis()
        self.tmp = Path(tempfile.mkdtemp(prefix="tds-bench-"))
        self.vars = {
            **os.environ,
            "TDS_DATABASE_URL": self.database_url,
            "TDS_REDIS_URL": self.redis_url,
            "ZOHO_WEBHOOK_SECRET": SECRET,
            "ZOHO_ORGANIZATION_ID": ORG,
            "TDS_LOG_LEVEL": "WARNING",
            "BENCH_PG_DSN": self.pg_dsn,
            "TDS_IMAGE_DIR": str(self.tmp / "images"),
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update({k: self.vars[k] for k in ("TDS_DATABASE_URL", "TDS_REDIS_URL", "ZOHO_WEBHOOK_SECRET",
                                                     "ZOHO_ORGANIZATION_ID", "TDS_IMAGE_DIR")})

    def __enter__(self):
        from tds import schema

        admin(f'CREATE DATABASE "{self.db}"')
        schema.upgrade(self.database_url)
        with psycopg2.connect(self.pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, body text NOT NULL, "
                        "received_at timestamptz NOT NULL DEFAULT now())")
        self.redis = redis_lib.Redis.from_url(self.redis_url)
        self.redis.flushdb()
        self.redis.set(CLAIM_KEY, f"bench {os.getpid()}", ex=3600)
        return self

    def __exit__(self, *exc):
        from tds import db

        db.dispose_engines()
        admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        self.redis.flushdb()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def engine(self):
        from tds.db import get_engine

        return get_engine(self.database_url)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    mem = next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return (f"{os.cpu_count()} cores ({model}), {int(mem) // 1024} MiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")
