"""Where a product's downloaded image is, and the sha256 of its bytes.

The image download (``TDS_IMAGE_DIR/products/{zoho_item_id}.{jpg|png|webp}``) is its own
piece of TDS; the Odoo push needs only this one answer from it, asked here. Until the
products table carries the image's path and digest, the file is found by that naming rule
and hashed when asked.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from tds.config import Settings

IMAGE_SUFFIXES = ("jpg", "png", "webp")


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
    folder = os.path.join(settings.image_dir, "products")
    for suffix in IMAGE_SUFFIXES:
        path = os.path.join(folder, f"{zoho_item_id}.{suffix}")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            continue
        return LocalImage(path, hashlib.sha256(data).hexdigest(), len(data))
    return None
