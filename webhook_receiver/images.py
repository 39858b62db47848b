"""``GET /product-images/<file>``: the product image files :mod:`tds.sync.images` keeps.

Only names of the form ``{zoho_item_id}.{jpg|png|webp}`` are looked up, inside
``TDS_IMAGE_DIR/products`` and nowhere else: anything else, and any path that tries to
leave the folder, is 404. Answers carry the content type of the file's kind, an ``ETag``
and ``Cache-Control: public, max-age=300``; a request whose ``If-None-Match`` matches gets
304. An image replaced in Zoho keeps its name, so caches revalidate after five minutes.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, abort, send_from_directory

from tds.config import Settings

SUBDIR = "products"  # the folder tds.sync.images writes to, under TDS_IMAGE_DIR
MAX_AGE = 300
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(jpg|png|webp)")


def blueprint(settings: Settings) -> Blueprint:
    bp = Blueprint("product_images", __name__)
    directory = Path(settings.image_dir).resolve() / SUBDIR

    @bp.get("/product-images/<path:name>", merge_slashes=False)
    def product_image(name: str):
        match = _NAME.fullmatch(name)
        if match is None:
            abort(404)
        return send_from_directory(directory, name, mimetype=CONTENT_TYPES[match.group(1)], max_age=MAX_AGE,
                                   conditional=True, etag=True)

    return bp
