"""Fixtures of the chaos suite: a private Redis, the simulator, workers and beats as
subprocesses (see :mod:`tests.chaos.harness`)."""

from __future__ import annotations

import pytest

from tds.config import Settings
from tests.chaos import harness
from tests.simulated import env_for

# fast healing, so the reduced sizes converge in seconds; docs/reliability.md gives the defaults
FAST_HEALING = {
    "TDS_PROCESSING_LEASE": "5",
    "TDS_SCHEDULE_SWEEP": "2",
    "TDS_WORKER_SWEEP_AFTER": "6",
    "TDS_INBOX_SWEEP_AFTER": "10",
    "TDS_BEAT_LOCK_TIMEOUT": "6",
    "TDS_BEAT_LOOP_INTERVAL": "1",
    "TDS_TASK_RETRY_BACKOFF_MAX": "2",
    "TDS_COALESCE_SECONDS": "0",
    "TDS_ZOHO_RATE_LIMIT": "100000",
    "TDS_LOG_LEVEL": "INFO",
}


@pytest.fixture
def private_redis():
    server = harness.PrivateRedis()
    yield server
    server.close()


def chaos_env(sim, database_url: str, redis_url: str, **extra) -> dict:
    return env_for(sim, database_url, redis_url, sim.simulator.config.organizations[0], **{**FAST_HEALING, **extra})


def settings_of(env: dict) -> Settings:
    return Settings.from_env(env, env_file=None)


@pytest.fixture
def log_dir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def processes():
    started: list[harness.Process] = []
    yield started
    for proc in started:
        proc.kill9()
