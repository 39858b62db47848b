"""Reconciliation: compare Zoho with the mirror, entity by entity, and repair what differs.

For each (organization, entity) the reconcile reads Zoho's whole list — ⌈N/200⌉ calls and
no detail call for a record that agrees — and compares every list row with the row here:

* **missing here** — Zoho has it, the mirror does not (or has it marked deleted);
* **gone from Zoho** — the mirror has it, Zoho's list does not: deleted in Zoho, which
  sends no webhook for a delete;
* **stale here** — Zoho's ``last_modified_time`` is newer than the stored one;
* **drift** — the same time, but a listed field differs (a balance or a stock figure Zoho
  changed without moving the time): the list row is checked field by field against the
  stored record, the same rule full sync uses to skip unchanged records. A row listed
  without a time (Zoho lists users and price lists so) is never stale: its listed fields
  alone decide between match and drift.

Everything else matches. Items also report their image coverage (:func:`tds.sync.images.coverage`:
products with an image in Zoho, files present, missing, stale). ``match %`` is matched
records over every record either side knows; the health score is the same over all entities (out of 100, with a label). With
``repair`` the missing, stale and drifted records are fetched (details in bulk where
Zoho allows) and written through the same stale-write-guarded upsert as webhooks and
syncs, and what Zoho no longer has is soft-deleted (``deleted_at``, with its child rows) —
unless that would delete more than ``TDS_RECONCILE_MAX_DELETE_PERCENT`` of the entity:
then nothing of that entity is deleted, and the report says why (an outage in Zoho that
answers empty lists must not empty the mirror). ``dry_run`` changes nothing and says what
a repair would do.
"""

from __future__ import annotations

import time

import redis as redis_lib
import sqlalchemy as sa

from tds import runs
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.registry import Entity
from tds.runs import Mode, RunStatus
from tds.sinks import changes
from tds.sinks import sql as sql_sink
from tds.sync import availability, images, outcome
from tds.sync.reports import EntityReport, Report
from tds.sync.synchronizer import SyncResult, same_as_listed, stored_versions, write_page

PAGE_SIZE = 200


def reconcile_entity(settings: Settings, entity: Entity, organization_id: str, client, *, repair: bool = False,
                     dry_run: bool = False, redis: redis_lib.Redis | None = None, enqueue=None,
                     progress=None, run_id: int | None = None, send_images=None) -> EntityReport:
    """Compare (and with ``repair`` mend) one entity under its run lock; see the module docstring.

    ``enqueue(event_id, entity)`` sends fetch requests for missing references and
    ``send_images(jobs)`` the image downloads repaired items need."""
    engine = get_engine(settings.database_url)
    redis = redis or redis_lib.Redis.from_url(settings.redis_url)
    params = {"repair": repair, "dry_run": dry_run}
    run_id, lock = runs.begin(engine, redis, organization_id, entity.name, Mode.RECONCILE, params, run_id)
    report = EntityReport(entity.name, organization_id, run_id=run_id)
    try:
        _compare_and_repair(settings, engine, entity, organization_id, client, report, repair and not dry_run,
                            dry_run, enqueue, progress, lock.renew, send_images)
    except BaseException as exc:
        ended = outcome.of(exc)
        report.failed, report.reason, report.exit_code = ended.text, ended.reason, int(ended.exit_code)
        with engine.begin() as conn:
            runs.finish(conn, run_id, ended.status, _counts(report), error=(str(exc) or exc.__class__.__name__)[:4000],
                        report=report.as_dict(), reason=ended.reason, retry_at=ended.retry_at)
        raise
    finally:
        lock.release()
    with engine.begin() as conn:
        runs.finish(conn, run_id, RunStatus.SUCCEEDED, _counts(report), report=report.as_dict())
        runs.write_state(conn, organization_id, entity.name, last_reconcile_at=utcnow())
    return report


def _counts(report: EntityReport) -> dict:
    return {"records_seen": report.zoho_count, "records_written": report.repaired,
            "records_deleted": report.deleted, "api_calls": report.api_calls}


