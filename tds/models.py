"""The schema: TDS's operational tables (``tds_*``), and the helpers the mirrored tables use.

Every mirrored ERP table is declared next to its mapper, in a module of :mod:`tds.mappers`
(``tds/mappers/documents.py`` holds ``invoices`` and ``invoice_line_items``), with
:func:`mirrored_table`, :func:`child_table` and :func:`fk` from here. Those helpers also
write down what the sinks and the registry need to know, so it is said once, in the table:

- ``Table.info["zoho_id_column"]`` on a mirrored table: the column holding the Zoho id.
- ``Table.info["parent_table"]``, ``["parent_column"]`` and ``["key"]`` on a child table:
  the row it belongs to, our foreign key to it, and the child's Zoho key within it.
- ``Column.info["zoho_column"]`` on a foreign key to another mirrored row: the Zoho id
  column it is filled from (an invoice's ``customer_id`` follows ``zoho_customer_id``).

``info`` is not part of the schema: migrations and ``compare_metadata`` do not see it.

Every mirrored table has ``organization_id``, ``zoho_<thing>_id`` (unique together with the
organization), ``zoho_last_modified_time`` (Zoho's own time, compared only with Zoho's time),
``synced_at``, ``deleted_at`` (deletes are soft) and ``zoho_metadata`` (the raw Zoho
record). Money and quantities are Numeric, never float.

Importing this module loads every mapper module (at its end), so ``metadata`` holds every
table whoever imports it first: Alembic's ``env.py``, the tests, the sinks. For that to hold
in any import order, a mapper module imports only :mod:`tds.mapping` and this module, never
another mapper module nor the registry.
"""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa

from tds.db import BigId, JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


def _pk() -> sa.Column:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _org() -> sa.Column:
    return sa.Column("organization_id", sa.String(32), nullable=False)


def fk(name: str, target: str, zoho: str) -> sa.Column:
    """Our foreign key to a row of the mirrored table ``target``, filled from the Zoho id in
    column ``zoho`` (NULL while the target has not landed; the Zoho id is always kept)."""
    return sa.Column(name, BigId, sa.ForeignKey(f"{target}.id", ondelete="SET NULL"), index=True,
                     info={"zoho_column": zoho})


def zoho_ref(name: str) -> sa.Column:
    """A Zoho id kept for reference (optional)."""
    return sa.Column(name, sa.String(32), index=True)


def strings(**lengths: int) -> list[sa.Column]:
    """Optional text columns by name and length: ``strings(city=100, country=100)``."""
    return [sa.Column(name, sa.String(length)) for name, length in lengths.items()]


def mirrored_table(name: str, zoho_id_column: str, *columns) -> sa.Table:
    """A table mirroring one Zoho entity, with the columns every mirror shares."""
    return sa.Table(
        name,
        metadata,
        _pk(),
        _org(),
        sa.Column(zoho_id_column, sa.String(32), nullable=False),
        *columns,
        sa.Column("zoho_last_modified_time", UTCDateTime(), index=True),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("zoho_metadata", JSONType),
        # what this version left out (child rows skipped, child fields stored as NULL), or NULL
        sa.Column("tds_note", sa.Text()),
        sa.UniqueConstraint("organization_id", zoho_id_column),
        sa.Index(f"ix_{name}_{zoho_id_column}", zoho_id_column),
        info={"zoho_id_column": zoho_id_column},
    )


def child_table(name: str, parent_column: str, parent_table: str, key: str, *columns) -> sa.Table:
    """Rows that belong to one parent row and are replaced with it (line items)."""
    return sa.Table(
        name,
        metadata,
        _pk(),
        _org(),
        sa.Column(parent_column, BigId, sa.ForeignKey(f"{parent_table}.id", ondelete="CASCADE"), nullable=False),
        sa.Column(key, sa.String(64), nullable=False),
        *columns,
        sa.UniqueConstraint(parent_column, key),
        sa.Index(f"ix_{name}_{key}", key),
        info={"parent_table": parent_table, "parent_column": parent_column, "key": key},
    )


# ---------------------------------------------------------------- operational tables

