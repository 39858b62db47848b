"""Runs of a sync, an incremental sync, a reconcile or an Odoo push: their record, their lock,
and the sync state they leave behind. This module is the one writer of ``tds_sync_runs``,
``tds_odoo_runs`` and ``tds_sync_state``.

Every run of one (organization, entity) — full, incremental or reconcile, from the CLI,
beat or the admin API — takes the same Redis lock, so two never overlap (a full sync and a
reconcile of invoices writing side by side would be safe for the data, thanks to the
stale-write guard, but would spend the API budget twice). The lock's value names its
holder (``host:pid``), the run and when it started, so "already running" can say who.

The lock lives a few minutes and is renewed after every page; a run whose process is
killed frees it when it expires. The run's row in ``tds_sync_runs`` is then still
``running``: :func:`recover_stale` marks such rows ``aborted`` once their lock is gone —
at the start of the next run of the same (organization, entity), which holds the lock and
so knows the old one is dead, and in the daily cleanup, after ``TDS_RUN_STALE_AFTER``
seconds without a heartbeat. Ctrl-C or SIGTERM marks the run ``aborted`` at once, with its
counts so far, and releases the lock.

A run ends once, with its final status, and :func:`finish` emits its named event once with
that status: a full or incremental sync of an entity the organization does not have ends
``unavailable`` (not ``failed``), which is what ``tds.zoho.sync.failed`` then says.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import socket
import threading
from dataclasses import dataclass

import redis as redis_lib
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tds import hooks
from tds.db import utcnow
from tds.models import odoo_runs, sync_runs, sync_state

LOCK_TIMEOUT_SECONDS = 600  # renewed after every page


class RunStatus(enum.StrEnum):
    QUEUED = "queued"  # asked for (admin API), not started yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"  # interrupted (Ctrl-C, SIGTERM) or found dead
    SKIPPED = "skipped"  # another run of the same (organization, entity) held the lock
    UNAVAILABLE = "unavailable"  # Zoho answered that the organization does not have the entity's module
    DEFERRED = "deferred"  # the rate limit or the daily quota was taken: it tries again at retry_at (not an error)


class Availability(enum.StrEnum):
    """Whether an organization has an entity's module: ``tds_sync_state.status``."""

    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"


