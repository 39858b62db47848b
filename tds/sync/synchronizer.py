"""Full and incremental sync: page through an entity's Zoho list and upsert what changed.

**Full sync** reads every list page. **Incremental sync** reads only what changed since the
entity's cursor — the newest Zoho ``last_modified_time`` a sync of it has applied, kept in
``tds_sync_state`` per (organization, entity) — less a lookback window
(``TDS_SYNC_LOOKBACK``, 5 minutes by default), because Zoho's times have one-second
resolution and two records can share the cursor's second across a run boundary. It asks
Zoho for ``last_modified_time`` at or after that time where the endpoint takes the filter,
sorted newest first where the endpoint can sort by it (the registry says which, per
entity), and it checks both on its side: rows older than the window are dropped, and on a
list sorted newest first the first older row ends the run, so a Zoho endpoint that ignores
the filter costs pages but never misses a change. The document ``date`` is never a cursor:
an edit to an old payment moves its ``last_modified_time``, not its date. The cursor moves
only when the whole window has been written; a run that fails or is aborted leaves it where
it was, so the next run reads the same window again.

Lists leave out what only details carry (line items, per-warehouse stock, contact
persons); for such entities each page is completed with detail calls, in bulk where Zoho
has a bulk endpoint (``/itemdetails``, 100 ids a call). Records already stored at the Zoho
time their list row shows, with every listed field equal, are not fetched again, so only
new and changed records cost a detail call. Each page is written in one transaction
through the same stale-write-guarded upsert webhooks use, so a sync running beside webhook
processing can never put an older version over a newer one.

Reading and writing overlap: a thread reads the next list page and its details while this
page is written, one page ahead at most (see :func:`_completed_pages`), so a run holds a few
pages in memory however long the list is. Detail calls without a bulk endpoint (contacts)
run a few at a time in the client (:meth:`tds.zoho.client.ZohoClient.get_bulk_details`), each
through the shared quota, breaker and rate limit.

Runs of the same (organization, entity) never overlap: see :mod:`tds.runs`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import redis as redis_lib
import sqlalchemy as sa

from tds import logs, registry, runs
from tds.config import Settings
from tds.db import UTC, get_engine, utcnow
from tds.inbox import deadletters
from tds.inbox import events as inbox
from tds.mapping import MapContext, MappingError, parse_zoho_time
from tds.models import sync_state
from tds.registry import Entity
from tds.runs import Mode, RunStatus
from tds.sinks import changes
from tds.sinks import sql as sql_sink
from tds.sync import images, outcome

log = logging.getLogger(__name__)

MAX_PER_PAGE = 200

SyncAlreadyRunning = runs.AlreadyRunning


@dataclass
class SyncResult:
    entity: str
    organization_id: str
    run_id: int
    mode: Mode = Mode.FULL
    records_seen: int = 0
    records_written: int = 0
    records_failed: int = 0
    records_unchanged: int = 0  # not fetched again: stored at the same Zoho time
    records_deleted: int = 0
    api_calls: int = 0  # list pages and detail calls asked for (retries not counted)
    pages: int = 0
    seconds: float = 0.0
    since: dt.datetime | None = None  # an incremental run's window start
    follow_up: list[tuple[int, str]] = field(default_factory=list)
    images: list[images.Job] = field(default_factory=list)  # image references changed: downloads to send

    def counts(self) -> dict:
        return {name: getattr(self, name) for name in runs.COUNTS}


@dataclass(frozen=True)
class PageDone:
    """What a progress callback hears after every page."""

    entity: str
    organization_id: str
    records: int  # records on this page
    seen: int  # records so far
    pages: int
    expected: int | None  # records expected in all (rows here), when known


def zoho_time(when: dt.datetime) -> str:
    """Zoho's ``last_modified_time`` filter value, in UTC: ``2024-02-26T13:44:57+0000``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def full_sync(settings: Settings, entity: Entity, organization_id: str, client, **kwargs) -> SyncResult:
    """Page through ``entity`` and write every record; see the module docstring.

    ``refetch`` fetches the details of records stored at the same Zoho time too (a repair
    run); by default only new and changed records cost a detail call.
    """
    return run_sync(settings, entity, organization_id, client, mode=Mode.FULL, **kwargs)


def incremental_sync(settings: Settings, entity: Entity, organization_id: str, client, since=None,
                     **kwargs) -> SyncResult:
    """Sync what changed since the cursor (or ``since``); a full sync when there is no cursor yet."""
    return run_sync(settings, entity, organization_id, client, mode=Mode.INCREMENTAL, since=since, **kwargs)


