"""The migrations build exactly the schema the models describe, on PostgreSQL and SQLite."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tds import schema
from tds.db import get_engine
from tds.models import metadata


def test_migrations_match_the_models_on_postgresql(database_url):
    with get_engine(database_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert schema.current_revision(database_url) == schema.head_revision(database_url)


def test_migrations_run_on_sqlite_and_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'tds.db'}"
    schema.upgrade(url)
    assert schema.current_revision(url) == schema.head_revision(url)
    tables = set(sa.inspect(get_engine(url)).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    command.downgrade(schema.alembic_config(url), "base")
    assert set(sa.inspect(get_engine(url)).get_table_names()) <= {"alembic_version"}