class Mode(enum.StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    RECONCILE = "reconcile"


COUNTS = ("records_seen", "records_written", "records_unchanged", "records_failed", "records_deleted", "api_calls")


class AlreadyRunning(RuntimeError):
    """Another run of this (organization, entity) holds the lock."""

    def __init__(self, organization_id: str, entity: str, holder: dict | None):
        self.holder = holder or {}
        who = self.holder.get("holder", "another process")
        since = self.holder.get("since", "")
        run = f" (run {self.holder['run_id']})" if self.holder.get("run_id") else ""
        super().__init__(f"a run of {entity} for organization {organization_id} is already running: "
                         f"held by {who}{run} since {since}".rstrip())


class RunInterrupted(BaseException):
    """SIGTERM arrived: the run stops, is marked aborted and frees its lock."""


class Cancel:
    """Set once by Ctrl-C or SIGTERM at the command line: every thread of the run (the page
    reader, the detail calls) stops at its next call or wait instead of going on."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise RunInterrupted()

    def sleep(self, seconds: float) -> None:
        """A wait that ends (raising :class:`RunInterrupted`) as soon as the run is cancelled."""
        if self._event.wait(max(0.0, seconds)):
            raise RunInterrupted()


def ended_by(exc: BaseException, unavailable: bool = False) -> RunStatus:
    """The final status of a run that ``exc`` stopped: ``aborted`` when interrupted,
    ``unavailable`` when Zoho said the entity is not there, else ``failed``."""
    if isinstance(exc, (KeyboardInterrupt, RunInterrupted)):
        return RunStatus.ABORTED
    return RunStatus.UNAVAILABLE if unavailable else RunStatus.FAILED


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_name(organization_id: str, entity: str) -> str:
    return f"tds:lock:sync:{organization_id}:{entity}"


@dataclass
class RunLock:
    """The per-(organization, entity) lock; its token says who holds it."""

    redis: redis_lib.Redis
    organization_id: str
    entity: str
    timeout: int = LOCK_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        self._lock = self.redis.lock(lock_name(self.organization_id, self.entity), timeout=self.timeout)

    def acquire(self, run_id: int | None = None) -> None:
        token = json.dumps({"holder": holder_name(), "run_id": run_id,
                            "since": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")})
        if not self._lock.acquire(blocking=False, token=token):
            raise AlreadyRunning(self.organization_id, self.entity, current_holder(self.redis, self.organization_id,
                                                                                 self.entity))

    def renew(self) -> None:
        """Push the expiry out again; after a Redis restart or flush the lock is taken anew."""
        try:
            self._lock.reacquire()
        except redis_lib.exceptions.LockNotOwnedError:
            token = self._lock.local.token
            if not self.redis.set(self._lock.name, token, nx=True, px=self.timeout * 1000):
                raise AlreadyRunning(self.organization_id, self.entity,
                                     current_holder(self.redis, self.organization_id, self.entity)) from None

    def release(self) -> None:
        try:
            self._lock.release()
        except redis_lib.exceptions.LockError:
            pass  # expired, or taken over after a Redis flush: nothing of ours to free


def current_holder(redis: redis_lib.Redis, organization_id: str, entity: str) -> dict | None:
    raw = redis.get(lock_name(organization_id, entity))
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"holder": raw.decode(errors="replace")}


# ------------------------------------------------------------------ run rows


def create(conn: Connection, organization_id: str, entity: str, mode: Mode, status: RunStatus = RunStatus.RUNNING,
           params: dict | None = None) -> int:
    now = utcnow()
    run_id = conn.execute(
        sa.insert(sync_runs)
        .values(organization_id=organization_id, entity=entity, mode=mode, status=status, started_at=now,
                heartbeat_at=now, holder=holder_name() if status == RunStatus.RUNNING else None, params=params)
        .returning(sync_runs.c.id)
    ).scalar_one()
    if status == RunStatus.RUNNING:
        hooks.emit("tds.zoho.sync.started", conn=conn, organization_id=organization_id, entity=entity,
                   run_id=run_id, mode=str(mode))
    return run_id


def start(conn: Connection, run_id: int) -> None:
    """A queued run (the admin API's) begins."""
    now = utcnow()
    row = conn.execute(sa.update(sync_runs).where(sync_runs.c.id == run_id)
                       .values(status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, holder=holder_name())
                       .returning(sync_runs.c.organization_id, sync_runs.c.entity, sync_runs.c.mode)).first()
    if row is not None:
        hooks.emit("tds.zoho.sync.started", conn=conn, organization_id=row.organization_id, entity=row.entity,
                   run_id=run_id, mode=row.mode)


def heartbeat(conn: Connection, run_id: int, counts: dict) -> None:
    conn.execute(sa.update(sync_runs).where(sync_runs.c.id == run_id)
                 .values(heartbeat_at=utcnow(), **{k: v for k, v in counts.items() if k in COUNTS}))


def finish(conn: Connection, run_id: int, status: RunStatus, counts: dict | None = None, error: str | None = None,
           report: dict | None = None, reason: str | None = None, retry_at=None) -> None:
    """End the run with ``status``; ``reason`` (see :mod:`tds.sync.outcome`) says why it did not
    succeed, ``retry_at`` when a deferred one tries again."""
    values = {"status": status, "finished_at": utcnow(), "error": error, "reason": reason, "retry_at": retry_at}
    values.update({k: v for k, v in (counts or {}).items() if k in COUNTS})
    if report is not None:
        values["report"] = report
    row = conn.execute(sa.update(sync_runs).where(sync_runs.c.id == run_id).values(**values)
                       .returning(sync_runs.c.organization_id, sync_runs.c.entity, sync_runs.c.mode,
                                  sync_runs.c.records_written)).first()
    if row is None or status in (RunStatus.SKIPPED, RunStatus.QUEUED):
        return
    where = {"conn": conn, "organization_id": row.organization_id, "entity": row.entity}
    if status == RunStatus.SUCCEEDED:
        hooks.emit("tds.zoho.sync.completed", **where, run_id=run_id, mode=row.mode,
                   counts={k: v for k, v in (counts or {}).items() if k in COUNTS})
        if row.mode != Mode.RECONCILE:
            hooks.emit("tds.zoho.entity.synced", **where, run_id=run_id, mode=row.mode, written=row.records_written)
    elif status == RunStatus.DEFERRED:  # waiting its turn is not a failure
        hooks.emit("tds.zoho.sync.deferred", **where, run_id=run_id, mode=row.mode, reason=reason,
                   retry_at=retry_at.isoformat() if retry_at else None)
    else:
        hooks.emit("tds.zoho.sync.failed", **where, run_id=run_id, mode=row.mode, status=str(status),
                   error=(error or "")[:500])


def begin(engine: Engine, redis: redis_lib.Redis, organization_id: str, entity: str, mode: Mode,
          params: dict | None = None, run_id: int | None = None) -> tuple[int, RunLock]:
    """Record the run (or start a queued one) and take its lock; a run that finds the lock
    held is recorded ``skipped`` and :class:`AlreadyRunning` is raised. Runs of the same
    (organization, entity) left ``running`` by a dead process are marked ``aborted``."""
    with engine.begin() as conn:
        if run_id is None:
            run_id = create(conn, organization_id, entity, mode, params=params)
        else:
            start(conn, run_id)
    lock = RunLock(redis, organization_id, entity)
    try:
        lock.acquire(run_id)
    except AlreadyRunning as exc:
        with engine.begin() as conn:
            finish(conn, run_id, RunStatus.SKIPPED, error=str(exc))
        raise
    try:
        recover_stale(engine, redis, organization_id=organization_id, entity=entity)
    except BaseException:
        lock.release()
        raise
    return run_id, lock


def get(engine: Engine, run_id: int):
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_runs).where(sync_runs.c.id == run_id)).first()


