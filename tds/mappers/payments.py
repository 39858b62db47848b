"""Customer payments (``/customerpayments``, detail key ``payment``) → ``payments`` and
``payment_invoices`` (each invoice the payment pays, with the amount applied to it)."""

from __future__ import annotations

from tds import registry
from tds.mappers.documents import amount
from tds.mapping import MapContext, Mapped, base, parse_date, parse_zoho_time, require, text, zoho_id


def map_payment(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("payments")
    require(record, *entity.required_fields)
    mapped = base(
        entity,
        record,
        ctx,
        {
            "payment_number": text(record.get("payment_number"), 100),
            "zoho_customer_id": zoho_id(record.get("customer_id")),
            "customer_name": text(record.get("customer_name"), 500),
            "payment_date": parse_date(record.get("date")),
            "amount": amount(record, "amount", required=True),
            "unused_amount": amount(record, "unused_amount"),
            "bank_charges": amount(record, "bank_charges"),
            "currency_code": text(record.get("currency_code"), 10),
            "payment_mode": text(record.get("payment_mode"), 100),
            "reference_number": text(record.get("reference_number"), 200),
            "notes": text(record.get("description")),
            "status": text(record.get("status"), 32),
            "account_name": text(record.get("account_name"), 255),
            "zoho_created_time": parse_zoho_time(record.get("created_time")),
        },
    )
    applied = record.get("invoices")
    if isinstance(applied, list):
        mapped.children["payment_invoices"] = [
            {
                "zoho_invoice_id": zoho_id(a.get("invoice_id")),
                "invoice_number": text(a.get("invoice_number"), 100),
                "amount_applied": amount(a, "amount_applied", required=True),
            }
            for a in applied
            if zoho_id(a.get("invoice_id"))
        ]
    return mapped
