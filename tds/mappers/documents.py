"""Sales and purchase documents and customer payments → their tables and child rows.

Invoices, credit notes, bills and sales orders share one shape: a party (customer or
vendor, kept by Zoho id and linked when it lands), a number, dates, a status, Zoho's own
figures (``sub_total``, ``tax_total``, ``total``, ``balance``) and ``line_items[]``.
Customer payments (``/customerpayments``, detail key ``payment``) have the party and a
number too, and the invoices they pay (``invoices[]``, with the amount applied to each),
like the invoices a credit note is applied to. Figures are taken as Zoho gives them, never
recomputed: the mirror must equal Zoho to the last digit. Lists carry no ``line_items``
(nor applied invoices); a record without them leaves the stored rows as they are.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tds.db import Money, Quantity, UTCDateTime
from tds.mapping import (
    ChildRow,
    Fields,
    MapContext,
    amount,
    blank,
    boolean,
    child_rows,
    dec,
    discount,
    parse_date,
    parse_zoho_time,
    text,
    texts,
    zoho_id,
)
from tds.models import child_table, fk, mirrored_table, strings, zoho_ref

# ---------------------------------------------------------------- tables


def _party_columns(party: str) -> list[sa.Column]:
    """The customer or vendor: our foreign key, the Zoho id it follows, and the name."""
    return [
        fk(f"{party}_id", f"{party}s", zoho=f"zoho_{party}_id"),
        sa.Column(f"zoho_{party}_id", sa.String(32), nullable=False, index=True),
        sa.Column(f"{party}_name", sa.String(500)),
    ]


def _document_table(name: str, zoho_id_column: str, number: str, party: str, date: str, *columns) -> sa.Table:
    """A document's table: what every document has, and its own ``columns``."""
    return mirrored_table(
        name,
        zoho_id_column,
        sa.Column(number, sa.String(100), nullable=False, index=True),
        *_party_columns(party),
        sa.Column("reference_number", sa.String(200)),
        sa.Column(date, sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), index=True),
        sa.Column("currency_code", sa.String(10)),
        sa.Column("exchange_rate", sa.Numeric(20, 8)),
        sa.Column("subtotal", Money),
        sa.Column("tax_total", Money),
        sa.Column("discount_amount", Money),
        sa.Column("total_amount", Money, nullable=False),
        *columns,
        sa.Column("zoho_created_time", UTCDateTime()),
    )


def _lines_table(name: str, parent_column: str, parent_table: str) -> sa.Table:
    """A document's lines: the item (kept by Zoho id), quantities and money."""
    return child_table(
        name, parent_column, parent_table, "zoho_line_item_id",
        fk("product_id", "products", zoho="zoho_item_id"),
        zoho_ref("zoho_item_id"),
        sa.Column("line_order", sa.Integer()),
        sa.Column("name", sa.String(500)),
        sa.Column("description", sa.Text()),
        *strings(sku=200, unit=50),
        sa.Column("quantity", Quantity),
        sa.Column("rate", Money),
        sa.Column("discount_amount", Money),
        sa.Column("discount_percent", Money),
        *strings(tax_id=32, tax_name=100),
        sa.Column("tax_percentage", Money),
        sa.Column("line_total", Money),
    )


def _due_columns(credits: bool = False) -> list[sa.Column]:
    """What a document that falls due has: the due date, what was paid (and credited), the balance."""
    return [
        sa.Column("due_date", sa.Date()),
        sa.Column("amount_paid", Money),
        *([sa.Column("credits_applied", Money)] if credits else []),
        sa.Column("balance", Money),
    ]


def _applied_invoices_table(name: str, parent_column: str, parent_table: str, *columns) -> sa.Table:
    """The invoices a payment pays or a credit note is applied to, with the amount applied."""
    return child_table(
        name, parent_column, parent_table, "zoho_invoice_id",
        fk("invoice_id", "invoices", zoho="zoho_invoice_id"),
        sa.Column("invoice_number", sa.String(100)),
        sa.Column("amount_applied", Money),
        *columns,
    )


invoices = _document_table(
    "invoices",
    "zoho_invoice_id",
    "invoice_number",
    "customer",
    "invoice_date",
    *_due_columns(credits=True),
    sa.Column("salesperson_name", sa.String(255)),
)

invoice_line_items = _lines_table("invoice_line_items", "invoice_id", "invoices")

