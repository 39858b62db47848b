"""Pushing products from the ERP mirror to Odoo: what a scheduled run, a webhook and
``tds odoo sync-once`` do.

The source is the ``products`` table, not Zoho: Zoho's changes land there first (webhooks,
syncs), and a push reads the rows and lets :class:`tds.sinks.odoo.destination.OdooDestination` write
what changed. A scheduled run looks at every product, so a change Odoo missed while it was
down, or a product edited in Odoo, is put right on the next run whatever happened to the
task that should have sent it; a webhook pushes only its item, seconds after it landed.

Pushes never overlap: one Redis lock is held for the run (two pushes of one new product at
once would create it twice in Odoo). A push that finds the lock taken raises
:class:`OdooBusy`, which the task policy retries shortly; the scheduled run that finds it
taken is skipped, the next one comes in ``ODOO_SYNC_PERIOD``. Each run is a row in
``tds_odoo_runs`` with its counts and the Odoo calls it made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Sequence

import sqlalchemy as sa

from tds import registry, runs
from tds.config import Settings
from tds.db import get_engine
from tds.models import inbox_events, metadata
from tds.registry import Mapped
from tds.runs import RunStatus
from tds.sinks.odoo.client import OdooClient
from tds.sinks.odoo.destination import OdooDestination, OdooWriteResult

log = logging.getLogger(__name__)

LOCK_NAME = "tds:lock:odoo:push"
LOCK_TIMEOUT_SECONDS = 300
BATCH = 200  # products per database transaction (one search_read in Odoo each)
_BOOKKEEPING = ("id", "organization_id", "synced_at", "zoho_metadata")


class OdooBusy(TimeoutError):
    """Another push holds the Odoo lock; try again in a moment (a transient failure)."""


@dataclass
class PushRun:
    run_id: int
    result: OdooWriteResult
    odoo_calls: int


def push(settings: Settings, redis, client: OdooClient | None = None, *, trigger: str = "schedule",
         organization_id: str | None = None, zoho_item_ids: Sequence[str] | None = None) -> PushRun:
    """Push every product (or only ``zoho_item_ids`` of ``organization_id``) to Odoo."""
    client = client or OdooClient.from_settings(settings)
    lock = redis.lock(LOCK_NAME, timeout=LOCK_TIMEOUT_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        raise OdooBusy("another push to Odoo is running")
    try:
        return _run(settings, client, trigger, organization_id, zoho_item_ids, lock.reacquire)
    finally:
        try:
            lock.release()
        except Exception:  # expired during a long run: nothing to give back
            log.warning("the Odoo push lock expired before the run ended")


def push_for_event(settings: Settings, redis, event_id: int, client: OdooClient | None = None) -> PushRun | None:
    """Push the item an inbox event wrote (nothing when the event is not an item's)."""
    with get_engine(settings.database_url).connect() as conn:
        event = conn.execute(sa.select(inbox_events.c.entity, inbox_events.c.organization_id,
                                       inbox_events.c.zoho_id).where(inbox_events.c.id == event_id)).first()
    if event is None or registry.get(event.entity).name != "items":
        return None
    return push(settings, redis, client, trigger="webhook", organization_id=event.organization_id,
                zoho_item_ids=[event.zoho_id])


def _run(settings, client, trigger, organization_id, zoho_item_ids, renew) -> PushRun:
    engine = get_engine(settings.database_url)
    calls_before = client.calls
    with engine.begin() as conn:
        run_id = runs.create_push(conn, trigger)
    result = OdooWriteResult()
    destination = OdooDestination(settings, client)
    try:
        for batch in _products(engine, organization_id, zoho_item_ids):
            with engine.begin() as conn:
                result.add(destination.write(conn, batch))
            renew()
    except Exception as exc:
        _finish(engine, run_id, RunStatus.FAILED, result, client.calls - calls_before, f"{type(exc).__name__}: {exc}")
        raise
    _finish(engine, run_id, RunStatus.SUCCEEDED, result, client.calls - calls_before, None)
    log.info("Odoo push %s (%s): %s, %d Odoo calls", run_id, trigger, result.as_dict(), client.calls - calls_before)
    return PushRun(run_id, result, client.calls - calls_before)


def _finish(engine, run_id: int, status: RunStatus, result: OdooWriteResult, calls: int, error: str | None) -> None:
    with engine.begin() as conn:
        runs.finish_push(conn, run_id, status, {**result.as_dict(), "odoo_calls": calls}, error)


def _products(engine, organization_id, zoho_item_ids) -> Iterator[list[Mapped]]:
    """The products rows, deleted ones included, as records for the destination, in batches."""
    entity = registry.get("items")
    tbl = metadata.tables[entity.table]
    last_id = 0
    while True:
        stmt = sa.select(tbl).where(tbl.c.id > last_id).order_by(tbl.c.id).limit(BATCH)
        if organization_id:
            stmt = stmt.where(tbl.c.organization_id == organization_id)
        if zoho_item_ids is not None:
            stmt = stmt.where(tbl.c[entity.zoho_id_column].in_(list(zoho_item_ids)))
        with engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        if not rows:
            return
        last_id = rows[-1]["id"]
        yield [Mapped(entity=entity, organization_id=row["organization_id"], zoho_id=row[entity.zoho_id_column],
                      modified=row["zoho_last_modified_time"],
                      values={k: v for k, v in row.items() if k not in _BOOKKEEPING},
                      raw=row["zoho_metadata"] or {}) for row in rows]

