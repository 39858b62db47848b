"""``tds db``: the schema's migrations."""

# Alembic (tds.schema) is imported in the commands, so `tds --help` never loads it.

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from tds.cli.connections import open_database
from tds.config import get_settings, mask_url
from tds.exit_codes import database_failure


@click.group()
def db() -> None:
    """Schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to migrate to.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema at TDS_DATABASE_URL."""
    from tds import schema

    settings = get_settings()
    open_database(settings, check_schema=False)
    try:
        schema.upgrade(settings.database_url, revision)
    except sa.exc.DBAPIError as exc:
        raise database_failure(exc, mask_url(settings.database_url)) from exc
    click.echo(f"database at revision {schema.current_revision(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision; exit 1 when a migration is pending."""
    from tds import schema

    settings = get_settings()
    open_database(settings, check_schema=False)
    url = settings.database_url
    current, head = schema.current_revision(url), schema.head_revision(url)
    click.echo(f"current: {current or '(empty database)'}; newest: {head}")
    if current != head:
        sys.exit(1)
