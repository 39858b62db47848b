"""Writes mapped Zoho records into the SQL ERP tables.

The stale-write guard lives in the upsert itself: one ``INSERT … ON CONFLICT DO UPDATE …
WHERE stored.zoho_last_modified_time <= incoming.zoho_last_modified_time`` per batch. Two
workers applying an old webhook and a newer full-sync page in any order, or a webhook that
arrives after a sync that already wrote a later version, cannot put older data over
newer: the database decides, in one statement, with Zoho's time compared to Zoho's time.

Entities that share one Zoho list and are told apart by a field (contacts: customers and
vendors by ``contact_type``) are siblings: a record written as one is soft-deleted in the
others, and a late, older version cannot move it back.

Children (line items, stock levels, contact persons) are replaced with their parent in the
same transaction, keyed by Zoho's id, only when the parent write was applied. References to
rows that are not here yet keep the Zoho id with a NULL foreign key; the foreign key is
filled as soon as the referenced row lands, from either side.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds import changes, registry
from tds.db import dialect_insert, utcnow
from tds.mapping import Mapped
from tds.models import metadata
from tds.registry import Entity, Reference


@dataclass(frozen=True)
class MissingReference:
    entity: str
    organization_id: str
    zoho_id: str


@dataclass
class WriteResult:
    written: int = 0  # rows inserted or updated
    stale: int = 0  # rows skipped because the stored version is newer
    applied_ids: set[str] = field(default_factory=set)
    missing: set[MissingReference] = field(default_factory=set)

    def add(self, other: "WriteResult") -> None:
        self.written += other.written
        self.stale += other.stale
        self.applied_ids |= other.applied_ids
        self.missing |= other.missing


def table(name: str) -> sa.Table:
    return metadata.tables[name]


def _newest_per_id(records: Iterable[Mapped]) -> list[Mapped]:
    """One record per Zoho id (an upsert cannot touch one row twice), the newest winning."""
    chosen: dict[tuple[str, str], Mapped] = {}
    for rec in records:
        key = (rec.organization_id, rec.zoho_id)
        old = chosen.get(key)
        if old is None or _not_older(rec.modified, old.modified):
            chosen[key] = rec
    return list(chosen.values())


def _not_older(new, old) -> bool:
    if new is None:
        return old is None
    return old is None or new >= old


def write(conn: Connection, records: list[Mapped], origin: changes.Origin | None = None) -> WriteResult:
    """Upsert ``records`` (any mix of entities) inside the caller's transaction; what changed
    goes to the change log (:mod:`tds.changes`) in the same transaction, as caused by ``origin``."""
    result = WriteResult()
    related = [r for rec in records for r in rec.related]
    for entity, group in _by_entity(related).items():
        _write_related(conn, entity, group)
    for entity, group in _by_entity(records).items():
        result.add(_write_entity(conn, entity, group, origin))
    return result


def _by_entity(records: Iterable[Mapped]) -> dict[Entity, list[Mapped]]:
    groups: dict[Entity, list[Mapped]] = defaultdict(list)
    for rec in records:
        groups[rec.entity].append(rec)
    return groups


def _write_related(conn: Connection, entity: Entity, records: list[Mapped]) -> None:
    """Records found inside another record (a warehouse inside an item detail) carry only
    some fields: insert them when new, and update only the fields they carry."""
    tbl = table(entity.table)
    now = utcnow()
    for rec in _newest_per_id(records):
        values = {k: v for k, v in rec.values.items() if v is not None}
        row = {"organization_id": rec.organization_id, entity.zoho_id_column: rec.zoho_id, "synced_at": now, **values}
        stmt = dialect_insert(conn, tbl).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["organization_id", entity.zoho_id_column],
            set_={k: stmt.excluded[k] for k in values},
        )
        conn.execute(stmt)


def _write_entity(conn: Connection, entity: Entity, records: list[Mapped], origin: changes.Origin | None = None
                  ) -> WriteResult:
    tbl = table(entity.table)
    idcol = entity.zoho_id_column
    now = utcnow()
    records = _newest_per_id(records)
    siblings = registry.siblings(entity)
    superseded = 0
    if siblings:
        before = len(records)
        records = _not_superseded(conn, siblings, records)
        superseded = before - len(records)
    if not records:
        return WriteResult(stale=superseded)
    rows = [
        {
            "organization_id": rec.organization_id,
            idcol: rec.zoho_id,
            **rec.values,
            "zoho_last_modified_time": rec.modified,
            "synced_at": now,
            "deleted_at": None,
            "zoho_metadata": rec.raw,
            # foreign keys are cleared and filled again from the Zoho ids below, in this
            # transaction, so a document moved to another customer never keeps the old one
            **{ref.column: None for ref in entity.references},
        }
        for rec in records
    ]
    columns = set().union(*(r.keys() for r in rows)) - {"organization_id", idcol}
    for row in rows:  # a multi-row INSERT needs the same keys in every row
        for col in columns:
            row.setdefault(col, None)
    before = changes.stored(conn, tbl, idcol, [(r.organization_id, r.zoho_id) for r in records], columns)
    stmt = dialect_insert(conn, tbl).values(rows)
    stored, incoming = tbl.c.zoho_last_modified_time, stmt.excluded.zoho_last_modified_time
    stmt = stmt.on_conflict_do_update(
        index_elements=["organization_id", idcol],
        set_={col: stmt.excluded[col] for col in columns},
        # a version without a time never overwrites one with a time (entities Zoho gives
        # no time at all are stored without one, and are always overwritten)
        where=sa.or_(stored.is_(None), sa.and_(incoming.is_not(None), stored <= incoming)),
    ).returning(tbl.c.id, tbl.c.organization_id, tbl.c[idcol])
    applied = {(row.organization_id, row[2]): row.id for row in conn.execute(stmt)}

    relinked = frozenset(ref.column for ref in entity.references)  # cleared and filled again below
    changes.record(conn, entity.name, origin, [
        (row["organization_id"], row[idcol], *found) for row in rows
        if (row["organization_id"], row[idcol]) in applied
        and (found := changes.diff(before.get((row["organization_id"], row[idcol])), row, relinked))
    ])
    result = WriteResult(written=len(applied), stale=len(records) - len(applied) + superseded)
    result.applied_ids = {zid for (_org, zid) in applied}
    if siblings and applied:
        _retire_in_siblings(conn, siblings, list(applied), now)
    applied_recs = [rec for rec in records if (rec.organization_id, rec.zoho_id) in applied]
    for child in entity.children:
        _replace_children(conn, child, [(applied[(r.organization_id, r.zoho_id)], r) for r in applied_recs])
    parent_ids = list(applied.values())
    if parent_ids:
        for ref in entity.references:
            result.missing |= _link(conn, tbl, ref, tbl.c.id.in_(parent_ids))
        for child in entity.children:
            ctbl = table(child.table)
            for ref in child.references:
                result.missing |= _link(conn, ctbl, ref, ctbl.c[child.parent_column].in_(parent_ids))
        _backfill(conn, entity, result.applied_ids)
    return result


def _sibling_versions(conn: Connection, sibling: Entity, keys: list[tuple[str, str]]):
    stbl = table(sibling.table)
    sid = stbl.c[sibling.zoho_id_column]
    for org in {org for org, _ in keys}:
        ids = [zid for o, zid in keys if o == org]
        stmt = sa.select(sid, stbl.c.zoho_last_modified_time).where(
            stbl.c.organization_id == org, sid.in_(ids), stbl.c.deleted_at.is_(None)
        )
        for zid, modified in conn.execute(stmt):
            yield org, zid, modified


def _not_superseded(conn: Connection, siblings: tuple[Entity, ...], records: list[Mapped]) -> list[Mapped]:
    """Drop records a sibling entity already holds in a newer version.

    A contact that became a vendor at 10:05 must not be dragged back into customers by a
    customer webhook of 10:00 that arrives late: the time comparison crosses the tables.
    """
    keys = [(r.organization_id, r.zoho_id) for r in records]
    newest: dict[tuple[str, str], object] = {}
    for sibling in siblings:
        for org, zid, modified in _sibling_versions(conn, sibling, keys):
            if modified is not None and (newest.get((org, zid)) is None or modified > newest[(org, zid)]):
                newest[(org, zid)] = modified
    return [
        r for r in records
        if not (r.modified is not None and newest.get((r.organization_id, r.zoho_id)) is not None
                and newest[(r.organization_id, r.zoho_id)] > r.modified)
    ]


def _retire_in_siblings(conn: Connection, siblings: tuple[Entity, ...], keys: list[tuple[str, str]], now) -> None:
    """The records just written belong here now: soft-delete them in their sibling tables."""
    for sibling in siblings:
        stbl = table(sibling.table)
        sid = stbl.c[sibling.zoho_id_column]
        for org in {org for org, _ in keys}:
            ids = [zid for o, zid in keys if o == org]
            conn.execute(
                sa.update(stbl)
                .where(stbl.c.organization_id == org, sid.in_(ids), stbl.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )


def _replace_children(conn: Connection, child: registry.Child, parents: list[tuple[int, Mapped]]) -> None:
    ctbl = table(child.table)
    has_synced_at = "synced_at" in ctbl.c
    now = utcnow()
    rows = []
    for parent_id, rec in parents:
        if child.table not in rec.children:
            continue  # the record did not carry these children: keep what is stored
        new_rows = rec.children[child.table]
        keys = [r[child.key] for r in new_rows]
        delete = sa.delete(ctbl).where(ctbl.c[child.parent_column] == parent_id)
        if keys:
            delete = delete.where(ctbl.c[child.key].not_in(keys))
        conn.execute(delete)
        seen = set()
        for r in new_rows:
            if r[child.key] in seen:
                continue  # Zoho ids are unique within a parent; keep the first if not
            seen.add(r[child.key])
            row = {"organization_id": rec.organization_id, child.parent_column: parent_id, **r,
                   **{ref.column: None for ref in child.references}}  # filled again from the Zoho ids
            if has_synced_at:
                row["synced_at"] = now
            rows.append(row)
    if not rows:
        return
    columns = set().union(*(r.keys() for r in rows))
    for row in rows:
        for col in columns:
            row.setdefault(col, None)
    for start in range(0, len(rows), 500):
        stmt = dialect_insert(conn, ctbl).values(rows[start : start + 500])
        stmt = stmt.on_conflict_do_update(
            index_elements=[child.parent_column, child.key],
            set_={c: stmt.excluded[c] for c in columns - {child.parent_column, child.key}},
        )
        conn.execute(stmt)


def _link(conn: Connection, tbl: sa.Table, ref: Reference, scope) -> set[MissingReference]:
    """Fill ``ref.column`` from ``ref.zoho_column`` for rows in ``scope``; return what is missing."""
    target_entity = registry.get(ref.entity)
    target = table(target_entity.table)
    match = (
        sa.select(target.c.id)
        .where(target.c.organization_id == tbl.c.organization_id)
        .where(target.c[target_entity.zoho_id_column] == tbl.c[ref.zoho_column])
        .scalar_subquery()
    )
    unlinked = sa.and_(scope, tbl.c[ref.column].is_(None), tbl.c[ref.zoho_column].is_not(None))
    conn.execute(sa.update(tbl).where(unlinked).values({ref.column: match}))
    if not target_entity.detail_path:
        return set()
    still = conn.execute(sa.select(tbl.c.organization_id, tbl.c[ref.zoho_column]).where(unlinked).distinct())
    return {MissingReference(ref.entity, org, zid) for org, zid in still}


def _backfill(conn: Connection, entity: Entity, zoho_ids: set[str]) -> None:
    """Rows that referenced these records before they landed get their foreign key now."""
    if not zoho_ids:
        return
    for tbl_name, ref in _reverse_references().get(entity.name, ()):
        tbl = table(tbl_name)
        _link(conn, tbl, ref, tbl.c[ref.zoho_column].in_(list(zoho_ids)))


_reverse_cache: dict[str, list[tuple[str, Reference]]] | None = None


def _reverse_references() -> dict[str, list[tuple[str, Reference]]]:
    global _reverse_cache
    if _reverse_cache is None:
        rev: dict[str, list[tuple[str, Reference]]] = defaultdict(list)
        for e in registry.ENTITIES:
            for ref in e.references:
                rev[ref.entity].append((e.table, ref))
            for child in e.children:
                for ref in child.references:
                    rev[ref.entity].append((child.table, ref))
        _reverse_cache = dict(rev)
    return _reverse_cache


def soft_delete(conn: Connection, entity: Entity, organization_id: str, zoho_ids: Iterable[str],
                origin: changes.Origin | None = None) -> int:
    """Zoho no longer has these records: mark them deleted (never a hard delete) and drop
    their child rows (lines and the like belong to the document; its raw record stays in
    ``zoho_metadata``). Returns how many were marked."""
    ids = list(zoho_ids)
    if not ids:
        return 0
    tbl = table(entity.table)
    live = sa.and_(tbl.c.organization_id == organization_id, tbl.c[entity.zoho_id_column].in_(ids),
                   tbl.c.deleted_at.is_(None))
    found = conn.execute(sa.select(tbl.c.id, tbl.c[entity.zoho_id_column]).where(live)).fetchall()
    parent_ids = [row[0] for row in found]
    if not parent_ids:
        return 0
    now = utcnow()
    changes.record(conn, entity.name, origin, [(organization_id, row[1], "deleted",
                                                {"deleted_at": [None, now.isoformat()]}) for row in found])
    for child in entity.children:
        ctbl = table(child.table)
        conn.execute(sa.delete(ctbl).where(ctbl.c[child.parent_column].in_(parent_ids)))
    return conn.execute(sa.update(tbl).where(tbl.c.id.in_(parent_ids)).values(deleted_at=now)).rowcount


class SqlDestination:
    """The ERP database as a :class:`tds.sinks.base.Destination`: every entity, written by
    :func:`write` (which callers may keep calling directly)."""

    name = "erp"

    def accepts(self, entity: Entity) -> bool:
        return True

    def write(self, conn: Connection, records: list[Mapped]) -> WriteResult:
        return write(conn, records)
