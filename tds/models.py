"""The schema: TDS's operational tables (``tds_*``) and the mirrored ERP tables.

Every mirrored table has ``organization_id``, ``zoho_<thing>_id`` (unique together with the
organization), ``zoho_last_modified_time`` (Zoho's own time, compared only with Zoho's time),
``synced_at``, ``deleted_at`` (deletes are soft) and ``zoho_metadata`` (the raw Zoho
record). Money and quantities are Numeric, never float.
"""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import BigId, JSONType, Money, Quantity, UTCDateTime

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


def _fk(name: str, target: str, nullable: bool = True, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, BigId, sa.ForeignKey(f"{target}.id", ondelete=ondelete), nullable=nullable, index=True)


def _zoho_ref(name: str) -> sa.Column:
    return sa.Column(name, sa.String(32), index=True)


def mirrored_table(name: str, zoho_id_column: str, *columns, indexes: tuple = ()) -> sa.Table:
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
        sa.UniqueConstraint("organization_id", zoho_id_column),
        sa.Index(f"ix_{name}_{zoho_id_column}", zoho_id_column),
        *indexes,
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

sync_state = sa.Table(
    "tds_sync_state",
    metadata,
    _pk(),
    _org(),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("cursor", UTCDateTime()),  # newest Zoho last_modified_time seen
    sa.Column("last_full_sync_at", UTCDateTime()),
    sa.Column("last_incremental_sync_at", UTCDateTime()),
    sa.Column("last_reconcile_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("organization_id", "entity"),
)

sync_runs = sa.Table(
    "tds_sync_runs",
    metadata,
    _pk(),
    _org(),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),  # full | incremental | reconcile
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | succeeded | failed | aborted
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
    sa.Index("ix_tds_sync_runs_org_entity_started", "organization_id", "entity", "started_at"),
)

# ---------------------------------------------------------------- ERP tables

warehouses = mirrored_table(
    "warehouses",
    "zoho_warehouse_id",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("address", sa.Text()),
    sa.Column("city", sa.String(100)),
    sa.Column("country", sa.String(100)),
)

