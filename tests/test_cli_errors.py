"""The ``tds`` command as a user meets it: one-line failures with documented exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PG_HOST_URL

CREDENTIALS = {"ZOHO_CLIENT_ID": "1000.X", "ZOHO_CLIENT_SECRET": "clientsecretvalue",
               "ZOHO_REFRESH_TOKEN": "1000.refreshvalue", "ZOHO_ORGANIZATION_ID": "60001234567"}


def tds(*args, cwd, **env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update(env_vars)
    return subprocess.run([sys.executable, "-m", "tds.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line_failure(proc, code: int, *words: str):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines(proc.stderr) if not line.startswith("database: ")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_missing_database_url_says_what_to_set_and_creates_nothing(tmp_path):
    (tmp_path / ".env").write_text("ZOHO_DC=com\n")  # cp .env.example .env, TDS_DATABASE_URL left out
    proc = tds("db", "upgrade", cwd=tmp_path)
    assert_one_line_failure(proc, 2, "TDS_DATABASE_URL is not set", "postgresql://")
    assert list(tmp_path.iterdir()) == [tmp_path / ".env"]


def test_database_down_or_missing(tmp_path, database_url):
    down = tds("db", "current", cwd=tmp_path, TDS_DATABASE_URL="postgresql://tds:dbpass1234@127.0.0.1:1/erp")
    line = assert_one_line_failure(down, 5, "unreachable", "start PostgreSQL")
    assert lines(down.stderr)[0] == "database: postgresql+psycopg2://tds:***@127.0.0.1:1/erp"
    assert "dbpass1234" not in down.stdout + down.stderr and "***" in line

    missing = tds("sync", "-e", "items", cwd=tmp_path, TDS_DATABASE_URL=f"{PG_HOST_URL}/tds_no_such_db", **CREDENTIALS)
    assert_one_line_failure(missing, 5, "does not exist", "createdb tds_no_such_db")

    empty = tmp_path / "empty.db"
    old = tds("inbox", "sweep", cwd=tmp_path, TDS_DATABASE_URL=f"sqlite:///{empty}")
    assert_one_line_failure(old, 5, "tds db upgrade")


def test_every_postgresql_url_form_works_and_the_database_is_named_first(tmp_path, database_url):
    bare = database_url.replace("postgresql+psycopg2://", "postgres://")
    for url in (bare, bare.replace("postgres://", "postgresql://"), database_url):
        proc = tds("db", "current", cwd=tmp_path, TDS_DATABASE_URL=url)
        assert proc.returncode == 0, proc.stderr
        assert lines(proc.stderr)[0] == f"database: {database_url}"
        assert "psycopg" not in proc.stdout.replace(database_url, "")


def test_redis_down(tmp_path, database_url):
    env = {"TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": "redis://:redispass99@127.0.0.1:1/0", **CREDENTIALS}
    for args in (("sync", "--celery", "-e", "items"), ("inbox", "sweep"), ("dead-letters", "replay", "--all")):
        proc = tds(*args, cwd=tmp_path, **env)
        line = assert_one_line_failure(proc, 6, "Redis", "unreachable", "TDS_REDIS_URL")
        assert "redispass99" not in proc.stderr and "***" in line


def test_unknown_entity_lists_the_valid_names(tmp_path):
    proc = tds("sync", "--entities", "itemz", cwd=tmp_path, **CREDENTIALS)
    line = assert_one_line_failure(proc, 2, "itemz", "items", "invoices", "sales_orders")
    assert "UnknownEntity" not in line
    for args in (("reconcile", "-e", "itemz"), ("dead-letters", "list", "--entity", "itemz")):
        assert_one_line_failure(tds(*args, cwd=tmp_path, **CREDENTIALS), 2, "itemz", "items")


def test_bad_simulator_scale(tmp_path):
    proc = tds("simulator", "--scale", "huge", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'huge' is not a size" in proc.stderr and "small" in proc.stderr


def test_configuration_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    proc = tds("db", "current", cwd=tmp_path, TDS_DATABASE_URL="mysql://u:mysqlpass1@h/x")
    line = assert_one_line_failure(proc, 2, "configuration error", "TDS_DATABASE_URL")
    assert "mysqlpass1" not in line
    debug = tds("--debug", "sync", "-e", "itemz", cwd=tmp_path, **CREDENTIALS)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "UnknownEntity" in debug.stderr


def test_version_help_and_quiet_migrations(tmp_path):
    version = tds("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("tds ")
    top = tds("--help", cwd=tmp_path, COLUMNS="80").stdout
    commands = top.split("Commands:")[1]
    assert "..." not in commands and "``" not in top  # no cut short help, no raw RST
    for group in ("sync", "db", "demo", "doctor", "simulator", "webhooks", "zoho", "dead-letters", "inbox", "worker",
                  "images", "reconcile", "odoo"):
        text = tds(group, "--help", cwd=tmp_path, COLUMNS="80").stdout
        assert "``" not in text, text
        if "Commands:" in text:
            assert "..." not in text.split("Commands:")[1], text
    proc = tds("db", "upgrade", cwd=tmp_path, TDS_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", TDS_LOG_LEVEL="info")
    assert proc.returncode == 0, proc.stderr
    assert "INFO" not in proc.stderr and "alembic" not in proc.stderr.lower()
    assert "database at revision" in proc.stdout


@pytest.mark.parametrize("level", ["debug", "Warning", "error"])
def test_log_level_accepts_lower_case(tmp_path, level):
    assert tds("--version", cwd=tmp_path, TDS_LOG_LEVEL=level).returncode == 0
