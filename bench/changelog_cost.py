"""Worker cost of the change log: the same upserts with and without it.

    .venv/bin/python bench/changelog_cost.py postgresql+psycopg2://postgres@127.0.0.1:5432/<scratch db>

Writes 2000 items in pages of 200 (as a full sync does) three times — created, updated
(price changed), unchanged (same version: the guard skips them) — once with the change log
and once with it switched off, and prints the seconds of each.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal

import sqlalchemy as sa

from tds import registry, schema
from tds.config import Settings
from tds.db import get_engine
from tds.mapping import MapContext
from tds.sinks import changes
from tds.sinks import sql as sql_sink


def records(n: int, version: int):
    entity = registry.get("items")
    ctx = MapContext("1", Settings.from_env({}, env_file=None))
    return [entity.map({"item_id": str(10_000 + i), "name": f"item {i}", "sku": f"S{i}", "status": "active",
                        "rate": Decimal(10 + version), "last_modified_time": f"2024-02-2{version}T10:00:00+0000"},
                       ctx) for i in range(n)]


def run(engine, label: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE products, tds_change_log RESTART IDENTITY CASCADE"))
    for step, version in (("created", 1), ("updated", 2), ("unchanged", 2)):
        batch = records(2000, version)
        started = time.perf_counter()
        for i in range(0, len(batch), 200):
            with engine.begin() as conn:
                sql_sink.write(conn, batch[i:i + 200], changes.Origin("sync"))
        print(f"{label:18} {step:10} {time.perf_counter() - started:6.3f} s")


def main(url: str) -> None:
    schema.upgrade(url)
    engine = get_engine(url)
    run(engine, "with change log")
    stored, record = changes.stored, changes.record
    changes.stored, changes.record = (lambda *a, **k: {}), (lambda *a, **k: None)
    try:
        run(engine, "without")
    finally:
        changes.stored, changes.record = stored, record


if __name__ == "__main__":
    main(sys.argv[1])
