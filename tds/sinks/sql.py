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

Kept cheap for the worker, which calls :func:`write` for every event or batch of events:

* Statements are built once per (table, column set) and run with the rows as parameters
  (SQLAlchemy then reuses the compiled form), never rebuilt per call.
* Records found inside another record (the warehouses inside every item) are read first
  and upserted only when new or changed, as the last statement of the write:
  ``ON CONFLICT DO UPDATE`` locks the row even when its ``WHERE`` is false, and that
  lock, held until commit, would queue every worker writing an item of the same
  warehouse behind one another. Rows linked to one before it landed are backfilled.
* Foreign keys are resolved set-based: one statement per reference for the whole batch
  (on PostgreSQL the ``UPDATE … FROM`` and the search for what is still missing are one
  round trip).
* Only a row just inserted can be referenced by rows that arrived before it, so the
  backfill runs for inserted rows (PostgreSQL tells them by ``xmax = 0``); callers that
  write a record because something asked for it (a fetch) pass ``backfill_all=True``,
  as a referencing row may have been written concurrently with the target's insert.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tds import metrics, registry
from tds.db import dialect_insert, utcnow
from tds.models import metadata
from tds.registry import Entity, Mapped, Reference
from tds.sinks import changes


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
    # (entity, our ids of the rows written): their references to related rows are linked last
    parents: list[tuple[Entity, list[int]]] = field(default_factory=list, repr=False)

    def add(self, other: "WriteResult") -> None:
        self.written += other.written
        self.stale += other.stale
        self.applied_ids |= other.applied_ids
        self.missing |= other.missing
        self.parents += other.parents


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


#: Whether a version at Zoho time ``new`` wins over one at ``old`` (the rule of one write).
newer_or_same = _not_older


def write(conn: Connection, records: list[Mapped], origin: changes.Origin | changes.Origins | None = None,
          *, backfill_all: bool = True) -> WriteResult:
    """Upsert ``records`` (any mix of entities) inside the caller's transaction; what changed
    goes to the change log (:mod:`tds.sinks.changes`) in the same transaction, as caused by ``origin``
    (one for all, or one per ``(organization, Zoho id)``: a batch of inbox events).

    ``backfill_all``: fill the foreign keys pointing at every record written (the default);
    ``False`` does it for records newly inserted only, which is all a webhook needs."""
    result = WriteResult()
    related = _by_entity(r for rec in records for r in rec.related)
    deferred = frozenset(entity.name for entity in related)
    for entity, group in _by_entity(records).items():
        result.add(_write_entity(conn, entity, group, origin, backfill_all, deferred))
        if skipped := sum(rec.skipped for rec in group):
            metrics.CHILD_ROWS_SKIPPED.labels(entity.name).inc(skipped)
    # last: a related row written stays locked until commit, and every item of a warehouse
    # carries it, so writers of different items would queue behind one another on it. The
    # references to them are linked after (a row another transaction is inserting is waited
    # for by the upsert, and seen once it commits)
    for entity, group in related.items():
        _write_related(conn, entity, group)
    for entity, parent_ids in result.parents:
        for tbl, ref, scope_column in _references_of(entity):
            if ref.entity in deferred:
                result.missing |= _link(conn, tbl, ref, scope_column, parent_ids)
    return result


def _references_of(entity: Entity):
    """(table, reference, the column scoping it to the entity's rows) of a record and its children."""
    tbl = table(entity.table)
    for ref in entity.references:
        yield tbl, ref, tbl.c.id
    for child in entity.children:
        ctbl = table(child.table)
        for ref in child.references:
            yield ctbl, ref, ctbl.c[child.parent_column]


def _by_entity(records: Iterable[Mapped]) -> dict[Entity, list[Mapped]]:
    groups: dict[Entity, list[Mapped]] = defaultdict(list)
    for rec in records:
        groups[rec.entity].append(rec)
    return groups