payments = mirrored_table(
    "payments",
    "zoho_payment_id",
    sa.Column("payment_number", sa.String(100), nullable=False, index=True),
    *_party_columns("customer"),
    sa.Column("payment_date", sa.Date(), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("unused_amount", Money),
    sa.Column("bank_charges", Money),
    *strings(currency_code=10, payment_mode=100),
    sa.Column("reference_number", sa.String(200), index=True),
    sa.Column("notes", sa.Text()),
    *strings(status=32, account_name=255),
    sa.Column("zoho_created_time", UTCDateTime()),
)

payment_invoices = _applied_invoices_table("payment_invoices", "payment_id", "payments")

credit_notes = _document_table(
    "credit_notes",
    "zoho_creditnote_id",
    "creditnote_number",
    "customer",
    "creditnote_date",
    sa.Column("balance", Money),
)

credit_note_line_items = _lines_table("credit_note_line_items", "credit_note_id", "credit_notes")

credit_note_invoices = _applied_invoices_table(
    "credit_note_invoices", "credit_note_id", "credit_notes", sa.Column("applied_date", sa.Date())
)

credit_note_refunds = child_table(
    "credit_note_refunds",
    "credit_note_id",
    "credit_notes",
    "zoho_refund_id",
    sa.Column("refund_date", sa.Date()),
    sa.Column("refund_mode", sa.String(100)),
    sa.Column("amount", Money),
    sa.Column("description", sa.Text()),
)

bills = _document_table(
    "bills",
    "zoho_bill_id",
    "bill_number",
    "vendor",
    "bill_date",
    *_due_columns(),
)

bill_line_items = _lines_table("bill_line_items", "bill_id", "bills")

sales_orders = _document_table(
    "sales_orders",
    "zoho_salesorder_id",
    "salesorder_number",
    "customer",
    "order_date",
    sa.Column("shipment_date", sa.Date()),
    *strings(
        order_status=32, shipped_status=32, invoiced_status=32, paid_status=32, delivery_method=100,
        salesperson_name=255,
    ),
)

sales_order_line_items = _lines_table("sales_order_line_items", "sales_order_id", "sales_orders")

# ---------------------------------------------------------------- mappers


def map_lines(fields: Fields, record: dict, parent: str) -> list[dict] | None:
    """``line_items[]`` as rows (None when the record does not carry lines). A line is
    skipped only without its ``line_item_id``; any other field it lacks is NULL."""

    def line(row: ChildRow) -> dict:
        disc_amount, disc_percent = row.discount("discount")
        if row.raw("discount_amount") is not None:
            disc_amount = row.figure("discount_amount")
        return {
            "zoho_line_item_id": row.id,
            "zoho_item_id": row.ref("item_id"),
            "line_order": row.whole("item_order") or row.position,
            **row.texts(invoice_line_items, "name", "description", "sku", "unit", "tax_name"),
            "quantity": row.figure("quantity"),
            "rate": row.figure("rate"),
            "discount_amount": disc_amount,
            "discount_percent": disc_percent,
            "tax_id": row.ref("tax_id"),
            "tax_percentage": row.percent("tax_percentage"),
            "line_total": row.figure("item_total"),
        }

    return child_rows(fields, record, ("line_items",), ("line_item_id",), parent, line)


def _party(record: dict, party: str) -> dict:
    return {
        f"zoho_{party}_id": zoho_id(record.get(f"{party}_id")),
        f"{party}_name": text(record.get(f"{party}_name"), 500),
    }


def _money(record: dict) -> dict:
    disc_amount, _percent = discount(record.get("discount"))
    if not blank(record.get("discount_amount")):
        disc_amount = amount(record, "discount_amount")
    return {
        "currency_code": text(record.get("currency_code"), 10),
        "exchange_rate": amount(record, "exchange_rate"),
        "subtotal": amount(record, "sub_total"),
        "tax_total": tax_total(record),
        "discount_amount": disc_amount,
        "total_amount": amount(record, "total", required=True),
    }


def tax_total(record: dict) -> Decimal | None:
    """Zoho's ``tax_total``, else derived from the parts when they make it exact.

    ``taxes[]`` is the tax per tax: its ``tax_amount`` values add up to the tax total. Without
    it, ``total − sub_total − adjustment − shipping_charge`` is the tax when Zoho gives
    ``sub_total``, ``total`` and ``adjustment``, there is no discount (it may apply before or
    after tax) and prices do not include tax. Otherwise the tax total is unknown: NULL.
    """
    given = amount(record, "tax_total")
    if given is not None:
        return given
    taxes = record.get("taxes")
    if isinstance(taxes, list) and all(isinstance(t, dict) for t in taxes):
        parts = [dec(t.get("tax_amount"), "taxes[].tax_amount") for t in taxes]
        if None not in parts:
            return sum(parts, Decimal("0"))
    sub_total, total, adjustment = (amount(record, n) for n in ("sub_total", "total", "adjustment"))
    no_discount = not amount(record, "discount_amount") and not any(discount(record.get("discount")))
    if None in (sub_total, total, adjustment) or not no_discount or boolean(record.get("is_inclusive_tax"),
                                                                             "is_inclusive_tax"):
        return None
    return total - sub_total - adjustment - (amount(record, "shipping_charge") or 0)


def _document(entity, record: dict, lines_table: sa.Table, number: str, party: str, date: str, own: dict) -> Fields:
    """A document's row (what every document has, and its ``own`` columns) and its lines."""
    fields = Fields(
        {
            number: text(record.get(number), 100),
            **_party(record, party),
            "reference_number": text(record.get("reference_number"), 200),
            date: parse_date(record.get("date"), "date"),
            "status": text(record.get("status"), 32),
            **_money(record),
            **own,
            "zoho_created_time": parse_zoho_time(record.get("created_time"), "created_time"),
        }
    )
    lines = map_lines(fields, record, f"{entity.name} {record[entity.id_field]}")
    if lines is not None:
        fields.children[lines_table.name] = lines
    return fields


def _applied_invoices(fields: Fields, record: dict, where: str, *, dated: bool = False) -> list[dict] | None:
    """``invoices[]``: the invoices paid or credited, with the amount applied to each (Zoho
    writes it ``amount_applied`` or ``amount``); an allocation is skipped only without its
    ``invoice_id``."""

    def allocation(row: ChildRow) -> dict:
        found = {
            "zoho_invoice_id": row.id,
            "invoice_number": row.text("invoice_number", 100),
            "amount_applied": row.figure("amount_applied", "amount"),
        }
        if dated:
            found["applied_date"] = row.date("date", "applied_date")
        return found

    return child_rows(fields, record, ("invoices", "invoices_credited"), ("invoice_id",), where, allocation)


def _due(record: dict, credits: bool = False) -> dict:
    """The :func:`_due_columns` of ``record``: Zoho calls what was paid ``payment_made``."""
    fields = {"due_date": parse_date(record.get("due_date"), "due_date"), "amount_paid": amount(record, "payment_made")}
    if credits:
        fields["credits_applied"] = amount(record, "credits_applied")
    fields["balance"] = amount(record, "balance")
    return fields


def map_invoice(entity, record: dict, ctx: MapContext) -> Fields:
    own = {**_due(record, credits=True), "salesperson_name": text(record.get("salesperson_name"), 255)}
    return _document(entity, record, invoice_line_items, "invoice_number", "customer", "invoice_date", own)


def map_payment(entity, record: dict, ctx: MapContext) -> Fields:
    fields = Fields(
        {
            **texts(record, payments, "payment_number", "currency_code", "payment_mode", "reference_number",
                    "status", "account_name", notes="description"),
            **_party(record, "customer"),
            "payment_date": parse_date(record.get("date"), "date"),
            "amount": amount(record, "amount", required=True),
            "unused_amount": amount(record, "unused_amount"),
            "bank_charges": amount(record, "bank_charges"),
            "zoho_created_time": parse_zoho_time(record.get("created_time"), "created_time"),
        }
    )
    applied = _applied_invoices(fields, record, f"{entity.name} {record[entity.id_field]}")
    if applied is not None:
        fields.children[payment_invoices.name] = applied
    return fields


def map_credit_note(entity, record: dict, ctx: MapContext) -> Fields:
    own = {"balance": amount(record, "balance")}
    fields = _document(entity, record, credit_note_line_items, "creditnote_number", "customer", "creditnote_date", own)
    where = f"{entity.name} {record[entity.id_field]}"
    applied = _applied_invoices(fields, record, where, dated=True)
    if applied is not None:
        fields.children[credit_note_invoices.name] = applied

    def refund(row: ChildRow) -> dict:
        return {
            "zoho_refund_id": row.id,
            "refund_date": row.date("date", "refund_date"),
            "refund_mode": row.text("refund_mode", 100),
            "amount": row.figure("amount", "refund_amount"),
            "description": row.text("description"),
        }

    refunds = child_rows(fields, record, ("refunds",), ("creditnote_refund_id", "refund_id"), where, refund)
    if refunds is not None:
        fields.children[credit_note_refunds.name] = refunds
    return fields


def map_bill(entity, record: dict, ctx: MapContext) -> Fields:
    return _document(entity, record, bill_line_items, "bill_number", "vendor", "bill_date", _due(record))


def map_sales_order(entity, record: dict, ctx: MapContext) -> Fields:
    own = {
        "shipment_date": parse_date(record.get("shipment_date"), "shipment_date"),
        **texts(record, sales_orders, "order_status", "shipped_status", "invoiced_status", "paid_status",
                "delivery_method", "salesperson_name"),
    }
    return _document(entity, record, sales_order_line_items, "salesorder_number", "customer", "order_date", own)
