"""The migrations build exactly the schema the models describe, on PostgreSQL and SQLite."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tds import mappers, schema
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


@pytest.mark.parametrize("first", ["tds.models", "tds.registry", "tds.mapping", "tds.sinks.sql",
                                   *(f"tds.mappers.{m.name}" for m in pkgutil.iter_modules(mappers.__path__))])
def test_every_table_is_declared_whichever_module_is_imported_first(first):
    script = f"import {first}\nfrom tds.models import metadata\nprint(' '.join(sorted(metadata.tables)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == sorted(metadata.tables)
