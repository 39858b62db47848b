"""Settings: defaults, overrides, and one clear line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tds.config import ConfigError, Settings


def test_defaults_are_the_embedded_ones():
    s = Settings.from_env({}, env_file=None)
    assert s.database_url == "sqlite:///tds.db"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.zoho_api_url == "https://www.zohoapis.com"
    assert s.zoho_accounts_url == "https://accounts.zoho.com"
    assert s.zoho_organization_ids == ()


def test_data_centre_and_overrides():
    eu = Settings.from_env({"ZOHO_DC": "eu"}, env_file=None)
    assert (eu.zoho_api_url, eu.zoho_accounts_url) == ("https://www.zohoapis.eu", "https://accounts.zoho.eu")
    ca = Settings.from_env({"ZOHO_DC": "ca"}, env_file=None)
    assert ca.zoho_accounts_url == "https://accounts.zohocloud.ca"
    sim = Settings.from_env({"ZOHO_API_URL": "http://127.0.0.1:8001/", "ZOHO_ORGANIZATION_ID": "1, 2"},
                            env_file=None)
    assert sim.zoho_api_url == "http://127.0.0.1:8001"
    assert sim.zoho_organization_ids == ("1", "2")


@pytest.mark.parametrize(
    "env,names",
    [
        ({"ZOHO_DC": "mars"}, "ZOHO_DC"),
        ({"TDS_ZOHO_RATE_LIMIT": "lots"}, "TDS_ZOHO_RATE_LIMIT"),
        ({"ZOHO_ORGANIZATION_ID": "abc"}, "ZOHO_ORGANIZATION_ID"),
        ({"TDS_DATABASE_URL": "just-a-name"}, "TDS_DATABASE_URL"),
        ({"TDS_REDIS_URL": "http://x"}, "TDS_REDIS_URL"),
        ({"ZOHO_WEBHOOK_SECRET": "short"}, "ZOHO_WEBHOOK_SECRET"),
        ({"TDS_WEBHOOK_ALLOW_UNSIGNED": "maybe"}, "TDS_WEBHOOK_ALLOW_UNSIGNED"),
        ({"TDS_TASK_RETRY_BACKOFF_MAX": "4000"}, "TDS_TASK_RETRY_BACKOFF_MAX"),
    ],
)
def test_bad_value_names_the_variable(env, names):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, env_file=None)
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_env_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("ZOHO_DC=eu\nTDS_ZOHO_RATE_LIMIT=50\n")
    monkeypatch.setenv("TDS_ZOHO_RATE_LIMIT", "70")
    s = Settings.from_env(env_file=str(env_file))
    assert s.zoho_dc == "eu" and s.zoho_rate_limit == 70


def test_secrets_are_not_in_repr():
    s = Settings.from_env({"ZOHO_CLIENT_SECRET": "verysecretvalue", "ZOHO_REFRESH_TOKEN": "1000.refreshtokenvalue",
                           "ZOHO_WEBHOOK_SECRET": "WebhookSecret123",
                           "TDS_DATABASE_URL": "postgresql://tds:dbpassword@db:5432/erp",
                           "TDS_REDIS_URL": "redis://:redispassword@cache:6379/0"}, env_file=None)
    text = repr(s)
    for secret in ("verysecretvalue", "refreshtokenvalue", "WebhookSecret123", "dbpassword", "redispassword"):
        assert secret not in text
    assert "postgresql://tds:***@db:5432/erp" in text and "redis://:***@cache:6379/0" in text


def test_cli_reports_a_bad_setting_in_one_line(tmp_path):
    env = {**os.environ, "ZOHO_DC": "mars"}
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "db", "current"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["configuration error: ZOHO_DC must be one of com, eu, in, com.au, jp, ca, sa, com.cn; got 'mars'"]