inbox_events = sa.Table(
    "tds_inbox_events",
    metadata,
    _pk(),
    sa.Column("dedup_key", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(16), nullable=False),  # webhook | fetch | replay
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("organization_id", sa.String(32), nullable=False),
    sa.Column("zoho_id", sa.String(64), nullable=False),
    sa.Column("zoho_last_modified_time", UTCDateTime()),
    sa.Column("content_type", sa.String(100)),
    sa.Column("body", sa.Text()),  # the raw request body, parsed again by the worker
    sa.Column("headers", JSONType),  # only the headers that matter (never the token)
    sa.Column("status", sa.String(16), nullable=False),  # received|processing|retrying|waiting|done|dead
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text()),
    sa.Column("attempt_log", JSONType),  # every failed attempt: time and error
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("enqueued_at", UTCDateTime()),
    sa.Column("claimed_at", UTCDateTime()),  # when the attempt holding it began (its lease)
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("processed_at", UTCDateTime()),
    sa.Index("ix_tds_inbox_events_status_received_at", "status", "received_at"),
    sa.Index("ix_tds_inbox_events_entity_org_zoho_id", "entity", "organization_id", "zoho_id"),
)

dead_letters = sa.Table(
    "tds_dead_letters",
    metadata,
    _pk(),
    sa.Column("inbox_event_id", BigId, sa.ForeignKey("tds_inbox_events.id", ondelete="SET NULL"), index=True),
    sa.Column("task_name", sa.String(100), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False, index=True),
    sa.Column("organization_id", sa.String(32)),
    sa.Column("zoho_id", sa.String(64)),
    sa.Column("payload", JSONType),
    sa.Column("error_class", sa.String(100), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("attempts", JSONType, nullable=False),  # every attempt: time, error
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("replayed_at", UTCDateTime()),
    sa.Column("replay_count", sa.Integer(), nullable=False, server_default="0"),
)


def _per_entity_table(name: str, *columns) -> sa.Table:
    """Bookkeeping kept per organization and entity (the registry name)."""
    return sa.Table(name, metadata, _pk(), _org(), sa.Column("entity", sa.String(40), nullable=False), *columns)


sync_state = _per_entity_table(
    "tds_sync_state",
    sa.Column("cursor", UTCDateTime()),  # newest Zoho last_modified_time seen
    sa.Column("last_full_sync_at", UTCDateTime()),
    sa.Column("last_incremental_sync_at", UTCDateTime()),
    sa.Column("last_reconcile_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # ``available``, or ``unavailable``: the organization's list answered not found, module
    # not enabled or a scope error (Zoho's code and message kept); retried every full run
    sa.Column("status", sa.String(16), nullable=False, server_default="available"),
    sa.Column("unavailable_code", sa.String(64)),
    sa.Column("unavailable_reason", sa.Text()),
    sa.Column("unavailable_since", UTCDateTime()),
    sa.UniqueConstraint("organization_id", "entity"),
)

sync_runs = _per_entity_table(
    "tds_sync_runs",
    sa.Column("mode", sa.String(16), nullable=False),  # full | incremental | reconcile
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | succeeded | failed | aborted | skipped | unavailable | deferred
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("heartbeat_at", UTCDateTime()),  # renewed after every page
    sa.Column("holder", sa.String(200)),  # host:pid of the process running it
    sa.Column("params", JSONType),  # what was asked for (entities, since, repair, dry run …)
    sa.Column("records_seen", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("records_written", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("records_unchanged", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("records_failed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("records_deleted", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("api_calls", sa.Integer(), nullable=False, server_default="0"),  # retries not counted
    sa.Column("report", JSONType),  # a reconcile's findings
    sa.Column("error", sa.Text()),
    sa.Column("reason", sa.String(32)),  # why it did not succeed: zoho_auth, zoho, rate_limit, quota … (tds.sync.outcome)
    sa.Column("retry_at", UTCDateTime()),  # a deferred run: when it tries again
    sa.Index("ix_tds_sync_runs_org_entity_started", "organization_id", "entity", "started_at"),
)


# ---------------------------------------------------------------- Odoo, the second destination
# What was sent to Odoo and what happened there (tds.sinks.odoo.destination writes these, tds.odoo reads them).


def _odoo_log_table(name: str, *columns) -> sa.Table:
    """One line per product and event, newest found by ``at``."""
    return sa.Table(
        name, metadata, _pk(), _org(),
        sa.Column("zoho_item_id", sa.String(32), nullable=False, index=True),
        sa.Column("odoo_template_id", sa.Integer()),
        *columns,
        sa.Column("at", UTCDateTime(), nullable=False, index=True),
    )


odoo_products = sa.Table(
    "tds_odoo_products",
    metadata,
    _pk(),
    _org(),
    sa.Column("zoho_item_id", sa.String(32), nullable=False),
    sa.Column("odoo_template_id", sa.Integer(), nullable=False),
    sa.Column("odoo_product_id", sa.Integer()),  # the template's variant
    sa.Column("checksum", sa.String(64), nullable=False),  # sha256 of the values sent
    sa.Column("sent_values", JSONType, nullable=False),  # Odoo field → value, as last sent
    sa.Column("image_sha256", sa.String(64)),  # of the image last uploaded
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("pushed_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "zoho_item_id"),
)

odoo_changes = _odoo_log_table(
    "tds_odoo_changes",
    sa.Column("action", sa.String(16), nullable=False),  # create | update | archive | unarchive
    sa.Column("fields", JSONType, nullable=False),  # Odoo field → value sent
)

odoo_conflicts = _odoo_log_table(
    "tds_odoo_conflicts",
    sa.Column("fields", JSONType, nullable=False),  # Odoo field → {"odoo": old, "zoho": new}
)

odoo_images = _odoo_log_table(
    "tds_odoo_images",
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.Integer(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
)

odoo_runs = sa.Table(
    "tds_odoo_runs",
    metadata,
    _pk(),
    sa.Column("trigger", sa.String(16), nullable=False),  # schedule | webhook | cli
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime()),
    *(sa.Column(name, sa.Integer(), nullable=False, server_default="0")
      for name in ("seen", "created", "updated", "unchanged", "archived", "conflicts", "images", "failed",
                   "odoo_calls")),
    sa.Column("error", sa.Text()),
)


product_images = sa.Table(
    # The image file kept for each product (:mod:`tds.sync.images`): which Zoho image reference it
    # answers, and its sha256, so an unchanged image is never written twice.
    "tds_product_images",
    metadata,
    _pk(),
    _org(),
    sa.Column("zoho_item_id", sa.String(32), nullable=False),
    sa.Column("zoho_image_document_id", sa.String(64)),  # the reference last handled; NULL: none
    sa.Column("image_name", sa.String(255)),
    sa.Column("file_name", sa.String(64)),  # under TDS_IMAGE_DIR/products; NULL: no file
    sa.Column("content_type", sa.String(32)),
    sa.Column("sha256", sa.String(64)),
    sa.Column("size_bytes", sa.Integer()),
    sa.Column("downloaded_at", UTCDateTime()),  # the file last (re)written
    sa.Column("checked_at", UTCDateTime()),  # last compared with Zoho
    sa.Column("error", sa.Text()),  # why the last download was refused; NULL after a success
    sa.UniqueConstraint("organization_id", "zoho_item_id"),
)


events = sa.Table(
    # Named events (:mod:`tds.hooks`): ``tds.zoho.sync.started`` and the like, with what they
    # carry; purged after ``TDS_EVENT_RETENTION_DAYS``.
    "tds_events",
    metadata,
    _pk(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("organization_id", sa.String(32)),
    sa.Column("entity", sa.String(40)),
    sa.Column("payload", JSONType),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_tds_events_name_created_at", "name", "created_at"),
    sa.Index("ix_tds_events_created_at", "created_at"),
)

change_log = sa.Table(
    # Every change a write made to a mirrored row (:mod:`tds.sinks.changes`): which columns, from
    # what to what, and what caused it. Written in the upsert's transaction.
    "tds_change_log",
    metadata,
    _pk(),
    _org(),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("zoho_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),  # created | updated | deleted
    sa.Column("changes", JSONType),  # {column: [old, new]} (created: [null, new])
    sa.Column("source", sa.String(16), nullable=False),  # webhook | fetch | sync | reconcile | replay
    sa.Column("inbox_event_id", BigId),  # no foreign key: the log outlives purged events
    sa.Column("sync_run_id", BigId),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_tds_change_log_entity_zoho_id", "entity", "zoho_id"),
    sa.Index("ix_tds_change_log_created_at", "created_at"),
)

alerts = sa.Table(
    # One row per alert that has ever opened (:mod:`tds.ops.alerts`); ``cleared_at`` NULL: open.
    "tds_alerts",
    metadata,
    _pk(),
    sa.Column("key", sa.String(160), nullable=False),  # kind:organization:entity
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),  # warning | critical
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("last_notified_at", UTCDateTime(), nullable=False),
    sa.Column("cleared_at", UTCDateTime()),
    sa.Index("ix_tds_alerts_key_cleared_at", "key", "cleared_at"),
)


# ---------------------------------------------------------------- mirrored ERP tables
# Last, once the helpers above exist: a mapper module imported first stops at its import of
# this module, and by then every name it asks for here is defined.
from tds import mappers as _mappers  # noqa: E402

for _module in pkgutil.iter_modules(_mappers.__path__):
    importlib.import_module(f"{_mappers.__name__}.{_module.name}")
