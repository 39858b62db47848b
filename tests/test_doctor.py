"""``tds doctor`` and per-organization credentials, against the simulator, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import WEBHOOK_SECRET
from tests.helpers import wait_for


def _env(sim, database_url, redis_url, **extra) -> dict:
    cfg = sim.simulator.config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update({
        "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url,
        "ZOHO_API_URL": sim.url, "ZOHO_ACCOUNTS_URL": sim.url,
        "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
        "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": ",".join(cfg.organizations),
        "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET, "TDS_PUBLIC_URL": "https://tds.example.com",
        "TDS_ZOHO_RATE_LIMIT": "100000",
        "ZOHO_SCOPES": "ZohoBooks.fullaccess.all,ZohoInventory.fullaccess.all",  # what the simulator grants
    })
    env.update(extra)
    return env


def _tds(env, *args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_doctor_all_green(worker, simulator_factory, engine, database_url, redis_client, redis_url, tmp_path):
    """With the setup right and a worker and one beat running, every line is ✔."""
    import subprocess
    import sys

    sim = simulator_factory(scale="tiny")
    env = _env(sim, database_url, redis_url)
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "tasks", "beat", "-s", str(tmp_path / "beat")],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: redis_client.exists("tds:redbeat::lock"), timeout=30, what="beat to hold its lock")
        proc = _tds(env, "doctor", cwd=tmp_path)
    finally:
        beat.terminate()
        beat.wait(20)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines and all(line.startswith("✔") for line in lines), lines
    text = proc.stdout
    for org in sim.simulator.config.organizations:
        assert f"organization {org}: Zoho token refreshed" in text and f"organization {org}: books /contacts" in text
    assert "schema current" in text and "noeviction" in text and "clock within" in text
    assert "consume every queue" in text and "one beat holds the schedule lock" in text
    assert sim.simulator.counters()["token_refreshes"] >= 2  # a real refresh each


def test_doctor_names_what_is_wrong(simulator_factory, engine, database_url, redis_client, redis_url, tmp_path):
    sim = simulator_factory(scale="tiny")
    env = _env(sim, database_url, redis_url, ZOHO_CLIENT_SECRET="wrongsecret", ZOHO_WEBHOOK_SECRET="",
               TDS_PUBLIC_URL="", TDS_REDIS_URL="redis://127.0.0.1:1/0")
    proc = _tds(env, "doctor", cwd=tmp_path)
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if line.startswith("✘")]
    assert any("Redis" in line and "start Redis" in line for line in failed)
    assert any("ZOHO_WEBHOOK_SECRET" in line for line in failed) and any("TDS_PUBLIC_URL" in line for line in failed)
    assert all(" — " in line for line in failed)  # each with its fix
    assert "wrongsecret" not in proc.stdout + proc.stderr

    env = _env(sim, database_url, redis_url, ZOHO_CLIENT_SECRET="wrongsecret")
    proc = _tds(env, "doctor", cwd=tmp_path)
    assert proc.returncode == 1
    assert any("Zoho token refresh" in line and "ZOHO_CLIENT_SECRET" in line
               for line in proc.stdout.splitlines() if line.startswith("✘"))


def test_each_organization_uses_its_own_client_and_data_centre(simulator_factory, engine, database_url,
                                                                redis_client, redis_url, tmp_path):
    first = simulator_factory(scale="tiny", organizations=("60001234567",))
    second = simulator_factory(scale="tiny", organizations=("60009999999",), client_id="1000.OTHER",
                               client_secret="othersecret", refresh_token="1000.otherrefresh")
    env = _env(first, database_url, redis_url, ZOHO_ORGANIZATION_ID="60001234567,60009999999",
               ZOHO_60009999999_CLIENT_ID="1000.OTHER", ZOHO_60009999999_CLIENT_SECRET="othersecret",
               ZOHO_60009999999_REFRESH_TOKEN="1000.otherrefresh",
               ZOHO_60009999999_API_URL=second.url, ZOHO_60009999999_ACCOUNTS_URL=second.url)
    proc = _tds(env, "doctor", cwd=tmp_path)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("✘")]
    assert all("worker" in line or "beat" in line for line in failed), proc.stdout  # none runs in this test
    for org in ("60001234567", "60009999999"):
        assert f"✔ organization {org}: Zoho token refreshed" in proc.stdout, proc.stdout
    proc = _tds(env, "sync", "--entities", "users", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for sim in (first, second):
        calls = sim.simulator.counters()
        assert calls.get("GET /books/v3/users", 0) >= 1, calls


def test_a_wrong_secret_is_noticed_although_a_token_is_cached(simulator_factory, engine, database_url,
                                                              redis_client, redis_url, tmp_path):
    sim = simulator_factory(scale="tiny", organizations=("60001234567",))
    good = _env(sim, database_url, redis_url)
    assert _tds(good, "sync", "-e", "users", cwd=tmp_path).returncode == 0
    assert any(b":token" in k for k in redis_client.scan_iter("tds:zoho:oauth:*"))  # a token is cached

    for wrong in ({"ZOHO_CLIENT_SECRET": "notthesecret"}, {"ZOHO_REFRESH_TOKEN": "1000.revoked"}):
        proc = _tds({**good, **wrong}, "sync", "-e", "users", cwd=tmp_path)
        assert proc.returncode == 7, proc.stdout + proc.stderr
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
        assert last.startswith("Zoho refused the credentials") and "tds doctor" in last
