"""sync runs: progress, holder, heartbeat, params, reconcile report; sync state: last reconcile

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tds.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_COUNTS = ('records_unchanged', 'records_failed', 'records_deleted')


def upgrade() -> None:
    with op.batch_alter_table('tds_sync_runs') as batch:
        batch.add_column(sa.Column('heartbeat_at', tds.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('holder', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('params', _JSON, nullable=True))
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('report', _JSON, nullable=True))
    with op.batch_alter_table('tds_sync_state') as batch:
        batch.add_column(sa.Column('last_reconcile_at', tds.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tds_sync_state') as batch:
        batch.drop_column('last_reconcile_at')
    with op.batch_alter_table('tds_sync_runs') as batch:
        for name in ('report', *_COUNTS, 'params', 'holder', 'heartbeat_at'):
            batch.drop_column(name)