def _write_related(conn: Connection, entity: Entity, records: list[Mapped]) -> None:
    """Records found inside another record (a warehouse inside an item detail) carry only
    some fields: insert them when new, and update only the fields they carry, and only when
    one of them changed (read first: an upsert would lock the row even when unchanged)."""
    tbl = table(entity.table)
    idcol = entity.zoho_id_column
    now = utcnow()
    recs = _newest_per_id(records)
    carried = {(rec.organization_id, rec.zoho_id): {k: v for k, v in rec.values.items() if v is not None}
               for rec in recs}
    columns = set().union(*carried.values()) if carried else set()
    before = changes.stored(conn, tbl, idcol, list(carried), columns)
    groups: dict[frozenset, list[dict]] = defaultdict(list)
    for (org, zid), values in carried.items():
        stored = before.get((org, zid))
        if stored is not None and all(k in stored and changes.same(stored[k], v) for k, v in values.items()):
            continue  # unchanged: not touched, not locked
        groups[frozenset(values)].append({"organization_id": org, idcol: zid, "synced_at": now, **values})
    inserted = set()
    for cols, rows in groups.items():
        inserted |= {row[1] for row in conn.execute(_related_upsert(conn, tbl, idcol, cols), rows) if row.inserted}
    _backfill(conn, entity, inserted)  # rows that arrived before it


_statements: dict[tuple, object] = {}


def _cached(key: tuple, build):
    """A statement built once per key (table, column set, dialect …); executed with the rows
    as parameters, SQLAlchemy compiles it once too."""
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = build()
    return stmt


def _inserted(conn: Connection):
    """``inserted`` in an upsert's RETURNING: on PostgreSQL a row just inserted has no xmax
    (one updated by the upsert has ours); elsewhere every row counts as inserted."""
    return (sa.literal_column("(xmax = 0)", sa.Boolean) if conn.dialect.name == "postgresql"
            else sa.true()).label("inserted")


def _related_upsert(conn: Connection, tbl: sa.Table, idcol: str, cols: frozenset):
    def build():
        stmt = dialect_insert(conn, tbl)
        return stmt.on_conflict_do_update(
            index_elements=["organization_id", idcol],
            set_={k: stmt.excluded[k] for k in cols},
            # a concurrent writer may have stored the same values since the read
            where=sa.or_(*(tbl.c[k].is_distinct_from(stmt.excluded[k]) for k in sorted(cols))),
        ).returning(tbl.c.id, tbl.c[idcol], _inserted(conn))  # RETURNING: one multi-row INSERT

    return _cached(("related", tbl.name, cols, conn.dialect.name), build)


def _entity_upsert(conn: Connection, tbl: sa.Table, idcol: str, columns: frozenset):
    def build():
        stmt = dialect_insert(conn, tbl)
        stored, incoming = tbl.c.zoho_last_modified_time, stmt.excluded.zoho_last_modified_time
        return stmt.on_conflict_do_update(
            index_elements=["organization_id", idcol],
            set_={col: stmt.excluded[col] for col in columns},
            # a version without a time never overwrites one with a time (entities Zoho gives
            # no time at all are stored without one, and are always overwritten)
            where=sa.or_(stored.is_(None), sa.and_(incoming.is_not(None), stored <= incoming)),
        ).returning(tbl.c.id, tbl.c.organization_id, tbl.c[idcol], _inserted(conn))

    return _cached(("entity", tbl.name, columns, conn.dialect.name), build)