def _compare_and_repair(settings, engine, entity: Entity, organization_id: str, client, report: EntityReport,
                        repair: bool, dry_run: bool, enqueue, progress, renew, send_images=None) -> None:
    seen: set[str] = set()
    repaired = SyncResult(entity.name, organization_id, report.run_id or 0)
    status_zoho: dict[str, int] = {}
    for page in client.iter_pages(entity, organization_id, per_page=PAGE_SIZE):
        report.api_calls += 1
        rows = {str(r[entity.id_field]): r for r in page if r.get(entity.id_field) not in (None, "")}
        seen.update(rows)
        report.zoho_count += len(rows)
        for row in rows.values():
            if "status" in row:
                status_zoho[str(row["status"])] = status_zoho.get(str(row["status"]), 0) + 1
        with engine.connect() as conn:
            stored = {zid: (modified, raw) for zid, modified, raw in
                      stored_versions(conn, entity, organization_id, rows)}
        to_fetch = []
        for zid, row in rows.items():
            kind = _difference(entity, row, stored.get(zid))
            if kind is None:
                report.matched += 1
                continue
            getattr(report, kind).append(zid)
            to_fetch.append(row)
        if to_fetch and repair:
            before = repaired.records_written
            calls = repaired.api_calls
            write_page(settings, engine, entity, organization_id, client, to_fetch, repaired, source="reconcile")
            report.api_calls += repaired.api_calls - calls
            report.repaired += repaired.records_written - before
            report.still_off = (report.still_off or 0) + _still_off(engine, entity, organization_id, to_fetch)
            if enqueue:
                for event_id, name in repaired.follow_up:
                    enqueue(event_id, name)
            if send_images and repaired.images:
                send_images(repaired.images)
            repaired.follow_up, repaired.images = [], []
        elif to_fetch and dry_run:
            report.would_repair += len(to_fetch)
        if progress:
            progress(len(page))
        renew()
    here_ids = _live_ids(engine, entity, organization_id)
    report.here_count = len(here_ids)
    report.gone_from_zoho = sorted(here_ids - seen)
    report.details = _details(engine, entity, organization_id, status_zoho)
    _delete_gone(engine, entity, organization_id, report, repair, dry_run)
    if repair:  # what the guard kept from deleting is still off
        report.still_off = (report.still_off or 0) + len(report.gone_from_zoho) - report.deleted
    if entity.name == "items":  # after the repair: the files the products have now
        report.details["images"] = images.coverage(settings, organization_id)


def _difference(entity: Entity, row: dict, stored) -> str | None:
    """Which kind of difference a list row shows against the stored ``(modified, raw)``
    (None: it matches). A row listed without a time (Zoho lists users and price lists so) is
    never stale: its listed fields alone decide between match and drift."""
    if stored is None:
        return "missing_here"
    modified, raw = stored
    listed = _listed_time(entity, row)
    if listed is None:
        return None if same_as_listed_untimed(row, raw) else "drift"
    if same_as_listed(entity, row, modified, raw):
        return None
    return "stale_here" if modified is None or listed > modified else "drift"


def _still_off(engine, entity: Entity, organization_id: str, rows: list[dict]) -> int:
    """After a repair wrote ``rows``: how many of them still differ from what is stored now
    (compared again, no Zoho call) — a record the repair could not write stays off."""
    by_id = {str(r[entity.id_field]): r for r in rows}
    with engine.connect() as conn:
        stored = {zid: (modified, raw) for zid, modified, raw in stored_versions(conn, entity, organization_id, by_id)}
    return sum(1 for zid, row in by_id.items() if _difference(entity, row, stored.get(zid)) is not None)


def same_as_listed_untimed(row: dict, stored_raw) -> bool:
    """For rows listed without a time (warehouses, users, price lists): every listed field
    equals the stored one."""
    return isinstance(stored_raw, dict) and all(stored_raw.get(k) == v for k, v in row.items() if k in stored_raw)


def _listed_time(entity: Entity, row: dict):
    from tds.mapping import MappingError, parse_zoho_time

    try:
        return parse_zoho_time(row.get(entity.modified_field))
    except MappingError:
        return None


def _delete_gone(engine, entity: Entity, organization_id: str, report: EntityReport, repair: bool,
                 dry_run: bool) -> None:
    gone = report.gone_from_zoho
    if not gone or not (repair or dry_run):
        return
    share = 100.0 * len(gone) / max(1, report.here_count)
    limit = _max_delete_percent()
    if share > limit:
        report.warnings.append(
            f"{len(gone)} of {report.here_count} {entity.name} ({share:.1f} %) are gone from Zoho, more than the "
            f"{limit:g} % a repair may delete (TDS_RECONCILE_MAX_DELETE_PERCENT): nothing deleted; check Zoho, "
            "then raise the limit for one run if the deletions are real")
        return
    if dry_run:
        report.would_delete = len(gone)
        return
    with engine.begin() as conn:
        report.deleted = sql_sink.soft_delete(conn, entity, organization_id, gone,
                                              changes.Origin("reconcile", sync_run_id=report.run_id))


