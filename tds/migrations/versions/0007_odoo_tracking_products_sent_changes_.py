"""odoo tracking: products sent, changes, conflicts, images, runs

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-01 07:45:24.899922
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tds.db

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tds_odoo_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_item_id', sa.String(length=32), nullable=False),
    sa.Column('odoo_template_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_odoo_changes'))
    )
    with op.batch_alter_table('tds_odoo_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tds_odoo_changes_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tds_odoo_changes_zoho_item_id'), ['zoho_item_id'], unique=False)

    op.create_table('tds_odoo_conflicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_item_id', sa.String(length=32), nullable=False),
    sa.Column('odoo_template_id', sa.Integer(), nullable=True),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_odoo_conflicts'))
    )
    with op.batch_alter_table('tds_odoo_conflicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tds_odoo_conflicts_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tds_odoo_conflicts_zoho_item_id'), ['zoho_item_id'], unique=False)

    op.create_table('tds_odoo_images',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_item_id', sa.String(length=32), nullable=False),
    sa.Column('odoo_template_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_odoo_images'))
    )
    with op.batch_alter_table('tds_odoo_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tds_odoo_images_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tds_odoo_images_zoho_item_id'), ['zoho_item_id'], unique=False)

    op.create_table('tds_odoo_products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_item_id', sa.String(length=32), nullable=False),
    sa.Column('odoo_template_id', sa.Integer(), nullable=False),
    sa.Column('odoo_product_id', sa.Integer(), nullable=True),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('sent_values', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('pushed_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_odoo_products')),
    sa.UniqueConstraint('organization_id', 'zoho_item_id', name=op.f('uq_tds_odoo_products_organization_id_zoho_item_id'))
    )
    op.create_table('tds_odoo_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', tds.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', tds.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('seen', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated', sa.Integer(), server_default='0', nullable=False),
    sa.Column('unchanged', sa.Integer(), server_default='0', nullable=False),
    sa.Column('archived', sa.Integer(), server_default='0', nullable=False),
    sa.Column('conflicts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('images', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('odoo_calls', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_odoo_runs'))
    )
    with op.batch_alter_table('tds_odoo_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tds_odoo_runs_started_at'), ['started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tds_odoo_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tds_odoo_runs_started_at'))

    op.drop_table('tds_odoo_runs')
    op.drop_table('tds_odoo_products')
    with op.batch_alter_table('tds_odoo_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tds_odoo_images_zoho_item_id'))
        batch_op.drop_index(batch_op.f('ix_tds_odoo_images_at'))

    op.drop_table('tds_odoo_images')
    with op.batch_alter_table('tds_odoo_conflicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tds_odoo_conflicts_zoho_item_id'))
        batch_op.drop_index(batch_op.f('ix_tds_odoo_conflicts_at'))

    op.drop_table('tds_odoo_conflicts')
    with op.batch_alter_table('tds_odoo_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tds_odoo_changes_zoho_item_id'))
        batch_op.drop_index(batch_op.f('ix_tds_odoo_changes_at'))

    op.drop_table('tds_odoo_changes')