def run_sync(
    settings: Settings,
    entity: Entity,
    organization_id: str,
    client,
    mode: Mode = Mode.FULL,
    redis: redis_lib.Redis | None = None,
    progress: Callable[[PageDone], None] | None = None,
    enqueue: Callable[[int, str], None] | None = None,
    refetch: bool = False,
    since: dt.datetime | None = None,
    per_page: int = MAX_PER_PAGE,
    run_id: int | None = None,
    unavailable: Callable[[BaseException], bool] | None = None,
) -> SyncResult:
    """One run under the (organization, entity) lock; ``run_id`` continues a queued run.

    A run stopped by an error that ``unavailable(exc)`` says is Zoho not having the entity
    for the organization ends ``unavailable`` rather than ``failed``; the error is raised
    either way."""
    engine = get_engine(settings.database_url)
    redis = redis or redis_lib.Redis.from_url(settings.redis_url)
    params = {"refetch": refetch, "since": since.isoformat() if since else None, "per_page": per_page}
    run_id, lock = runs.begin(engine, redis, organization_id, entity.name, mode, params, run_id)
    try:
        with logs.context(run_id=run_id):
            return _run(settings, engine, entity, organization_id, client, mode, run_id, progress, enqueue, refetch,
                        since, per_page, lock.renew, unavailable)
    finally:
        lock.release()


def _run(settings, engine, entity: Entity, organization_id: str, client, mode: Mode, run_id: int, progress,
         enqueue, refetch: bool, since, per_page: int, renew, unavailable) -> SyncResult:
    started = time.monotonic()
    result = SyncResult(entity.name, organization_id, run_id, mode)
    cursor = _cursor(engine, organization_id, entity)
    if mode is Mode.INCREMENTAL and since is None and cursor is not None:
        since = cursor - dt.timedelta(seconds=settings.sync_lookback)
    if mode is Mode.INCREMENTAL and since is None and entity.modified_field:
        log.info("%s (%s) has no cursor yet: reading every page", entity.name, organization_id)
    result.since = since if entity.modified_field else None
    expected = None if result.since else _rows_here(engine, entity, organization_id)
    newest = None
    try:
        fetched = _completed_pages(engine, client, entity, organization_id, result.since, per_page, result, refetch)
        with contextlib.closing(fetched):  # an error here stops the reader at once
            for page, records, unchanged in fetched:
                store_page(settings, engine, entity, organization_id, page, records, unchanged, result)
                page_newest = newest_time(entity, page)
                if page_newest and (newest is None or page_newest > newest):
                    newest = page_newest
                if enqueue:
                    for event_id, name in result.follow_up:
                        enqueue(event_id, name)
                    result.follow_up = []
                with engine.begin() as conn:
                    runs.heartbeat(conn, run_id, result.counts())
                if progress:
                    progress(PageDone(entity.name, organization_id, len(page), result.records_seen, result.pages,
                                      expected))
                renew()
    except BaseException as exc:
        ended = outcome.of(exc)
        status = RunStatus.UNAVAILABLE if unavailable and unavailable(exc) else ended.status
        result.seconds = time.monotonic() - started
        with engine.begin() as conn:
            runs.finish(conn, run_id, status, result.counts(), error=(str(exc) or exc.__class__.__name__)[:4000],
                        reason=None if status == RunStatus.UNAVAILABLE else ended.reason, retry_at=ended.retry_at)
        raise
    result.seconds = time.monotonic() - started
    with engine.begin() as conn:
        runs.finish(conn, run_id, RunStatus.SUCCEEDED, result.counts())
        _advance_cursor(conn, result, newest)
    return result


def _pages(client, entity: Entity, organization_id: str, since, per_page: int, result: SyncResult
           ) -> Iterator[list[dict]]:
    """The list pages to write: every page, or (``since``) only rows modified since then."""
    params = {}
    if since is not None:
        if entity.modified_filter:
            params[entity.modified_filter] = zoho_time(since)
        params.update(dict(entity.modified_sort))
    for page in client.iter_pages(entity, organization_id, params, per_page=per_page):
        result.api_calls += 1
        result.pages += 1
        if since is None:
            yield page
            continue
        times = [_time_of(entity, row) for row in page]
        fresh = [row for row, when in zip(page, times) if when is None or when >= since]
        if fresh:
            yield fresh
        if entity.modified_sort and len(fresh) < len(page) and _newest_first(times):
            return  # sorted newest first: everything after this page is older still


#: list pages read and completed ahead of the page being written
PAGES_AHEAD = 1


