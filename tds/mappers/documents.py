"""Sales and purchase documents → their tables and line items.

Invoices, credit notes, bills and sales orders share one shape: a party (customer or
vendor, kept by Zoho id and linked when it lands), dates, a status, Zoho's own figures
(``sub_total``, ``tax_total``, ``total``, ``balance``) and ``line_items[]``. Figures are
taken as Zoho gives them, never recomputed: the mirror must equal Zoho to the last digit.
Lists carry no ``line_items``; a record without them leaves the stored lines as they are.
"""

from __future__ import annotations

from decimal import Decimal

from tds import registry
from tds.mapping import (
    MapContext,
    Mapped,
    MappingError,
    base,
    dec,
    integer,
    parse_date,
    parse_zoho_time,
    require,
    text,
    zoho_id,
)


def amount(record: dict, name: str, required: bool = False) -> Decimal | None:
    """A figure of the record as a Decimal; a required one must be there and be a number."""
    value = record.get(name)
    if value in (None, ""):
        if required:
            raise MappingError(f"missing required figure {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str)):
        raise MappingError(f"{name} is not a number: {value!r}")
    return dec(value, name)


def discount(value, name: str = "discount") -> tuple[Decimal | None, Decimal | None]:
    """Zoho's discount as (amount, percent): ``12.50`` is an amount, ``"5%"`` a percentage."""
    if value in (None, ""):
        return None, None
    if isinstance(value, str) and value.strip().endswith("%"):
        return None, dec(value.strip()[:-1], name)
    return dec(value, name), None


def map_lines(record: dict, parent: str) -> list[dict] | None:
    """``line_items[]`` as rows (None when the record does not carry lines)."""
    lines = record.get("line_items")
    if lines is None:
        return None
    if not isinstance(lines, list):
        raise MappingError(f"{parent}: line_items is not a list")
    rows = []
    for order, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise MappingError(f"{parent}: a line item is not an object")
        line_id = zoho_id(line.get("line_item_id"))
        if not line_id:
            raise MappingError(f"{parent}: line item without line_item_id")
        where = f"{parent} line {line_id}"
        disc_amount, disc_percent = discount(line.get("discount"), f"{where} discount")
        if line.get("discount_amount") not in (None, ""):
            disc_amount = dec(line["discount_amount"], f"{where} discount_amount")
        quantity = amount(line, "quantity", required=True)
        rate = amount(line, "rate", required=True)
        total = amount(line, "item_total")
        if total is None:
            raise MappingError(f"{where}: missing item_total")
        rows.append(
            {
                "zoho_line_item_id": line_id,
                "zoho_item_id": zoho_id(line.get("item_id")),
                "line_order": integer(line.get("item_order")) or order,
                "name": text(line.get("name"), 500),
                "description": text(line.get("description")),
                "sku": text(line.get("sku"), 200),
                "unit": text(line.get("unit"), 50),
                "quantity": quantity,
                "rate": rate,
                "discount_amount": disc_amount,
                "discount_percent": disc_percent,
                "tax_id": zoho_id(line.get("tax_id")),
                "tax_name": text(line.get("tax_name"), 100),
                "tax_percentage": dec(line.get("tax_percentage"), f"{where} tax_percentage"),
                "line_total": total,
            }
        )
    return rows


def _money(record: dict) -> dict:
    disc_amount, _percent = discount(record.get("discount"))
    if record.get("discount_amount") not in (None, ""):
        disc_amount = amount(record, "discount_amount")
    return {
        "currency_code": text(record.get("currency_code"), 10),
        "exchange_rate": amount(record, "exchange_rate"),
        "subtotal": amount(record, "sub_total", required=True),
        "tax_total": amount(record, "tax_total", required=True),
        "discount_amount": disc_amount,
        "total_amount": amount(record, "total", required=True),
    }


def _document(name: str, record: dict, ctx: MapContext, values: dict, line_table: str) -> Mapped:
    entity = registry.get(name)
    require(record, *entity.required_fields)
    values["zoho_created_time"] = parse_zoho_time(record.get("created_time"))
    mapped = base(entity, record, ctx, values)
    lines = map_lines(record, f"{name} {mapped.zoho_id}")
    if lines is not None:
        mapped.children[line_table] = lines
    return mapped


def _customer(record: dict) -> dict:
    return {
        "zoho_customer_id": zoho_id(record.get("customer_id")),
        "customer_name": text(record.get("customer_name"), 500),
    }


def map_invoice(record: dict, ctx: MapContext) -> Mapped:
    values = {
        "invoice_number": text(record.get("invoice_number"), 100),
        **_customer(record),
        "reference_number": text(record.get("reference_number"), 200),
        "invoice_date": parse_date(record.get("date")),
        "due_date": parse_date(record.get("due_date")),
        "status": text(record.get("status"), 32),
        **_money(record),
        "amount_paid": amount(record, "payment_made") or Decimal("0"),
        "credits_applied": amount(record, "credits_applied"),
        "balance": amount(record, "balance", required=True),
        "salesperson_name": text(record.get("salesperson_name"), 255),
    }
    return _document("invoices", record, ctx, values, "invoice_line_items")


def map_credit_note(record: dict, ctx: MapContext) -> Mapped:
    values = {
        "creditnote_number": text(record.get("creditnote_number"), 100),
        **_customer(record),
        "reference_number": text(record.get("reference_number"), 200),
        "creditnote_date": parse_date(record.get("date")),
        "status": text(record.get("status"), 32),
        **_money(record),
        "balance": amount(record, "balance", required=True),
    }
    mapped = _document("credit_notes", record, ctx, values, "credit_note_line_items")
    applied = record.get("invoices")
    if isinstance(applied, list):
        mapped.children["credit_note_invoices"] = [
            {
                "zoho_invoice_id": zoho_id(a.get("invoice_id")),
                "invoice_number": text(a.get("invoice_number"), 100),
                "amount_applied": amount(a, "amount_applied", required=True),
                "applied_date": parse_date(a.get("date")),
            }
            for a in applied
            if zoho_id(a.get("invoice_id"))
        ]
    refunds = record.get("refunds")
    if isinstance(refunds, list):
        mapped.children["credit_note_refunds"] = [
            {
                "zoho_refund_id": zoho_id(r.get("creditnote_refund_id")),
                "refund_date": parse_date(r.get("date")),
                "refund_mode": text(r.get("refund_mode"), 100),
                "amount": amount(r, "amount", required=True),
                "description": text(r.get("description")),
            }
            for r in refunds
            if zoho_id(r.get("creditnote_refund_id"))
        ]
    return mapped


def map_bill(record: dict, ctx: MapContext) -> Mapped:
    values = {
        "bill_number": text(record.get("bill_number"), 100),
        "zoho_vendor_id": zoho_id(record.get("vendor_id")),
        "vendor_name": text(record.get("vendor_name"), 500),
        "reference_number": text(record.get("reference_number"), 200),
        "bill_date": parse_date(record.get("date")),
        "due_date": parse_date(record.get("due_date")),
        "status": text(record.get("status"), 32),
        **_money(record),
        "amount_paid": amount(record, "payment_made"),
        "balance": amount(record, "balance", required=True),
    }
    return _document("bills", record, ctx, values, "bill_line_items")


def map_sales_order(record: dict, ctx: MapContext) -> Mapped:
    values = {
        "salesorder_number": text(record.get("salesorder_number"), 100),
        **_customer(record),
        "reference_number": text(record.get("reference_number"), 200),
        "order_date": parse_date(record.get("date")),
        "shipment_date": parse_date(record.get("shipment_date")),
        "status": text(record.get("status"), 32),
        "order_status": text(record.get("order_status"), 32),
        "shipped_status": text(record.get("shipped_status"), 32),
        "invoiced_status": text(record.get("invoiced_status"), 32),
        "paid_status": text(record.get("paid_status"), 32),
        **_money(record),
        "delivery_method": text(record.get("delivery_method"), 100),
        "salesperson_name": text(record.get("salesperson_name"), 255),
    }
    return _document("sales_orders", record, ctx, values, "sales_order_line_items")
