"""child rows refused only for their identity; every mirrored row has a note

A child row (line, allocation, refund, price-list entry, adjustment line) is stored without
the figures it lacks, as NULL; what a record left out is said in its ``tds_note``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

NUMBER = sa.Numeric(20, 6)

#: every table mirroring a Zoho entity
MIRRORED = ('crm_accounts', 'customers', 'price_lists', 'products', 'stock_adjustments', 'users', 'vendors',
            'warehouses', 'bills', 'credit_notes', 'crm_contacts', 'invoices', 'payments', 'sales_orders')

#: (table, column) of the child figures that became optional (docs/entities.md, "Child rows")
OPTIONAL = [
    *((table, 'quantity') for table in ('invoice_line_items', 'credit_note_line_items', 'bill_line_items',
                                        'sales_order_line_items')),
    ('payment_invoices', 'amount_applied'),
    ('credit_note_invoices', 'amount_applied'),
    ('credit_note_refunds', 'amount'),
    ('price_list_items', 'rate'),
    ('stock_adjustment_line_items', 'quantity_adjusted'),
]


def _nullable(value: bool) -> None:
    for table, column in OPTIONAL:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=NUMBER, nullable=value)


def upgrade() -> None:
    _nullable(True)
    for table in MIRRORED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('tds_note', sa.Text(), nullable=True))


def downgrade() -> None:
    for table in MIRRORED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('tds_note')
    _nullable(False)
