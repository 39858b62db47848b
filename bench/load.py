"""The load the sections put on TDS and its baselines: signed item webhooks as Zoho sends them,
sent by ``wrk`` (saturating) or :mod:`bench.loadgen` (a fixed rate), both pinned to one core,
or stored in the inbox and queued in Redis ahead of a worker, as the receiver does.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from bench.env import ORG, PY, ROOT, SECRET, Env

PIN = ["taskset", "-c", "1"]  # the load generator's core
WAREHOUSES = [("2799904000000376323", "Main"), ("2799904000000376324", "Second")]


def item(zoho_id: str, modified: str) -> dict:
    return {
        "item_id": zoho_id, "name": f"ITEM {zoho_id[-6:]}", "sku": f"SKU{zoho_id[-8:]}", "status": "active",
        "rate": Decimal("85.00"), "purchase_rate": Decimal("60.00"), "stock_on_hand": Decimal("3.000000"),
        "tax_percentage": 0, "item_type": "inventory", "product_type": "goods", "unit": "pcs",
        "description": "Oil filter for the bench, long enough to look like a real item description." * 3,
        "created_time": "2023-02-07T11:44:42+0200", "last_modified_time": modified,
        "warehouses": [
            {"warehouse_id": wid, "warehouse_name": name, "status": "active", "is_primary": i == 0,
             "warehouse_stock_on_hand": Decimal("1.500000"), "warehouse_available_stock": Decimal("1.500000"),
             "warehouse_committed_stock": Decimal("0.000000")}
            for i, (wid, name) in enumerate(WAREHOUSES)
        ],
    }


def signed_bodies(tag: str, n: int) -> list[tuple[str, str]]:
    """``n`` distinct signed item webhooks (``(signature, body)``), as Zoho sends them."""
    from tds.db import json_dumps
    from tds.receive import signature as webhook_auth

    out = []
    for i in range(n):
        body = json_dumps({"item": item(f"9{tag}{i:08d}", "2024-02-26T15:44:57+0200")})
        out.append((webhook_auth.sign(SECRET, body.encode(), pairs=[("organization_id", ORG)]), body))
    return out


def write_bodies(env: Env, tag: str, n: int) -> Path:
    path = env.tmp / f"bodies-{tag}.tsv"
    path.write_text("".join(f"{sig}\t{body}\n" for sig, body in signed_bodies(tag, n)), encoding="utf-8")
    return path


_tag = [0]


def next_tag() -> str:
    _tag[0] += 1
    return f"{_tag[0]:03d}"


def webhook_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/zoho/webhooks/items?organization_id={ORG}"


def wrk(env: Env, port: int, bodies: Path, seconds: int, connections: int = 32) -> dict:
    out = subprocess.run([*PIN, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(ROOT / "bench" / "webhooks.lua"), webhook_url(port), "--", str(bodies)],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    result = json.loads(line[6:])
    result["rate"] = result["accepted"] / result["seconds"]
    return result


def fixed_rate(env: Env, port: int, bodies: Path, rate: int, seconds: int) -> dict:
    out = subprocess.run([*PIN, PY, "-m", "bench.loadgen", webhook_url(port), str(bodies), str(rate), str(seconds)],
                         cwd=ROOT, env=env.vars, capture_output=True, text=True, timeout=seconds + 120,
                         check=True).stdout
    data = json.loads(out)
    lat = sorted(r[1] * 1000 for r in data["results"])
    ok = [r for r in data["results"] if r[2] == 202]
    return {"sent": data["sent"], "accepted": len(ok), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "results": data["results"]}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def preload_tds(env: Env, tag: str, n: int) -> list[int]:
    """Store ``n`` item webhooks in the inbox and their messages in Redis, as the receiver does."""
    from tasks.celery_app import create_celery
    from tasks.sending import enqueue_event
    from tds import registry
    from tds.config import get_settings
    from tds.receive import payload as webhook_payload

    settings = get_settings()
    entity = registry.get("items")
    with env.engine.begin() as conn:
        events = [webhook_payload.receive(conn, entity, body.encode(), "application/json",
                                          {"organization_id": ORG}, {}, (ORG,))
                  for _sig, body in signed_bodies(tag, n)]
    with env.engine.begin() as conn:  # statistics, as autovacuum keeps them for a table that grows
        conn.execute(sa.text("ANALYZE tds_inbox_events"))
    sender = create_celery(settings, include=())
    for ev in events:
        enqueue_event(sender, ev.id, ev.entity)
    return [ev.id for ev in events]


def preload_noop(env: Env, n: int) -> None:
    from bench.apps import NOOP_COUNTER, NOOP_QUEUE, noop

    env.redis.delete(NOOP_COUNTER, NOOP_COUNTER + ":first", NOOP_COUNTER + ":last")
    for i in range(n):
        noop.send_task("bench.noop", args=[i, "items"], queue=NOOP_QUEUE)
