"""Child rows follow their parent's rule: a line, an allocation, a refund, a stock row, a
contact person or a price-list entry is refused only for lack of its own id (skipped,
counted, said in the record's note); any other field it lacks or cannot be read is NULL.
One field of a child row never dead-letters the document."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tds import registry
from tds.mapping import MapContext
from tests.conftest import ORG

CREDIT_NOTE = {"creditnote_id": "9001", "creditnote_number": "CN-00001", "customer_id": "7001",
               "date": "2024-02-26", "total": "1150.00", "last_modified_time": "2024-02-26T15:44:57+0300"}


def mapped(entity: str, record: dict):
    return registry.get(entity).map(record, MapContext(ORG))


def test_credit_note_allocations_carrying_amount_are_stored_with_their_links():
    # Zoho documents a credit note's invoices[] with "amount", a payment's with "amount_applied"
    record = {**CREDIT_NOTE, "invoices": [{"invoice_id": "5001", "invoice_number": "INV-1", "amount": "150.00",
                                           "date": "2024-02-27"}]}
    rec = mapped("credit_notes", record)
    assert rec.children["credit_note_invoices"] == [
        {"zoho_invoice_id": "5001", "invoice_number": "INV-1", "amount_applied": Decimal("150.00"),
         "applied_date": dt.date(2024, 2, 27)}]
    assert rec.values["tds_note"] is None and rec.skipped == 0


def test_payment_allocation_reads_either_spelling_and_stores_a_missing_amount_as_null():
    base = {"payment_id": "1", "payment_number": "P-1", "customer_id": "7", "date": "2024-01-01", "amount": "10"}
    rec = mapped("payments", {**base, "invoices": [{"invoice_id": "5", "amount_applied": "4"},
                                                   {"invoice_id": "6", "amount": "6"}, {"invoice_id": "8"}]})
    assert [r["amount_applied"] for r in rec.children["payment_invoices"]] == [Decimal("4"), Decimal("6"), None]


@pytest.mark.parametrize("entity,record,child,key", [
    ("invoices", {"invoice_id": "1", "invoice_number": "I", "customer_id": "7", "date": "2024-01-01", "total": "1",
                  "line_items": [{"line_item_id": "11"}, {"line_item_id": "12", "quantity": "oops"}]},
     "invoice_line_items", "quantity"),
    ("stock_adjustments", {"inventory_adjustment_id": "1", "date": "2024-01-01",
                           "line_items": [{"line_item_id": "11"}, {"line_item_id": "12", "quantity": "x"}]},
     "stock_adjustment_line_items", "quantity_adjusted"),
    ("price_lists", {"pricebook_id": "1", "name": "P", "pricebook_type": "per_item",
                     "pricebook_items": [{"item_id": "11"}, {"item_id": "12", "pricebook_rate": "x"}]},
     "price_list_items", "rate"),
    ("credit_notes", {**CREDIT_NOTE, "refunds": [{"creditnote_refund_id": "11"},
                                                 {"creditnote_refund_id": "12", "amount": "x"}]},
     "credit_note_refunds", "amount"),
])
def test_a_child_figure_missing_or_unreadable_is_null_and_said_in_the_note(entity, record, child, key):
    rec = mapped(entity, record)
    rows = rec.children[child]
    assert [row[key] for row in rows] == [None, None]
    assert rec.skipped == 0
    assert "12" in rec.values["tds_note"] and "stored as NULL" in rec.values["tds_note"]


@pytest.mark.parametrize("entity,record,child", [
    ("invoices", {"invoice_id": "1", "invoice_number": "I", "customer_id": "7", "date": "2024-01-01", "total": "1",
                  "line_items": [{"line_item_id": "11", "quantity": 1}, {"quantity": 2}, "junk"]},
     "invoice_line_items"),
    ("payments", {"payment_id": "1", "payment_number": "P-1", "customer_id": "7", "date": "2024-01-01",
                  "amount": "10", "invoices": [{"invoice_id": "5", "amount": 1}, {"amount": 2}, None]},
     "payment_invoices"),
    ("customers", {"contact_id": "1", "contact_name": "C", "contact_persons": [
        {"contact_person_id": "3", "first_name": "A"}, {"first_name": "unsaved"}, 7]}, "customer_contact_persons"),
    ("items", {"item_id": "1", "name": "I", "warehouses": [
        {"warehouse_id": "4", "warehouse_stock_on_hand": 1}, {"warehouse_stock_on_hand": 2}, []]}, "stock_levels"),
    ("price_lists", {"pricebook_id": "1", "name": "P", "pricebook_type": "per_item",
                     "pricebook_items": [{"item_id": "11", "pricebook_rate": 1}, {"pricebook_rate": 2}, "x"]},
     "price_list_items"),
    ("stock_adjustments", {"inventory_adjustment_id": "1", "date": "2024-01-01",
                           "line_items": [{"line_item_id": "11", "quantity_adjusted": 1}, {"item_id": "2"}, 0]},
     "stock_adjustment_line_items"),
])
def test_a_child_row_without_its_own_id_is_skipped_counted_and_noted(entity, record, child):
    rec = mapped(entity, record)
    assert len(rec.children[child]) == 1
    assert rec.skipped == 2
    assert rec.values["tds_note"].count("skipped") == 2


def test_a_clean_version_clears_the_note(engine):
    from tds.sinks import sql

    tbl = sql.table("credit_notes")
    stored = sa.select(tbl.c.tds_note).where(tbl.c.zoho_creditnote_id == "9001")
    record = {**CREDIT_NOTE, "invoices": [{"amount": "1"}]}
    with engine.begin() as conn:
        sql.write(conn, [mapped("credit_notes", record)])
        assert conn.execute(stored).scalar_one() == "credit_notes 9001 invoices[1] skipped: no invoice_id"
    with engine.begin() as conn:
        sql.write(conn, [mapped("credit_notes", {**CREDIT_NOTE, "last_modified_time": "2024-02-27T15:44:57+0300",
                                                 "invoices": [{"invoice_id": "5001", "amount": "1"}]})])
        assert conn.execute(stored).scalar_one() is None
