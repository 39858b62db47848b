"""Count the Zoho API calls of a first full sync, per entity, against the simulator.

    .venv/bin/python scripts/first_sync_cost.py [--scale full]

Uses a throw-away SQLite file and a private redis-server, as the demo does (nothing of your
setup is touched): the figures in docs/zoho-setup.md come from this script at the default
scale.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from tds import registry, schema, services
from tds.cli.demo_isolation import redis_for_demo
from tds.config import Settings, set_settings
from tds.simulator.config import SimulatorConfig
from tds.simulator.server import SimulatorServer
from tds.sync import synchronizer as sync
from tds.zoho import shared as zoho_shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="full")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="tds-cost-")
    database = os.path.join(workdir, "cost.db")
    private = redis_for_demo(None, workdir)
    with SimulatorServer(SimulatorConfig(scale=args.scale, full_counts=registry.simulator_counts())) as sim:
        cfg = sim.simulator.config
        org = cfg.organizations[0]
        settings = Settings.from_env({
            "TDS_DATABASE_URL": f"sqlite:///{database}", "TDS_REDIS_URL": private.url, "ZOHO_API_URL": sim.url,
            "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
            "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "TDS_ZOHO_RATE_LIMIT": "100000",
            "TDS_LOG_LEVEL": "WARNING"}, env_file=None)
        set_settings(settings)
        schema.upgrade(settings.database_url)
        client = zoho_shared.zoho_client(settings)
        total = 0
        for entity in registry.ENTITIES:
            before = sim.simulator.counters()["api_calls_total"]
            result = sync.full_sync(settings, entity, org, client, redis=services.redis_client(settings))
            calls = sim.simulator.counters()["api_calls_total"] - before
            total += calls
            print(f"{entity.name:<18} {result.records_seen:>7} records {calls:>7} calls")
        print(f"{'total':<18} {'':>7}         {total:>7} calls; {total / 100:.0f} minutes at 100 calls/minute")
        for plan, quota in (("Free", 1000), ("Standard", 2000), ("Professional", 5000), ("Premium+", 10000)):
            print(f"  {plan:<13} {total / quota:5.1f} days of quota")
    private.stop()


if __name__ == "__main__":
    main()
