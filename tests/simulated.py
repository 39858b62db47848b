"""Fixtures that run the Zoho simulator and point TDS at it."""

from __future__ import annotations

import pytest

from tds import registry, services
from tds.config import Settings, set_settings
from tds.simulator.config import SimulatorConfig
from tds.simulator.server import SimulatorServer
from tests import conftest
from tests.conftest import WEBHOOK_SECRET


def env_for(sim: SimulatorServer, database_url: str, redis_url: str, org: str, **extra) -> dict:
    """The environment of a TDS process pointed at ``sim``."""
    cfg = sim.simulator.config
    return {
        "TDS_DATABASE_URL": database_url,
        "TDS_REDIS_URL": redis_url,
        "ZOHO_API_URL": sim.url,
        "ZOHO_ACCOUNTS_URL": sim.url,
        "ZOHO_CLIENT_ID": cfg.client_id,
        "ZOHO_CLIENT_SECRET": cfg.client_secret,
        "ZOHO_REFRESH_TOKEN": cfg.refresh_token,
        "ZOHO_ORGANIZATION_ID": org,
        "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TDS_TASK_RETRY_BACKOFF_MAX": "2",
        "TDS_COALESCE_SECONDS": "0",
        # the simulator enforces Zoho's limits itself when a test turns them on
        "TDS_ZOHO_RATE_LIMIT": "100000",
        "TDS_IMAGE_DIR": conftest.IMAGE_DIR,  # this test process's own, not ./images
        **extra,
    }


def settings_for(sim: SimulatorServer, database_url: str, redis_url: str, org: str, **extra) -> Settings:
    return Settings.from_env(env_for(sim, database_url, redis_url, org, **extra), env_file=None)


def use(settings: Settings) -> Settings:
    """Make ``settings`` the process-wide settings (the in-process worker reads them)."""
    services.reset()
    set_settings(settings)
    return settings


@pytest.fixture
def simulator_factory():
    started = []

    def start(**config) -> SimulatorServer:
        sim = SimulatorServer(SimulatorConfig(**{"full_counts": registry.simulator_counts(), **config}))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
    services.reset()
    set_settings(None)
