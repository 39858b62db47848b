"""Settings: defaults, overrides, and one clear line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tds.config import ConfigError, Settings


def test_defaults_are_the_embedded_ones():
    s = Settings.from_env({}, env_file=None)
    assert s.database_url == ""  # no silent SQLite file: commands that open a database say what to set
    with pytest.raises(ConfigError, match="TDS_DATABASE_URL is not set"):
        s.require_database()
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.zoho_api_url == "https://www.zohoapis.com"
    assert s.zoho_accounts_url == "https://accounts.zoho.com"
    assert s.zoho_organization_ids == ()


def test_data_centre_and_overrides():
    eu = Settings.from_env({"ZOHO_DC": "eu"}, env_file=None)
    assert (eu.zoho_api_url, eu.zoho_accounts_url) == ("https://www.zohoapis.eu", "https://accounts.zoho.eu")
    ca = Settings.from_env({"ZOHO_DC": "ca"}, env_file=None)
    assert ca.zoho_accounts_url == "https://accounts.zohocloud.ca"
    uk = Settings.from_env({"ZOHO_DC": "uk"}, env_file=None)
    assert (uk.zoho_api_url, uk.zoho_accounts_url) == ("https://www.zohoapis.uk", "https://accounts.zoho.uk")
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
    assert "postgresql+psycopg2://tds:***@db:5432/erp" in text and "redis://:***@cache:6379/0" in text


def test_cli_reports_a_bad_setting_in_one_line(tmp_path):
    env = {**os.environ, "ZOHO_DC": "mars"}
    proc = subprocess.run([sys.executable, "-m", "tds.cli", "db", "current"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["configuration error: ZOHO_DC must be one of com, eu, in, com.au, jp, ca, sa, uk, com.cn; got 'mars'"]


@pytest.mark.parametrize("raw", ["postgres://tds:pw@db:5432/erp", "postgresql://tds:pw@db:5432/erp",
                                 "postgresql+psycopg2://tds:pw@db:5432/erp", "POSTGRESQL://tds:pw@db:5432/erp"])
def test_every_common_postgresql_url_uses_the_installed_driver(raw):
    s = Settings.from_env({"TDS_DATABASE_URL": raw}, env_file=None)
    assert s.database_url == "postgresql+psycopg2://tds:pw@db:5432/erp"
    import sqlalchemy as sa

    assert sa.create_engine(s.database_url).dialect.driver == "psycopg2"  # no "No module named 'psycopg'"


@pytest.mark.parametrize("env", [{"TDS_DATABASE_URL": "mysql://tds:topsecretpw@db/erp"},
                                 {"TDS_DATABASE_URL": "tds:topsecretpw@db/erp"},
                                 {"TDS_DATABASE_URL": "bad:/tds:topsecretpw@db"},
                                 {"TDS_REDIS_URL": "http://:topsecretpw@cache:6379/0"},
                                 {"TDS_REDIS_URL": "cache:topsecretpw@6379"}])
def test_a_malformed_url_is_refused_without_its_password(env):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, env_file=None)
    assert "topsecretpw" not in str(err.value) and "***" in str(err.value)


def test_log_level_in_any_case():
    assert Settings.from_env({"TDS_LOG_LEVEL": "debug"}, env_file=None).log_level == "DEBUG"
    assert Settings.from_env({"TDS_LOG_LEVEL": " Warning "}, env_file=None).log_level == "WARNING"


def test_each_organization_can_have_its_own_client_and_data_centre():
    s = Settings.from_env({"ZOHO_ORGANIZATION_ID": "111,222", "ZOHO_CLIENT_ID": "1000.A", "ZOHO_CLIENT_SECRET": "sa",
                           "ZOHO_REFRESH_TOKEN": "ra", "ZOHO_222_CLIENT_ID": "1000.B", "ZOHO_222_CLIENT_SECRET": "sb",
                           "ZOHO_222_REFRESH_TOKEN": "rb", "ZOHO_222_DC": "eu"}, env_file=None)
    first, second = s.org("111"), s.org("222")
    assert (first.client_id, first.refresh_token, first.api_url) == ("1000.A", "ra", "https://www.zohoapis.com")
    assert (second.client_id, second.client_secret, second.refresh_token) == ("1000.B", "sb", "rb")
    assert (second.api_url, second.accounts_url) == ("https://www.zohoapis.eu", "https://accounts.zoho.eu")
    assert "sb" not in repr(s) and "rb" not in repr(s) and "sb" not in repr(second)
    s.require_zoho_credentials()
    with pytest.raises(ConfigError, match="ZOHO_222_DC"):
        Settings.from_env({"ZOHO_ORGANIZATION_ID": "222", "ZOHO_222_DC": "mars"}, env_file=None)
    lacking = Settings.from_env({"ZOHO_ORGANIZATION_ID": "111,222", "ZOHO_CLIENT_ID": "1000.A",
                                 "ZOHO_CLIENT_SECRET": "sa", "ZOHO_111_REFRESH_TOKEN": "r1"}, env_file=None)
    with pytest.raises(ConfigError, match="ZOHO_222_REFRESH_TOKEN"):
        lacking.require_zoho_credentials()
