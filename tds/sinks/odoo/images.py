"""Where a product's downloaded image is, and the sha256 of its bytes.

The image download (:mod:`tds.sync.images`) keeps, per product, the file it wrote under
``TDS_IMAGE_DIR/products`` and the sha256 of its bytes in ``tds_product_images``; the Odoo
push asks here, so an unchanged image costs a row read, never a re-hash of the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa

from tds.config import Settings
from tds.db import get_engine
from tds.models import product_images


@dataclass(frozen=True)
class LocalImage:
    path: str
    sha256: str
    size_bytes: int

    def read(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()


def product_image(settings: Settings, zoho_item_id: str, values: dict | None = None) -> LocalImage | None:
    """The downloaded image of item ``zoho_item_id`` (``values``: its products row), or None."""
    organization_id = (values or {}).get("organization_id")
    with get_engine(settings.database_url).connect() as conn:
        stmt = sa.select(product_images.c.file_name, product_images.c.sha256, product_images.c.size_bytes).where(
            product_images.c.zoho_item_id == zoho_item_id, product_images.c.file_name.is_not(None))
        if organization_id:
            stmt = stmt.where(product_images.c.organization_id == organization_id)
        row = conn.execute(stmt).first()
    if row is None or not row.sha256:
        return None
    path = os.path.join(settings.image_dir, "products", row.file_name)
    if not os.path.exists(path):
        return None  # the image sweep writes it again; the next push sends it
    return LocalImage(path, row.sha256, row.size_bytes or os.path.getsize(path))
