"""optional figures nullable; sync state says when a module is unavailable

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

import tds.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 6)

#: (table, column, type) of every column that became optional (docs/entities.md).
OPTIONAL = [
    *((table, column, MONEY) for table in ("invoices", "credit_notes", "bills", "sales_orders")
      for column in ("subtotal", "tax_total")),
    *((table, "status", sa.String(length=32)) for table in ("invoices", "credit_notes", "bills", "sales_orders")),
    ("invoices", "amount_paid", MONEY),
    *((table, "balance", MONEY) for table in ("invoices", "credit_notes", "bills")),
    *((table, column, MONEY) for table in ("invoice_line_items", "credit_note_line_items", "bill_line_items",
                                            "sales_order_line_items") for column in ("rate", "line_total")),
    ("stock_levels", "stock_on_hand", sa.Numeric(20, 6)),
]


def _nullable(value: bool) -> None:
    for table in dict.fromkeys(t for t, _, _ in OPTIONAL):
        with op.batch_alter_table(table) as batch:
            for t, column, type_ in OPTIONAL:
                if t == table:
                    batch.alter_column(column, existing_type=type_, nullable=value)


def upgrade() -> None:
    _nullable(True)
    with op.batch_alter_table('tds_sync_state') as batch:
        batch.add_column(sa.Column('status', sa.String(length=16), server_default='available', nullable=False))
        batch.add_column(sa.Column('unavailable_code', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('unavailable_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('unavailable_since', tds.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tds_sync_state') as batch:
        for column in ('unavailable_since', 'unavailable_reason', 'unavailable_code', 'status'):
            batch.drop_column(column)
    _nullable(False)