_delete_limit: list[float] = []


def _max_delete_percent() -> float:
    from tds.config import get_settings

    return _delete_limit[-1] if _delete_limit else get_settings().reconcile_max_delete_percent


def _live_ids(engine, entity: Entity, organization_id: str) -> set[str]:
    tbl = sql_sink.table(entity.table)
    idcol = tbl.c[entity.zoho_id_column]
    with engine.connect() as conn:
        return set(conn.execute(sa.select(idcol).where(tbl.c.organization_id == organization_id,
                                                       tbl.c.deleted_at.is_(None))).scalars())


def _details(engine, entity: Entity, organization_id: str, status_zoho: dict[str, int]) -> dict:
    """Entity-specific figures: items by status and stock; price lists by their items."""
    tbl = sql_sink.table(entity.table)
    live = sa.and_(tbl.c.organization_id == organization_id, tbl.c.deleted_at.is_(None))
    out: dict = {}
    with engine.connect() as conn:
        if "status" in tbl.c:
            out["status"] = {"zoho": status_zoho, "here": dict(conn.execute(
                sa.select(tbl.c.status, sa.func.count()).where(live).group_by(tbl.c.status)).all())}
        if entity.name == "items":
            levels = sql_sink.table("stock_levels")
            per_warehouse = conn.execute(
                sa.select(levels.c.zoho_warehouse_id, sa.func.sum(levels.c.stock_on_hand))
                .join(tbl, tbl.c.id == levels.c.product_id).where(live).group_by(levels.c.zoho_warehouse_id)).all()
            out["stock_on_hand_per_warehouse_here"] = {w: str(q) for w, q in per_warehouse}
        if entity.name == "price_lists":
            items = sql_sink.table("price_list_items")
            out["items_per_price_list_here"] = dict(conn.execute(
                sa.select(tbl.c.zoho_pricebook_id, sa.func.count(items.c.id))
                .join(items, items.c.price_list_id == tbl.c.id, isouter=True).where(live)
                .group_by(tbl.c.zoho_pricebook_id)).all())
    return out


def reconcile(settings: Settings, entities: list[Entity], organization_ids: list[str], client, *,
              repair: bool = False, dry_run: bool = False, redis=None, enqueue=None, on_entity=None,
              progress_for=None) -> Report:
    """Reconcile every (organization, entity); an entity that fails or is locked is reported, and the rest go
    on — except after Zoho refused an organization's credentials: its other entities are reported not run
    (each would ask for a token again, and Zoho allows 10 refreshes per 10 minutes)."""
    started = utcnow()
    reports = []
    for org in organization_ids:
        refused = None
        for entity in entities:
            t0 = time.monotonic()
            if refused is not None:
                rep = EntityReport(entity.name, org, failed=f"not run: {refused.text}", reason=refused.reason,
                                   exit_code=int(refused.exit_code))
            else:
                try:
                    rep = reconcile_entity(settings, entity, org, client, repair=repair, dry_run=dry_run,
                                           redis=redis, enqueue=enqueue,
                                           progress=progress_for(entity, org) if progress_for else None)
                except runs.AlreadyRunning as exc:
                    rep = EntityReport(entity.name, org, warnings=[str(exc)], details={"locked": True})
                except Exception as exc:  # one entity's failure is reported, the rest still run
                    rep = EntityReport(entity.name, org)
                    if availability.is_unavailable(entity, exc):  # the organization does not have this module
                        rep.warnings.append(f"unavailable: {exc}")
                        rep.details["unavailable"] = True
                    else:
                        ended = outcome.of(exc)
                        rep.failed, rep.reason, rep.exit_code = ended.text, ended.reason, int(ended.exit_code)
                        if ended.reason == "zoho_auth":
                            refused = ended
            rep.details["seconds"] = round(time.monotonic() - t0, 2)
            reports.append(rep)
            if on_entity:
                on_entity(rep)
    return Report(reports, settings.reconcile_alert_percent, started.isoformat(), utcnow().isoformat())
