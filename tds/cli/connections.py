"""What a command opens before it starts: the database (with its schema) and Redis, each
checked at once so that one that does not answer is one line and its exit code."""

# Alembic (tds.schema) is imported where the schema is checked, so `tds --help` never loads it.

from __future__ import annotations

import click
import redis as redis_lib
import sqlalchemy as sa

from tds.config import mask_url
from tds.db import get_engine
from tds.exit_codes import ExitCode, Failure, database_failure, redis_failure


def open_database(settings, check_schema: bool = True):
    """Say which database this command opens (first line, stderr), connect, and check the schema."""
    from tds import schema

    url = settings.require_database()
    shown = mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    click.echo(f"database: {shown}", err=True)
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        if check_schema:
            current, head = schema.current_revision(url), schema.head_revision(url)
            if current != head:
                raise Failure(f"database {shown} schema is at {current or 'nothing'}, newest is {head}",
                              "run tds db upgrade", ExitCode.DATABASE)
    except sa.exc.DBAPIError as exc:
        raise database_failure(exc, shown) from exc
    return engine


def require_redis(settings) -> None:
    """Stop with one line when Redis does not answer (rather than Celery retrying forever)."""
    try:
        redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis_lib.RedisError as exc:
        raise redis_failure(exc, mask_url(settings.redis_url)) from exc