products = mirrored_table(
    "products",
    "zoho_item_id",
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("sku", sa.String(200), index=True),
    sa.Column("description", sa.Text()),
    sa.Column("unit", sa.String(50)),
    sa.Column("unit_price", Money),
    sa.Column("purchase_price", Money),
    sa.Column("stock_quantity", Quantity),
    sa.Column("available_stock", Quantity),
    sa.Column("reorder_level", Quantity),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("tax_rate", Money),
    sa.Column("tax_name", sa.String(100)),
    sa.Column("category_name", sa.String(255)),
    sa.Column("item_type", sa.String(50)),
    sa.Column("product_type", sa.String(50)),
    sa.Column("zoho_image_document_id", sa.String(64)),
    sa.Column("image_name", sa.String(255)),
    sa.Column("image_type", sa.String(20)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

stock_levels = child_table(
    "stock_levels",
    "product_id",
    "products",
    "zoho_warehouse_id",
    _fk("warehouse_id", "warehouses"),
    sa.Column("zoho_item_id", sa.String(32), nullable=False, index=True),
    sa.Column("stock_on_hand", Quantity, nullable=False),
    sa.Column("available_stock", Quantity),
    sa.Column("actual_available_stock", Quantity),
    sa.Column("committed_stock", Quantity),
    sa.Column("available_for_sale_stock", Quantity),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
)

def _contact_columns() -> list[sa.Column]:
    """Name and reach of a contact, the same for customers and vendors."""
    return [
        sa.Column("full_name", sa.String(500)),
        sa.Column("company_name", sa.String(500)),
        sa.Column("email", sa.String(255), index=True),
        sa.Column("phone", sa.String(100)),
        sa.Column("mobile", sa.String(100)),
    ]


def _terms_and_address_columns() -> list[sa.Column]:
    return [
        sa.Column("currency_code", sa.String(10)),
        sa.Column("payment_terms", sa.Integer()),
        sa.Column("payment_terms_label", sa.String(100)),
        sa.Column("billing_address", JSONType),
        sa.Column("shipping_address", JSONType),
    ]


def _contact_person_columns() -> list[sa.Column]:
    return [
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("email", sa.String(255)),
        sa.Column("phone", sa.String(100)),
        sa.Column("mobile", sa.String(100)),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


customers = mirrored_table(
    "customers",
    "zoho_contact_id",
    sa.Column("name", sa.String(500), nullable=False),
    *_contact_columns(),
    sa.Column("customer_type", sa.String(32)),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(32)),
    *_terms_and_address_columns(),
    sa.Column("outstanding_receivable", Money),
    sa.Column("unused_credits", Money),
    sa.Column("zoho_created_time", UTCDateTime()),
)

customer_contact_persons = child_table(
    "customer_contact_persons",
    "customer_id",
    "customers",
    "zoho_contact_person_id",
    *_contact_person_columns(),
)

vendors = mirrored_table(
    "vendors",
    "zoho_vendor_id",
    sa.Column("vendor_name", sa.String(500), nullable=False),
    sa.Column("vendor_name_ar", sa.String(500)),
    *_contact_columns(),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    *_terms_and_address_columns(),
    sa.Column("outstanding_payable", Money),
    sa.Column("zoho_created_time", UTCDateTime()),
)

vendor_contact_persons = child_table(
    "vendor_contact_persons",
    "vendor_id",
    "vendors",
    "zoho_contact_person_id",
    *_contact_person_columns(),
)


def _line_columns() -> list[sa.Column]:
    """What every document line carries: the item (kept by Zoho id), quantities and money."""
    return [
        _fk("product_id", "products"),
        _zoho_ref("zoho_item_id"),
        sa.Column("line_order", sa.Integer()),
        sa.Column("name", sa.String(500)),
        sa.Column("description", sa.Text()),
        sa.Column("sku", sa.String(200)),
        sa.Column("unit", sa.String(50)),
        sa.Column("quantity", Quantity, nullable=False),
        sa.Column("rate", Money, nullable=False),
        sa.Column("discount_amount", Money),
        sa.Column("discount_percent", Money),
        sa.Column("tax_id", sa.String(32)),
        sa.Column("tax_name", sa.String(100)),
        sa.Column("tax_percentage", Money),
        sa.Column("line_total", Money, nullable=False),
    ]


def _document_money() -> list[sa.Column]:
    return [
        sa.Column("currency_code", sa.String(10)),
        sa.Column("exchange_rate", sa.Numeric(20, 8)),
        sa.Column("subtotal", Money, nullable=False),
        sa.Column("tax_total", Money, nullable=False),
        sa.Column("discount_amount", Money),
        sa.Column("total_amount", Money, nullable=False),
    ]


invoices = mirrored_table(
    "invoices",
    "zoho_invoice_id",
    sa.Column("invoice_number", sa.String(100), nullable=False, index=True),
    _fk("customer_id", "customers"),
    sa.Column("zoho_customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("customer_name", sa.String(500)),
    sa.Column("reference_number", sa.String(200)),
    sa.Column("invoice_date", sa.Date(), nullable=False),
    sa.Column("due_date", sa.Date()),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    *_document_money(),
    sa.Column("amount_paid", Money, nullable=False),
    sa.Column("credits_applied", Money),
    sa.Column("balance", Money, nullable=False),
    sa.Column("salesperson_name", sa.String(255)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

invoice_line_items = child_table(
    "invoice_line_items", "invoice_id", "invoices", "zoho_line_item_id", *_line_columns()
)

payments = mirrored_table(
    "payments",
    "zoho_payment_id",
    sa.Column("payment_number", sa.String(100), nullable=False, index=True),
    _fk("customer_id", "customers"),
    sa.Column("zoho_customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("customer_name", sa.String(500)),
    sa.Column("payment_date", sa.Date(), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("unused_amount", Money),
    sa.Column("bank_charges", Money),
    sa.Column("currency_code", sa.String(10)),
    sa.Column("payment_mode", sa.String(100)),
    sa.Column("reference_number", sa.String(200), index=True),
    sa.Column("notes", sa.Text()),
    sa.Column("status", sa.String(32)),
    sa.Column("account_name", sa.String(255)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

payment_invoices = child_table(
    "payment_invoices",
    "payment_id",
    "payments",
    "zoho_invoice_id",
    _fk("invoice_id", "invoices"),
    sa.Column("invoice_number", sa.String(100)),
    sa.Column("amount_applied", Money, nullable=False),
)

credit_notes = mirrored_table(
    "credit_notes",
    "zoho_creditnote_id",
    sa.Column("creditnote_number", sa.String(100), nullable=False, index=True),
    _fk("customer_id", "customers"),
    sa.Column("zoho_customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("customer_name", sa.String(500)),
    sa.Column("reference_number", sa.String(200)),
    sa.Column("creditnote_date", sa.Date(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    *_document_money(),
    sa.Column("balance", Money, nullable=False),
    sa.Column("zoho_created_time", UTCDateTime()),
)

credit_note_line_items = child_table(
    "credit_note_line_items", "credit_note_id", "credit_notes", "zoho_line_item_id", *_line_columns()
)

credit_note_invoices = child_table(
    "credit_note_invoices",
    "credit_note_id",
    "credit_notes",
    "zoho_invoice_id",
    _fk("invoice_id", "invoices"),
    sa.Column("invoice_number", sa.String(100)),
    sa.Column("amount_applied", Money, nullable=False),
    sa.Column("applied_date", sa.Date()),
)

credit_note_refunds = child_table(
    "credit_note_refunds",
    "credit_note_id",
    "credit_notes",
    "zoho_refund_id",
    sa.Column("refund_date", sa.Date()),
    sa.Column("refund_mode", sa.String(100)),
    sa.Column("amount", Money, nullable=False),
    sa.Column("description", sa.Text()),
)

bills = mirrored_table(
    "bills",
    "zoho_bill_id",
    sa.Column("bill_number", sa.String(100), nullable=False, index=True),
    _fk("vendor_id", "vendors"),
    sa.Column("zoho_vendor_id", sa.String(32), nullable=False, index=True),
    sa.Column("vendor_name", sa.String(500)),
    sa.Column("reference_number", sa.String(200)),
    sa.Column("bill_date", sa.Date(), nullable=False),
    sa.Column("due_date", sa.Date()),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    *_document_money(),
    sa.Column("amount_paid", Money),
    sa.Column("balance", Money, nullable=False),
    sa.Column("zoho_created_time", UTCDateTime()),
)

bill_line_items = child_table("bill_line_items", "bill_id", "bills", "zoho_line_item_id", *_line_columns())

sales_orders = mirrored_table(
    "sales_orders",
    "zoho_salesorder_id",
    sa.Column("salesorder_number", sa.String(100), nullable=False, index=True),
    _fk("customer_id", "customers"),
    sa.Column("zoho_customer_id", sa.String(32), nullable=False, index=True),
    sa.Column("customer_name", sa.String(500)),
    sa.Column("reference_number", sa.String(200)),
    sa.Column("order_date", sa.Date(), nullable=False),
    sa.Column("shipment_date", sa.Date()),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("order_status", sa.String(32)),
    sa.Column("shipped_status", sa.String(32)),
    sa.Column("invoiced_status", sa.String(32)),
    sa.Column("paid_status", sa.String(32)),
    *_document_money(),
    sa.Column("delivery_method", sa.String(100)),
    sa.Column("salesperson_name", sa.String(255)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

sales_order_line_items = child_table(
    "sales_order_line_items", "sales_order_id", "sales_orders", "zoho_line_item_id", *_line_columns()
)

users = mirrored_table(
    "users",
    "zoho_user_id",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("email", sa.String(255), nullable=False, index=True),
    sa.Column("role", sa.String(100)),
    sa.Column("role_name", sa.String(100)),
    sa.Column("zoho_role_id", sa.String(32), index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("user_type", sa.String(32)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

price_lists = mirrored_table(
    "price_lists",
    "zoho_pricebook_id",
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("description", sa.Text()),
    sa.Column("currency_code", sa.String(10)),
    sa.Column("pricebook_type", sa.String(32), nullable=False),
    sa.Column("percentage", Money),
    sa.Column("is_increase", sa.Boolean()),
    sa.Column("rounding_type", sa.String(50)),
    sa.Column("sales_or_purchase_type", sa.String(32)),
    sa.Column("is_default", sa.Boolean()),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
)

price_list_items = child_table(
    "price_list_items",
    "price_list_id",
    "price_lists",
    "zoho_item_id",
    _fk("product_id", "products"),
    sa.Column("zoho_pricebook_item_id", sa.String(32)),
    sa.Column("name", sa.String(500)),
    sa.Column("rate", Money, nullable=False),
    sa.Column("discount_amount", Money),
    sa.Column("discount_percent", Money),
)

stock_adjustments = mirrored_table(
    "stock_adjustments",
    "zoho_adjustment_id",
    sa.Column("reference_number", sa.String(200), index=True),
    sa.Column("adjustment_date", sa.Date(), nullable=False),
    sa.Column("adjustment_type", sa.String(32)),
    sa.Column("reason", sa.String(500)),
    sa.Column("description", sa.Text()),
    sa.Column("status", sa.String(32)),
)

stock_adjustment_line_items = child_table(
    "stock_adjustment_line_items",
    "stock_adjustment_id",
    "stock_adjustments",
    "zoho_line_item_id",
    _fk("product_id", "products"),
    _zoho_ref("zoho_item_id"),
    _zoho_ref("zoho_warehouse_id"),
    sa.Column("name", sa.String(500)),
    sa.Column("quantity_adjusted", Quantity, nullable=False),
    sa.Column("value_adjusted", Money),
)

crm_accounts = mirrored_table(
    "crm_accounts",
    "zoho_crm_account_id",
    sa.Column("name", sa.String(500), nullable=False, index=True),
    sa.Column("account_number", sa.String(100), index=True),
    sa.Column("account_type", sa.String(100)),
    sa.Column("industry", sa.String(100)),
    sa.Column("phone", sa.String(100)),
    sa.Column("website", sa.String(255)),
    sa.Column("billing_city", sa.String(100)),
    sa.Column("billing_country", sa.String(100)),
    sa.Column("owner_name", sa.String(255)),
    sa.Column("zoho_owner_id", sa.String(32), index=True),
    sa.Column("owner_email", sa.String(255)),
    sa.Column("zoho_created_time", UTCDateTime()),
)

crm_contacts = mirrored_table(
    "crm_contacts",
    "zoho_crm_contact_id",
    sa.Column("first_name", sa.String(255)),
    sa.Column("last_name", sa.String(255), nullable=False),
    sa.Column("full_name", sa.String(500), nullable=False),
    sa.Column("email", sa.String(255), index=True),
    sa.Column("phone", sa.String(100)),
    sa.Column("mobile", sa.String(100)),
    sa.Column("title", sa.String(255)),
    sa.Column("mailing_city", sa.String(100)),
    sa.Column("mailing_country", sa.String(100)),
    _fk("account_id", "crm_accounts"),
    _zoho_ref("zoho_crm_account_id"),
    sa.Column("account_name", sa.String(500)),
    sa.Column("owner_name", sa.String(255)),
    sa.Column("zoho_owner_id", sa.String(32), index=True),
    sa.Column("owner_email", sa.String(255)),
    sa.Column("zoho_created_time", UTCDateTime()),
)
