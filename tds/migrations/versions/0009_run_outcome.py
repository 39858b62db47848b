"""run outcome: why a run did not succeed, and when a deferred one tries again

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-03 21:00:00
"""
import sqlalchemy as sa
from alembic import op

import tds.db

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tds_sync_runs', sa.Column('reason', sa.String(32), nullable=True))
    op.add_column('tds_sync_runs', sa.Column('retry_at', tds.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('tds_sync_runs', 'retry_at')
    op.drop_column('tds_sync_runs', 'reason')
