"""A first ``tds sync --full`` costs its bound and no more, endpoint by endpoint: each list
page once (the plan counts a first sync by paging the list, and the sync takes those pages
instead of reading them again) and each needed detail once."""

from __future__ import annotations

import math
import subprocess
import sys

from tds import registry
from tds.config import Settings
from tests.test_runs import _env

PREFIXES = {"books": "/books/v3", "inventory": "/inventory/v1"}


def bound(sim, org, settings) -> dict[str, int]:
    """Calls per endpoint a first full sync of the enabled entities needs."""
    want: dict[str, int] = {}
    for entity in registry.enabled(settings):
        if entity.api == "crm":
            continue
        res = entity.simulated[0] if entity.simulated[0] not in ("customers", "vendors") else "contacts"
        records = sim.store.records(org, res)
        if entity.route_field:
            records = [r for r in records if r.get(entity.route_field) == entity.route_value]
        n = len(records)
        pages = [min(200, n - start) for start in range(0, n, 200)] or [0]
        prefix = PREFIXES[entity.api]
        key = f"GET {prefix}{entity.list_path}"
        want[key] = want.get(key, 0) + len(pages)
        if entity.list_omits and entity.detail_path and n:
            if entity.bulk_detail:
                path, _, size = entity.bulk_detail
                want[f"GET {prefix}{path}"] = sum(math.ceil(p / size) for p in pages)
            else:
                key = f"GET {prefix}{entity.detail_path}"
                want[key] = want.get(key, 0) + n
    return want


def test_a_first_full_sync_reads_each_list_page_once_and_each_needed_detail_once(
        engine, database_url, redis_url, redis_client, simulator_factory, tmp_path):
    sim = simulator_factory(scale="small")  # invoices span pages
    org = sim.simulator.config.organizations[0]
    env = _env(sim, database_url, redis_url, org)
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(("TDS_", "ZOHO_"))}, env_file=None)
    sim.simulator.stats.reset()
    done = subprocess.run([sys.executable, "-m", "tds.cli", "sync", "--full"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    calls = {k: v for k, v in sim.simulator.stats.snapshot().items()
             if k.startswith("GET ") and v}
    want = bound(sim.simulator, org, settings)
    assert want["GET /books/v3/invoices"] > 1  # more than one page: the bound is about pages
    assert calls == want