def _write_entity(conn: Connection, entity: Entity, records: list[Mapped],
                  origin: changes.Origin | changes.Origins | None = None, backfill_all: bool = True,
                  deferred: frozenset[str] = frozenset()) -> WriteResult:
    """Upsert one entity's records with their children; references to entities in
    ``deferred`` (related rows written after) are left to the caller to link."""
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
    applied: dict[tuple[str, str], int] = {}
    inserted: set[str] = set()
    for row in conn.execute(_entity_upsert(conn, tbl, idcol, frozenset(columns)), rows):
        applied[(row.organization_id, row[2])] = row.id
        if row.inserted:
            inserted.add(row[2])

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
        for ref_tbl, ref, scope_column in _references_of(entity):
            if ref.entity not in deferred:
                result.missing |= _link(conn, ref_tbl, ref, scope_column, parent_ids)
        result.parents.append((entity, parent_ids))
        _backfill(conn, entity, result.applied_ids if backfill_all else inserted)
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
    kept: list[tuple[int, str]] = []  # (parent id, child key) of the children sent again
    emptied: list[int] = []  # parents sent with no children at all
    for parent_id, rec in parents:
        if child.table not in rec.children:
            continue  # the record did not carry these children: keep what is stored
        new_rows = rec.children[child.table]
        if not new_rows:
            emptied.append(parent_id)
            continue
        seen = set()
        for r in new_rows:
            if r[child.key] in seen:
                continue  # Zoho ids are unique within a parent; keep the first if not
            seen.add(r[child.key])
            kept.append((parent_id, r[child.key]))
            row = {"organization_id": rec.organization_id, child.parent_column: parent_id, **r,
                   **{ref.column: None for ref in child.references}}  # filled again from the Zoho ids
            if has_synced_at:
                row["synced_at"] = now
            rows.append(row)
    parent_col, key_col = ctbl.c[child.parent_column], ctbl.c[child.key]
    if emptied:
        conn.execute(sa.delete(ctbl).where(parent_col.in_(emptied)))
    if kept:  # the children a parent no longer has, for every parent in one statement
        for start in range(0, len(kept), 500):
            part = kept[start : start + 500]
            conn.execute(sa.delete(ctbl).where(parent_col.in_(sorted({p for p, _ in part})),
                                               sa.tuple_(parent_col, key_col).not_in(part)))
    if not rows:
        return
    columns = set().union(*(r.keys() for r in rows))
    for row in rows:
        for col in columns:
            row.setdefault(col, None)

    def build():
        stmt = dialect_insert(conn, ctbl)
        return stmt.on_conflict_do_update(
            index_elements=[child.parent_column, child.key],
            set_={c: stmt.excluded[c] for c in columns - {child.parent_column, child.key}},
        ).returning(ctbl.c.id)  # with RETURNING, SQLAlchemy sends the rows as one multi-row INSERT

    conn.execute(_cached(("children", ctbl.name, frozenset(columns), conn.dialect.name), build), rows)


def _link(conn: Connection, tbl: sa.Table, ref: Reference, scope_column: sa.Column, scope: list
          ) -> set[MissingReference]:
    """Fill ``ref.column`` from ``ref.zoho_column`` for rows whose ``scope_column`` is in
    ``scope``; return the references still missing (of entities TDS can fetch by id).

    On PostgreSQL one round trip: ``WITH linked AS (UPDATE … FROM target …) SELECT`` the
    unlinked rows without a target. Both parts see the same snapshot, so what the select
    finds is exactly what the update could not fill."""
    target_entity = registry.get(ref.entity)
    fetchable = bool(target_entity.detail_path)
    if not scope:
        return set()
    key = ("link", tbl.name, ref.column, scope_column.name, fetchable, conn.dialect.name)
    stmt = _cached(key, lambda: (_link_statement_pg if conn.dialect.name == "postgresql" else _link_statements)(
        tbl, ref, target_entity, scope_column, fetchable))
    if conn.dialect.name == "postgresql":
        found = conn.execute(stmt, {"scope": list(scope)})
    else:
        update, still = stmt
        conn.execute(update, {"scope": list(scope)})
        found = conn.execute(still, {"scope": list(scope)}) if still is not None else ()
    return {MissingReference(ref.entity, org, zid) for org, zid in found} if fetchable else set()


def _unlinked(tbl: sa.Table, ref: Reference, scope_column: sa.Column):
    return sa.and_(scope_column.in_(sa.bindparam("scope", expanding=True)), tbl.c[ref.column].is_(None),
                   tbl.c[ref.zoho_column].is_not(None))