def as_dict(row) -> dict:
    out = {}
    for key, value in row._mapping.items():
        out[key] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


def recover_stale(engine: Engine, redis: redis_lib.Redis, stale_after: float | None = None,
                  organization_id: str | None = None, entity: str | None = None) -> int:
    """Mark ``running`` runs whose process is gone as ``aborted``; returns how many.

    A run is gone when no lock names it. With ``stale_after`` it must also have sent no
    heartbeat for that many seconds (the cleanup's rule: a Redis flush loses live locks
    too); without it (the caller holds the lock of that organization and entity, so any
    other run of them is dead) the lock test alone decides.
    """
    stmt = sa.select(sync_runs.c.id, sync_runs.c.organization_id, sync_runs.c.entity, sync_runs.c.heartbeat_at).where(
        sync_runs.c.status == RunStatus.RUNNING)
    if organization_id:
        stmt = stmt.where(sync_runs.c.organization_id == organization_id, sync_runs.c.entity == entity)
    now = utcnow()
    dead = []
    with engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    for row in rows:
        holder = current_holder(redis, row.organization_id, row.entity) or {}
        if holder.get("run_id") == row.id:
            continue
        if stale_after is not None and row.heartbeat_at and (now - row.heartbeat_at).total_seconds() < stale_after:
            continue
        dead.append(row.id)
    if dead:
        with engine.begin() as conn:
            conn.execute(sa.update(sync_runs).where(sync_runs.c.id.in_(dead), sync_runs.c.status == RunStatus.RUNNING)
                         .values(status=RunStatus.ABORTED, finished_at=now,
                                 error="the process running it is gone (its lock expired)"))
    return len(dead)


# ------------------------------------------------------------------ sync state


def write_state(conn: Connection, organization_id: str, entity: str, **values) -> None:
    """Upsert the (organization, entity) row of ``tds_sync_state`` with ``values``.

    Two rules hold whoever writes: the ``cursor`` only moves forward (``None`` leaves it),
    so a run that read older records never takes it back; and ``unavailable_since`` keeps
    the time the entity was first found unavailable for as long as it stays so.
    """
    now = utcnow()
    cursor = values.pop("cursor", None)
    inserted = dict(values, updated_at=now)
    updated = dict(inserted)
    if cursor is not None:
        inserted["cursor"] = cursor
        updated["cursor"] = sa.case((sync_state.c.cursor > cursor, sync_state.c.cursor),
                                    else_=sa.literal(cursor, sync_state.c.cursor.type))
    if values.get("unavailable_since") is not None:
        updated["unavailable_since"] = sa.case(
            (sync_state.c.status == Availability.UNAVAILABLE, sync_state.c.unavailable_since),
            else_=sa.literal(values["unavailable_since"], sync_state.c.unavailable_since.type))
    found = conn.execute(sa.update(sync_state).where(sync_state.c.organization_id == organization_id,
                                                      sync_state.c.entity == entity).values(**updated)).rowcount
    if not found:
        conn.execute(sa.insert(sync_state).values(organization_id=organization_id, entity=entity, **inserted))


# ------------------------------------------------------------------ Odoo push runs


def create_push(conn: Connection, trigger: str) -> int:
    """Record an Odoo push (``trigger``: schedule, webhook or cli) as running."""
    return conn.execute(sa.insert(odoo_runs).values(trigger=trigger, status=RunStatus.RUNNING, started_at=utcnow())
                        .returning(odoo_runs.c.id)).scalar_one()


def finish_push(conn: Connection, run_id: int, status: RunStatus, counts: dict, error: str | None = None) -> None:
    """End an Odoo push with its status, counts and Odoo calls."""
    conn.execute(sa.update(odoo_runs).where(odoo_runs.c.id == run_id)
                 .values(status=status, finished_at=utcnow(), error=error, **counts))


# ------------------------------------------------------------------ scheduled runs not stacked


def _pending_key(organization_id: str, entity: str, mode: str) -> str:
    return f"tds:sync:pending:{organization_id}:{entity}:{mode}"


def mark_pending(redis: redis_lib.Redis, organization_id: str, entity: str, mode: str, ttl: float) -> bool:
    """Note that a run was sent; False when one sent earlier has not started yet (then the
    scheduler sends nothing, so slow runs are skipped, never stacked)."""
    return bool(redis.set(_pending_key(organization_id, entity, mode), holder_name(), nx=True,
                          ex=max(1, int(ttl))))


def clear_pending(redis: redis_lib.Redis, organization_id: str, entity: str, mode: str) -> None:
    redis.delete(_pending_key(organization_id, entity, mode))
