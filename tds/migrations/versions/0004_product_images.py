"""product images: tds_product_images, products.image_url

Revision ID: 0004
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import tds.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tds_product_images',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_item_id', sa.String(length=32), nullable=False),
    sa.Column('zoho_image_document_id', sa.String(length=64), nullable=True),
    sa.Column('image_name', sa.String(length=255), nullable=True),
    sa.Column('file_name', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=32), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('downloaded_at', tds.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_at', tds.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tds_product_images')),
    sa.UniqueConstraint('organization_id', 'zoho_item_id', name=op.f('uq_tds_product_images_organization_id_zoho_item_id'))
    )
    op.add_column('products', sa.Column('image_url', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.drop_column('image_url')
    op.drop_table('tds_product_images')
