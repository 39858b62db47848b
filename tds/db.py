"""Database engines, sessions and the column types that make one schema work on PostgreSQL
and SQLite."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Callable, TypeVar

import simplejson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

UTC = dt.timezone.utc
T = TypeVar("T")


class UTCDateTime(sa.types.TypeDecorator):
    """A time-zone aware timestamp stored in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite has no zone, so values are normalised to UTC
    before they are written and read back as UTC, which keeps comparisons in SQL (the
    stale-write guard) correct on both.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Money = sa.Numeric(20, 6)
Quantity = sa.Numeric(20, 6)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def json_dumps(value) -> str:
    """JSON text keeping Decimals as exact numbers (``85.00`` stays ``85.00``)."""
    return simplejson.dumps(value, use_decimal=True, default=json_default, ensure_ascii=False)


def json_loads(text):
    return simplejson.loads(text, use_decimal=True)


def json_default(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (down, restarting, the
    pool exhausted), as opposed to refusing what was asked of it (a value too long, a
    constraint): only the first is worth trying again later."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.DisconnectionError, sa.exc.TimeoutError,
                        sa.exc.InterfaceError)):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str, *, pre_ping: bool = True, pool_size: int = 5) -> Engine:
    """One engine per database URL per process (engines own connection pools).

    ``pre_ping``: test every connection taken from the pool with a round trip, so a
    connection PostgreSQL dropped (a restart) is replaced before use. A caller that runs
    its transactions through :func:`retrying_disconnect` instead saves that round trip.
    ``pool_size``: connections kept open; past it (up to 10 more) each one is opened for a
    single use, so a process with more threads at work keeps as many."""
    if not url:
        from tds.config import Settings

        Settings.require_database(Settings())  # raises ConfigError saying what to set
    key = url if pre_ping and pool_size == 5 else f"{url}#pre_ping={pre_ping},pool_size={pool_size}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create_engine(url, pre_ping, pool_size)
            _engines[key] = engine
        return engine


def retrying_disconnect(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work(conn)`` in one transaction, run once more on a fresh connection when the
    connection turns out dead before the commit (PostgreSQL restarted, the backend was
    killed): nothing of the first try was committed, and the pool has discarded every
    connection as old as the dead one. A failure of the commit itself is raised: whether
    it committed is unknown."""
    for attempt in (1, 2):
        with engine.connect() as conn:  # closing it rolls back whatever was not committed
            trans = conn.begin()
            try:
                result = work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    continue
                raise
            trans.commit()
            return result
    raise AssertionError("unreachable")


def _create_engine(url: str, pre_ping: bool = True, pool_size: int = 5) -> Engine:
    kwargs: dict = {"json_serializer": json_dumps, "json_deserializer": json_loads, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=10)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so that a
        # transaction starts when SQLAlchemy says it does (needed for RETURNING + upserts).
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def get_event_engine(url: str, autocommit: bool = False) -> Engine:
    """The engine the worker applies inbox events with: on PostgreSQL its sessions commit
    with ``synchronous_commit = off`` and it skips the pre-ping; elsewhere :func:`get_engine`.
    ``autocommit``: its twin (own pool) whose statements each commit alone, for the
    one-statement steps of an attempt (claiming an event or a batch): one round trip, with
    no ``BEGIN`` and ``COMMIT`` around it.

    Without the synchronous flush a commit returns before its WAL reaches the disk, and a
    crash of PostgreSQL itself can lose the last few hundred milliseconds of commits — never
    half of one, and never out of order. That is safe here because the inbox row is the
    durable record: a lost commit takes the event's write, its change log and its DONE
    together, so the event is back in the state it had (PROCESSING with its lease, or
    RECEIVED), and the sweeper sends it again; the write is idempotent. The webhook itself
    is stored through :func:`get_engine`, with a synchronous commit, before Zoho gets its
    202. No pre-ping either: a connection that died with a PostgreSQL restart fails its
    statement as a database error, which the task retries like any other, and SQLAlchemy
    then drops every connection of the old server from the pool.
    """
    if not url or url.startswith("sqlite"):
        return get_engine(url)
    key = f"events|{autocommit}|{url}"
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = sa.create_engine(url, json_serializer=json_dumps, json_deserializer=json_loads, pool_size=5,
                                      max_overflow=10, connect_args={"options": "-c synchronous_commit=off"},
                                      **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))
            _engines[key] = engine
        return engine


def _sqlite_pragmas(dbapi_conn, _record):
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def dialect_insert(conn: Connection, table: sa.Table):
    """``INSERT`` with ``ON CONFLICT`` support for the connection's dialect."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def as_decimal(value) -> Decimal | None:
    """Zoho numbers (already Decimal when parsed by TDS), numeric strings or ''."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip().replace(",", ""))


def purge_older(engine: Engine, table: sa.Table, older_than: dt.timedelta, batch: int = 5000) -> int:
    """Delete rows of ``table`` whose ``created_at`` is older than ``older_than``, ``batch`` rows
    per transaction, so a large purge never holds long locks; returns how many."""
    cutoff = utcnow() - older_than
    total = 0
    while True:
        with engine.begin() as conn:
            ids = conn.execute(sa.select(table.c.id).where(table.c.created_at < cutoff).limit(batch)).scalars().all()
            if not ids:
                return total
            conn.execute(sa.delete(table).where(table.c.id.in_(ids)))
        total += len(ids)


def newest_first(engine: Engine, table: sa.Table, since: dt.datetime | None, limit: int, *where, **equal) -> list:
    """Rows of a log table (``id``, ``created_at``) newest first: since a time, with the given
    conditions and column values (``None`` values are left out)."""
    stmt = sa.select(table).where(*where, *(table.c[k] == v for k, v in equal.items() if v is not None))
    if since:
        stmt = stmt.where(table.c.created_at >= since)
    with engine.connect() as conn:
        return conn.execute(stmt.order_by(table.c.id.desc()).limit(limit)).fetchall()