def _link_statement_pg(tbl, ref, target_entity, scope_column, fetchable):
    target = table(target_entity.table).alias("link_target")
    tzid = target.c[target_entity.zoho_id_column]
    unlinked = _unlinked(tbl, ref, scope_column)
    update = (sa.update(tbl)
              .where(unlinked, target.c.organization_id == tbl.c.organization_id, tzid == tbl.c[ref.zoho_column])
              .values({ref.column: target.c.id}))
    if not fetchable:
        return update
    missing_target = table(target_entity.table).alias("missing_target")
    has_target = sa.exists().where(missing_target.c.organization_id == tbl.c.organization_id,
                                   missing_target.c[target_entity.zoho_id_column] == tbl.c[ref.zoho_column])
    linked = update.returning(tbl.c.id).cte("linked")
    return (sa.select(tbl.c.organization_id, tbl.c[ref.zoho_column]).where(unlinked, ~has_target)
            .distinct().add_cte(linked))


def _link_statements(tbl, ref, target_entity, scope_column, fetchable):
    target = table(target_entity.table)
    match = (
        sa.select(target.c.id)
        .where(target.c.organization_id == tbl.c.organization_id)
        .where(target.c[target_entity.zoho_id_column] == tbl.c[ref.zoho_column])
        .scalar_subquery()
    )
    unlinked = _unlinked(tbl, ref, scope_column)
    update = sa.update(tbl).where(unlinked).values({ref.column: match})
    still = sa.select(tbl.c.organization_id, tbl.c[ref.zoho_column]).where(unlinked).distinct() if fetchable else None
    return update, still


def _backfill(conn: Connection, entity: Entity, zoho_ids: set[str]) -> None:
    """Rows that referenced these records before they landed get their foreign key now."""
    if not zoho_ids:
        return
    for tbl_name, ref in _reverse_references().get(entity.name, ()):
        tbl = table(tbl_name)
        _link_only(conn, tbl, ref, list(zoho_ids))


def _link_only(conn: Connection, tbl: sa.Table, ref: Reference, zoho_ids: list[str]) -> None:
    """Fill ``ref.column`` of the rows naming these Zoho ids (nothing is looked for as missing:
    these ids were just written)."""
    target_entity = registry.get(ref.entity)
    scope_column = tbl.c[ref.zoho_column]

    def build():
        if conn.dialect.name == "postgresql":
            return _link_statement_pg(tbl, ref, target_entity, scope_column, False)
        return _link_statements(tbl, ref, target_entity, scope_column, False)[0]

    conn.execute(_cached(("backfill", tbl.name, ref.column, conn.dialect.name), build), {"scope": zoho_ids})


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


def live_versions(conn: Connection, entity: Entity, organization_id: str, zoho_id: str) -> list:
    """The Zoho time of the live row of this record here (a list of one, or empty)."""
    tbl = table(entity.table)
    return list(conn.execute(sa.select(tbl.c.zoho_last_modified_time).where(
        tbl.c.organization_id == organization_id, tbl.c[entity.zoho_id_column] == zoho_id,
        tbl.c.deleted_at.is_(None))).scalars())


def soft_delete(conn: Connection, entity: Entity, organization_id: str, zoho_ids: Iterable[str],
                origin: changes.Origin | None = None, not_newer_than=None) -> int:
    """Zoho no longer has these records: mark them deleted (never a hard delete) and drop
    their child rows (lines and the like belong to the document; its raw record stays in
    ``zoho_metadata``). Returns how many were marked.

    ``not_newer_than``: the Zoho time the deletion was announced at; a row stored at a newer
    version is left alone (the stale-write rule, inside the statement)."""
    ids = list(zoho_ids)
    if not ids:
        return 0
    tbl = table(entity.table)
    live = sa.and_(tbl.c.organization_id == organization_id, tbl.c[entity.zoho_id_column].in_(ids),
                   tbl.c.deleted_at.is_(None))
    if not_newer_than is not None:
        stored = tbl.c.zoho_last_modified_time
        live = sa.and_(live, sa.or_(stored.is_(None), stored <= not_newer_than))
    chosen = sa.select(tbl.c.id, tbl.c[entity.zoho_id_column]).where(live)
    if not_newer_than is not None:  # an upsert racing this one waits, then applies only if newer
        chosen = chosen.with_for_update()
    found = conn.execute(chosen).fetchall()
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