def _completed_pages(engine, client, entity: Entity, organization_id: str, since, per_page: int,
                     result: SyncResult, refetch: bool) -> Iterator[tuple[list[dict], list[dict], int]]:
    """``(list page, records to write, unchanged)`` for every page, read ahead of the writes.

    A thread reads the next list page and its details (Zoho's time, the simulator's, the
    network's) while the caller maps and writes this one (PostgreSQL's time and ours): at
    most :data:`PAGES_AHEAD` completed pages wait, so memory stays a few pages whatever the
    size of the list. An error in the reader is raised here, in the caller's thread; when
    the caller stops early (an error, an interrupt), the reader stops after its current call.
    """
    handoff: queue.Queue = queue.Queue(maxsize=PAGES_AHEAD)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in _pages(client, entity, organization_id, since, per_page, result):
                with engine.connect() as conn:
                    records, unchanged = _complete(conn, entity, organization_id, client, page, refetch)
                if not put((page, records, unchanged)):
                    return
            put(done)
        except BaseException as exc:  # handed to the caller's thread
            put(exc)

    # the reader logs under the run's context (run id) like the rest of the run
    reader = threading.Thread(target=contextvars.copy_context().run, args=(read,), name=f"tds-sync-{entity.name}",
                              daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # the reader only reads: a page it has not handed over was not written, so the cursor
        # did not move; it is a daemon and stops at its next call (it is never waited on long)
        reader.join(timeout=1.0)


def write_page(settings: Settings, engine, entity: Entity, organization_id: str, client, page: list[dict],
               result: SyncResult, refetch: bool = False, source: str = "sync") -> None:
    """Complete ``page`` with details where needed, map it and write it in one transaction.

    A record that cannot be mapped is dead-lettered whole, with the reason; the rest of the
    page is written. Counts go into ``result``; missing references become fetch requests
    in ``result.follow_up``.
    """
    with engine.connect() as conn:
        records, unchanged = _complete(conn, entity, organization_id, client, page, refetch)
    store_page(settings, engine, entity, organization_id, page, records, unchanged, result, source)


def store_page(settings: Settings, engine, entity: Entity, organization_id: str, page: list[dict],
               records: list[dict], unchanged: int, result: SyncResult, source: str = "sync") -> None:
    """Map the completed ``records`` of ``page`` and write them in one transaction (see :func:`write_page`)."""
    result.records_unchanged += unchanged
    if records is not page:
        result.api_calls += _detail_calls(entity, len(page) - unchanged)
    ctx = MapContext(organization_id, settings)
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
        written = sql_sink.write(conn, mapped, changes.Origin(source, sync_run_id=result.run_id or None))
        result.follow_up += inbox.request_missing(conn, written.missing)
        result.images += images.after_write(conn, mapped, written.applied_ids)
    result.records_seen += len(page)
    result.records_written += written.written


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
    unchanged = set() if refetch else unchanged_ids(conn, entity, organization_id, page)
    wanted = [i for i in ids if i not in unchanged]
    return (client.get_bulk_details(entity, organization_id, wanted) if wanted else []), len(ids) - len(wanted)


def _detail_calls(entity: Entity, fetched: int) -> int:
    """Detail calls a page cost (bulk endpoints take many ids a call); retries not counted."""
    if entity.bulk_detail:
        return -(-fetched // entity.bulk_detail[2])
    return fetched


def stored_versions(conn, entity: Entity, organization_id: str, ids: Iterable[str]):
    """``(zoho id, Zoho time, raw record)`` of the live rows here among ``ids``."""
    tbl = sql_sink.table(entity.table)
    idcol = tbl.c[entity.zoho_id_column]
    return conn.execute(
        sa.select(idcol, tbl.c.zoho_last_modified_time, tbl.c.zoho_metadata).where(
            tbl.c.organization_id == organization_id, idcol.in_(list(ids)), tbl.c.deleted_at.is_(None)
        )
    ).fetchall()


def unchanged_ids(conn, entity: Entity, organization_id: str, page: list[dict]) -> set[str]:
    if not entity.modified_field:
        return set()
    listed = {str(row[entity.id_field]): row for row in page if row.get(entity.id_field) not in (None, "")}
    return {zid for zid, modified, raw in stored_versions(conn, entity, organization_id, listed)
            if same_as_listed(entity, listed[zid], modified, raw)}


def same_as_listed(entity: Entity, row: dict, stored_time, stored_raw) -> bool:
    """Whether the stored record is the version this list row shows (time and every listed field)."""
    listed_time = _time_of(entity, row)
    if stored_time is None or listed_time != stored_time or not isinstance(stored_raw, dict):
        return False
    return all(stored_raw[key] == value for key, value in row.items() if key in stored_raw)


def _time_of(entity: Entity, row: dict):
    if not entity.modified_field:
        return None
    try:
        return parse_zoho_time(row.get(entity.modified_field))
    except MappingError:
        return None


def _newest_first(times: list) -> bool:
    known = [t for t in times if t is not None]
    return all(a >= b for a, b in zip(known, known[1:]))


def newest_time(entity: Entity, page: list[dict]):
    return max(filter(None, (_time_of(entity, row) for row in page)), default=None)


def _rows_here(engine, entity: Entity, organization_id: str) -> int | None:
    tbl = sql_sink.table(entity.table)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(tbl).where(
            tbl.c.organization_id == organization_id, tbl.c.deleted_at.is_(None))).scalar()
    return n or None


def _cursor(engine, organization_id: str, entity: Entity):
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_state.c.cursor).where(
            sync_state.c.organization_id == organization_id, sync_state.c.entity == entity.name)).scalar()


def _advance_cursor(conn, result: SyncResult, newest) -> None:
    """Record the run in ``tds_sync_state``; the cursor only ever moves forward."""
    stamp = {Mode.FULL: "last_full_sync_at", Mode.INCREMENTAL: "last_incremental_sync_at"}[result.mode]
    runs.write_state(conn, result.organization_id, result.entity, cursor=newest, **{stamp: utcnow()})
