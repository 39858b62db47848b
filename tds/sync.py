"""Full sync: page through an entity's Zoho list and upsert every record.

Lists leave out what only details carry (line items, per-warehouse stock, contact
persons); for such entities each page is completed with detail calls, in bulk where Zoho
has a bulk endpoint (``/itemdetails``, 100 ids a call). Records already stored at the
Zoho time their list row shows are not fetched again, so only the first full sync pays a
detail call per record. Each page is written in one
transaction through the same stale-write-guarded upsert webhooks use, so a sync running
beside webhook processing can never put an older version over a newer one.

Syncs of the same (organization, entity) never overlap: a Redis lock is held for the run.
The lock lives a few minutes and is renewed after every page, so a sync that is killed
frees it soon, while a long one keeps it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import redis as redis_lib
import sqlalchemy as sa

from tds import deadletters, images, inbox, registry
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.mapping import MapContext, MappingError, parse_zoho_time
from tds.models import sync_runs, sync_state
from tds.registry import Entity
from tds.sinks import sql as sql_sink

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 600  # renewed after every page


class SyncAlreadyRunning(RuntimeError):
    pass


@dataclass
class SyncResult:
    entity: str
    organization_id: str
    run_id: int
    records_seen: int = 0
    records_written: int = 0
    records_failed: int = 0
    records_unchanged: int = 0  # not fetched again: stored at the same Zoho time
    api_calls: int = 0  # list pages and detail calls asked for (retries not counted)
    seconds: float = 0.0
    follow_up: list[tuple[int, str]] = field(default_factory=list)
    images: list[images.Job] = field(default_factory=list)  # image references changed: downloads to send


def _lock_name(organization_id: str, entity: Entity) -> str:
    return f"tds:lock:sync:{organization_id}:{entity.name}"


def full_sync(
    settings: Settings,
    entity: Entity,
    organization_id: str,
    client,
    redis: redis_lib.Redis | None = None,
    progress: Callable[[int], None] | None = None,
    enqueue: Callable[[int, str], None] | None = None,
    refetch: bool = False,
) -> SyncResult:
    """Page through ``entity`` and write every record; see the module docstring.

    ``refetch`` fetches the details of records stored at the same Zoho time too (a repair
    run); by default only new and changed records cost a detail call.
    """
    redis = redis or redis_lib.Redis.from_url(settings.redis_url)
    lock = redis.lock(_lock_name(organization_id, entity), timeout=LOCK_TIMEOUT_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        raise SyncAlreadyRunning(f"a sync of {entity.name} for organization {organization_id} is already running")
    try:
        return _run(settings, entity, organization_id, client, progress, enqueue, refetch, renew=lock.reacquire)
    finally:
        try:
            lock.release()
        except redis_lib.exceptions.LockError:
            log.warning("sync lock for %s/%s expired before the run ended", organization_id, entity.name)


def _run(settings, entity, organization_id, client, progress, enqueue, refetch, renew) -> SyncResult:
    engine = get_engine(settings.database_url)
    started = time.monotonic()
    with engine.begin() as conn:
        run_id = conn.execute(
            sa.insert(sync_runs)
            .values(organization_id=organization_id, entity=entity.name, mode="full", status="running",
                    started_at=utcnow())
            .returning(sync_runs.c.id)
        ).scalar_one()
    result = SyncResult(entity.name, organization_id, run_id)
    ctx = MapContext(organization_id, settings)
    newest = None
    try:
        for page in client.iter_pages(entity, organization_id):
            with engine.connect() as conn:
                records, unchanged = _complete(conn, entity, organization_id, client, page, refetch)
            result.records_unchanged += unchanged
            result.api_calls += 1 + (_detail_calls(entity, len(page) - unchanged) if records is not page else 0)
            mapped, refused = [], []
            for record in records:
                try:
                    mapped.append(registry.route(entity, record).map(record, ctx))
                except MappingError as exc:
                    refused.append((record, exc))
            result.records_failed += len(refused)
            with engine.begin() as conn:
                for record, exc in refused:  # the record is kept whole; the rest of the page goes on
                    deadletters.add(conn, task_name="tds.sync_entity", entity=entity.name, exc=exc,
                                    payload={"record": record}, organization_id=organization_id,
                                    zoho_id=str(record.get(entity.id_field) or "") or None)
                written = sql_sink.write(conn, mapped)
                result.follow_up += inbox.request_missing(conn, written.missing)
                result.images += images.after_write(conn, mapped, written.applied_ids)
            result.records_seen += len(page)
            result.records_written += written.written
            page_newest = _newest(entity, page)
            if page_newest and (newest is None or page_newest > newest):
                newest = page_newest
            if enqueue:
                for event_id, name in result.follow_up:
                    enqueue(event_id, name)
                result.follow_up = []
            if progress:
                progress(len(page))
            renew()
    except Exception as exc:
        _finish(engine, result, "failed", str(exc)[:4000])
        raise
    result.seconds = time.monotonic() - started
    _finish(engine, result, "succeeded", None, cursor=newest)
    return result


def _complete(conn, entity: Entity, organization_id: str, client, page: list[dict], refetch: bool
              ) -> tuple[list[dict], int]:
    """Replace list rows with detail records when lists leave out what details carry.

    A record is not fetched again (unless ``refetch``) when it is stored at the Zoho time its
    list row shows *and* every field of the list row equals the stored record: a change
    that Zoho makes without moving ``last_modified_time`` (a balance, a status, stock on
    hand) still shows in the list row and still gets the record fetched. A second full sync
    then costs the list pages plus one detail call per changed record, not one per record.
    Returns the records to write and how many were skipped as unchanged.
    """
    if not (entity.list_omits and entity.detail_path) or not page:
        return page, 0
    ids = [str(r[entity.id_field]) for r in page if r.get(entity.id_field) not in (None, "")]
    unchanged = set() if refetch else _unchanged(conn, entity, organization_id, page)
    wanted = [i for i in ids if i not in unchanged]
    return (client.get_bulk_details(entity, organization_id, wanted) if wanted else []), len(ids) - len(wanted)


def _detail_calls(entity: Entity, fetched: int) -> int:
    """Detail calls a page cost (bulk endpoints take many ids a call); retries not counted."""
    if entity.bulk_detail:
        return -(-fetched // entity.bulk_detail[2])
    return fetched


def _unchanged(conn, entity: Entity, organization_id: str, page: list[dict]) -> set[str]:
    if not entity.modified_field:
        return set()
    listed = {str(row[entity.id_field]): row for row in page if row.get(entity.id_field) not in (None, "")}
    tbl = sql_sink.table(entity.table)
    idcol = tbl.c[entity.zoho_id_column]
    stored = conn.execute(
        sa.select(idcol, tbl.c.zoho_last_modified_time, tbl.c.zoho_metadata).where(
            tbl.c.organization_id == organization_id, idcol.in_(list(listed)), tbl.c.deleted_at.is_(None)
        )
    )
    return {zid for zid, modified, raw in stored if _same(entity, listed[zid], modified, raw)}


def _same(entity: Entity, row: dict, stored_time, stored_raw) -> bool:
    try:
        listed_time = parse_zoho_time(row.get(entity.modified_field))
    except MappingError:
        return False
    if stored_time is None or listed_time != stored_time or not isinstance(stored_raw, dict):
        return False
    return all(stored_raw[key] == value for key, value in row.items() if key in stored_raw)


def _newest(entity: Entity, page: list[dict]):
    times = []
    for row in page:
        try:
            times.append(parse_zoho_time(row.get(entity.modified_field)) if entity.modified_field else None)
        except MappingError:
            continue
    return max(filter(None, times), default=None)


def _finish(engine, result: SyncResult, status: str, error: str | None, cursor=None) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.update(sync_runs)
            .where(sync_runs.c.id == result.run_id)
            .values(status=status, finished_at=now, error=error, records_seen=result.records_seen,
                    records_written=result.records_written, api_calls=result.api_calls)
        )
        if status != "succeeded":
            return
        existing = conn.execute(
            sa.select(sync_state).where(sync_state.c.organization_id == result.organization_id,
                                        sync_state.c.entity == result.entity)
        ).first()
        if existing is None:
            conn.execute(sa.insert(sync_state).values(organization_id=result.organization_id, entity=result.entity,
                                                      cursor=cursor, last_full_sync_at=now, updated_at=now))
        else:
            new_cursor = max(filter(None, (existing.cursor, cursor)), default=None)
            conn.execute(sa.update(sync_state).where(sync_state.c.id == existing.id)
                         .values(cursor=new_cursor, last_full_sync_at=now, updated_at=now))
