"""inbox processing lease: when an attempt claimed the event

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-01 07:50:00
"""
import sqlalchemy as sa
from alembic import op

import tds.db

revision = '0006'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tds_inbox_events', sa.Column('claimed_at', tds.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('tds_inbox_events', 'claimed_at')
