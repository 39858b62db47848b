"""The sync sections of ``make bench``: TDS's full sync against dlt's ``rest_api`` source, and
the peak memory of a large full sync.

The simulator runs in the bench process (no rate limit, no faults, no webhooks); each side
runs in a process of its own (:mod:`bench.syncside`) against a fresh database on the same
PostgreSQL server, and the simulator counts every call each side makes, per endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

from bench.env import ORG, PG_HOST_URL, PY, ROOT, Env, admin, load_average
from bench.processes import rss_kib

ENTITIES = "items,customers,vendors"
#: endpoints a side may call; the warehouses TDS reads before the clock starts are not counted
COUNTED = ("GET /inventory/v1/items", "GET /inventory/v1/itemdetails", "GET /books/v3/contacts",
           "GET /books/v3/contacts/<id>")


def start_simulator(counts: dict):
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.server import SimulatorServer

    config = SimulatorConfig(organizations=(ORG,), counts=counts, rate_limit_per_minute=0, daily_limit=0,
                             concurrency_limit=0, error_rate=0.0, slow_rate=0.0, drop_rate=0.0,
                             webhooks_enabled=False, token_refresh_limit=0)
    return SimulatorServer(config).start()


def calls(sim) -> dict:
    """The simulator's call counts of the endpoints both sides use (detail paths folded into one key)."""
    out: dict[str, int] = {}
    for key, n in sim.simulator.counters().items():
        if not key.startswith("GET "):
            continue
        method, path = key.split(" ", 1)
        parts = path.split("/")
        if len(parts) == 5 and parts[3] == "contacts":
            path = "/".join(parts[:4]) + "/<id>"
        folded = f"{method} {path}"
        if folded in COUNTED:
            out[folded] = out.get(folded, 0) + n
    out["total"] = sum(out.values())
    return out


class SyncSide:
    """A fresh TDS database (migrated) and a fresh dlt database, on the bench's server."""

    def __init__(self, env: Env, sim):
        tag = uuid.uuid4().hex[:6]
        self.env = env
        self.sim = sim
        self.tds_db = f"{env.db}_s{tag}"
        self.dlt_db = f"{env.db}_d{tag}"
        self.dlt_dir = env.tmp / f"dlt-{tag}"

    def __enter__(self):
        from tds import schema

        admin(f'CREATE DATABASE "{self.tds_db}"')
        admin(f'CREATE DATABASE "{self.dlt_db}"')
        schema.upgrade(f"{PG_HOST_URL}/{self.tds_db}")
        self._warehouses()
        return self

    def __exit__(self, *exc):
        for name in (self.tds_db, self.dlt_db):
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def vars(self) -> dict:
        cfg = self.sim.simulator.config
        return {**self.env.vars, "TDS_DATABASE_URL": f"{PG_HOST_URL}/{self.tds_db}", "ZOHO_API_URL": self.sim.url,
                "ZOHO_ACCOUNTS_URL": self.sim.url, "ZOHO_CLIENT_ID": cfg.client_id,
                "ZOHO_CLIENT_SECRET": cfg.client_secret, "ZOHO_REFRESH_TOKEN": cfg.refresh_token,
                "ZOHO_ORGANIZATION_ID": ORG, "TDS_ZOHO_RATE_LIMIT": "1000000",
                "BENCH_ZOHO_TOKEN": self.sim.simulator.new_access_token(),
                "BENCH_DLT_DSN": f"postgresql://postgres:trust@127.0.0.1:5432/{self.dlt_db}",
                "BENCH_DLT_DIR": str(self.dlt_dir), "TDS_LOG_LEVEL": "WARNING", "RUNTIME__LOG_LEVEL": "WARNING"}

    def _warehouses(self) -> None:
        """The two warehouses items refer to, as a deployment has them before its first item sync."""
        subprocess.run([PY, "-m", "tds.cli", "sync", "--full", "--entities", "warehouses"], cwd=ROOT,
                       env=self.vars(), check=True, capture_output=True, timeout=120)

    def run(self, side: str, entities: str = ENTITIES, timeout: float = 1800) -> dict:
        self.sim.simulator.reset_counters()
        log = self.env.tmp / f"syncside-{side}.log"
        with open(log, "w+") as stderr:
            proc = subprocess.Popen([PY, "-m", "bench.syncside", side, entities], cwd=ROOT, env=self.vars(),
                                    stdout=subprocess.PIPE, stderr=stderr, text=True)
            samples = []  # (seconds, RSS MiB) of the side's process, every half second
            started = time.monotonic()
            while proc.poll() is None:
                if time.monotonic() - started > timeout:
                    proc.kill()
                rss = rss_kib(proc.pid)
                if rss:
                    samples.append((round(time.monotonic() - started, 1), rss / 1024))
                time.sleep(float(os.environ.get("BENCH_RSS_EVERY", "0.5")))
            stdout = proc.stdout.read()
            if proc.returncode:
                stderr.seek(0)
                raise RuntimeError(f"bench.syncside {side} failed:\n{stderr.read()[-4000:]}")
        line = next(x for x in stdout.splitlines() if x.startswith("BENCH "))
        result = json.loads(line[6:])
        result["rss_samples"] = samples
        result["calls"] = calls(self.sim)
        result["rate"] = result["records"] / result["seconds"] if result["seconds"] else float("nan")
        result["stored"] = self.stored(side, entities.split(","))
        return result

    def stored(self, side: str, entities: list[str]) -> int:
        """Rows the side holds for ``entities`` (TDS: products, customers, vendors; dlt: its tables)."""
        import psycopg2

        tables = {"items": "products"} if side == "tds" else {}
        db = self.tds_db if side == "tds" else self.dlt_db
        schema = "public" if side == "tds" else "zoho"
        total = 0
        with psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={db}") as conn, conn.cursor() as cur:
            for name in entities:
                cur.execute(f'SELECT count(*) FROM {schema}."{tables.get(name, name)}"')
                total += cur.fetchone()[0]
        conn.close()
        return total


def bench_sync(env: Env, runs: int, counts: dict) -> dict:
    """First full sync and a re-sync with nothing changed, TDS and dlt alternating run by run."""
    sim = start_simulator(counts)
    results = {"tds": [], "tds_again": [], "dlt": [], "dlt_again": []}
    try:
        for run in range(runs):
            with SyncSide(env, sim) as side:
                order = ("tds", "dlt") if run % 2 == 0 else ("dlt", "tds")
                for name in order:
                    results[name].append(side.run(name))
                for name in order:
                    results[f"{name}_again"].append(side.run(name))
            print(f"sync run {run + 1}: " + ", ".join(
                f"{k} {v[-1]['records']} records in {v[-1]['seconds']:.2f}s ({v[-1]['rate']:.0f}/s, "
                f"{v[-1]['calls']['total']} calls)" for k, v in results.items()), flush=True)
    finally:
        sim.stop()
    return {"results": results, "counts": counts, "load": load_average()}


def bench_syncmem(env: Env, records: int) -> dict:
    """Peak RSS of the process running a full sync of ``records`` items."""
    sim = start_simulator({"items": records, "customers": 3, "vendors": 2})
    try:
        with SyncSide(env, sim) as side:
            started = time.monotonic()
            result = side.run("tds", "items", timeout=3600)
            result["wall"] = time.monotonic() - started
    finally:
        sim.stop()
    print(f"syncmem: {result['records']} items in {result['seconds']:.1f}s, peak RSS "
          f"{result['peak_rss_kib'] / 1024:.0f} MiB", flush=True)
    return {"result": result, "records": records, "load": load_average()}
