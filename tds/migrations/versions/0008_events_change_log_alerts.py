"""operations: named events, the change log, alerts

Revision ID: 0008
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tds.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('tds_events',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=True),
    sa.Column('entity', sa.String(length=40), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('created_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_events'))
    )
    op.create_index('ix_tds_events_name_created_at', 'tds_events', ['name', 'created_at'])
    op.create_index('ix_tds_events_created_at', 'tds_events', ['created_at'])
    op.create_table('tds_change_log',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('zoho_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('inbox_event_id', ID, nullable=True),
    sa.Column('sync_run_id', ID, nullable=True),
    sa.Column('created_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_change_log'))
    )
    op.create_index('ix_tds_change_log_entity_zoho_id', 'tds_change_log', ['entity', 'zoho_id'])
    op.create_index('ix_tds_change_log_created_at', 'tds_change_log', ['created_at'])
    op.create_table('tds_alerts',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('opened_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_notified_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', tds.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_alerts'))
    )
    op.create_index('ix_tds_alerts_key_cleared_at', 'tds_alerts', ['key', 'cleared_at'])


def downgrade() -> None:
    op.drop_table('tds_alerts')
    op.drop_table('tds_change_log')
    op.drop_table('tds_events')
