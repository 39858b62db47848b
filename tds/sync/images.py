"""Product images: downloaded from Zoho Inventory, kept current, and counted.

Each product with an image in Zoho (a non-empty ``image_document_id``) gets one file,
``TDS_IMAGE_DIR/products/{zoho_item_id}.{jpg|png|webp}``, named by what the bytes really
are (magic bytes, then a full decode), and ``products.image_url = /product-images/{file}``.
``tds_product_images`` keeps, per product, the Zoho image reference the file answers and
its sha256.

When an image is fetched
    :func:`after_write` runs in the transaction that upserted products (webhooks and
    syncs) and names the products whose image reference changed: a new, changed or removed
    ``image_document_id``. Each gets one task on the ``tds.images`` queue. The hourly
    :func:`sweep` sends tasks for anything still missing (a failed download, a file deleted
    from disk, a task the broker lost). ``tds images sync`` fetches the same: what is
    missing here or whose Zoho reference changed. Zoho may keep an ``image_document_id``
    for a replaced image; ``tds images sync --refetch`` fetches every image again, and the
    sha256 decides whether the file is rewritten.

What a download does (:func:`download`)
    An image removed in Zoho removes the file and clears the url. A body that is empty, too
    large or not a decodable JPEG, PNG or WebP raises :class:`ImageRefused` with the
    reason, recorded on the product's row; no file is written. A good image is written
    atomically (a temporary file in the same folder, then ``os.replace``), so a reader
    never sees half an image, and only when its sha256 differs from the stored one.

    Two downloads of one product may run at once (a webhook and the sweep). The result is
    written under a row lock, and only if the product still has the reference the download
    started from; a newer reference has a task of its own.

The shared budget
    Images go through the same Zoho client as everything else (quota, breaker, rate limit,
    token). They are low priority: a download starts only while more than
    ``1 - TDS_IMAGE_BUDGET_SHARE`` of the minute's budget is free, else it raises
    :class:`BudgetReserved` and the task retries after the window moves (never sleeping in
    the worker).
"""

from __future__ import annotations

import enum
import hashlib
import io
import logging
import os
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import sqlalchemy as sa
from PIL import Image, UnidentifiedImageError

from tds.config import Settings
from tds.db import dialect_insert, get_engine, utcnow
from tds.models import metadata, product_images
from tds.registry import Mapped
from tds.zoho.errors import ZohoNotFound, ZohoRateLimited

log = logging.getLogger(__name__)

URL_PREFIX = "/product-images/"
SUBDIR = "products"
# Pillow's format name → (file extension, content type); the only kinds kept
KINDS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))


class ImageRefused(ValueError):
    """The body Zoho sent is not an image we keep; the message says why."""


class BudgetReserved(ZohoRateLimited):
    """Too little of this minute's Zoho budget is free for a low-priority image download."""


class Result(enum.StrEnum):
    WRITTEN = "written"  # a new or changed file
    UNCHANGED = "unchanged"  # same bytes as the file kept: nothing written
    REMOVED = "removed"  # no image in Zoho: file removed, url cleared
    SUPERSEDED = "superseded"  # the product's image changed meanwhile; its own task fetches it
    GONE = "gone"  # no such product here


@dataclass(frozen=True)
class Job:
    organization_id: str
    zoho_item_id: str
    fetch: bool = field(default=True, compare=False)  # False: no image in Zoho, only a removal


def products_table() -> sa.Table:
    return metadata.tables["products"]


def folder(settings: Settings) -> Path:
    return Path(settings.image_dir) / SUBDIR


# ---------------------------------------------------------------------- checking bytes

def sniff(content: bytes) -> str | None:
    """The image format the magic bytes announce (``JPEG``, ``PNG``, ``WEBP``), or None."""
    for magic, fmt in _MAGIC:
        if content.startswith(magic):
            return fmt
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_image(content: bytes, content_type: str, max_bytes: int) -> tuple[str, str]:
    """``(extension, content type)`` of a body that is a whole, decodable image; else
    :class:`ImageRefused` with the reason. The format comes from the bytes, not the header."""
    if not content:
        raise ImageRefused("Zoho answered with an empty body")
    if len(content) > max_bytes:
        raise ImageRefused(f"image of {len(content)} bytes is larger than TDS_IMAGE_MAX_BYTES={max_bytes}")
    fmt = sniff(content)
    if fmt is None:
        raise ImageRefused(f"body is not a JPEG, PNG or WebP image (Content-Type {content_type or 'none'}, "
                           f"{len(content)} bytes starting {content[:8]!r})")
    try:
        with Image.open(io.BytesIO(content)) as picture:
            picture.load()  # decodes every pixel: a truncated or damaged image fails here
            decoded = picture.format
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise ImageRefused(f"damaged {fmt} image ({len(content)} bytes): {exc}") from None
    if decoded != fmt:
        raise ImageRefused(f"bytes announce {fmt} but decode as {decoded}")
    return KINDS[fmt]


def write_atomically(directory: Path, name: str, content: bytes) -> Path:
    """Write ``content`` to ``directory/name`` so a reader sees the old file or the new one, never half."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / name)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return directory / name


def _remove_files(directory: Path, zoho_item_id: str, keep: str | None = None) -> None:
    for ext, _ in KINDS.values():
        name = f"{zoho_item_id}.{ext}"
        if name != keep:
            with suppress(FileNotFoundError):
                (directory / name).unlink()


# ---------------------------------------------------------------------- what needs work

def _needing_work(conn, organization_id: str | None, zoho_item_ids: Iterable[str] | None, everything: bool):
    """Rows (org, item id, reference, stored file) of products whose file does not answer
    their image reference; ``everything`` adds every product with an image."""
    p, i = products_table(), product_images
    reference = sa.func.coalesce(p.c.zoho_image_document_id, "")
    changed = sa.or_(reference != sa.func.coalesce(i.c.zoho_image_document_id, ""),
                     sa.and_(reference != "", i.c.file_name.is_(None)))
    query = (
        sa.select(p.c.organization_id, p.c.zoho_item_id, p.c.zoho_image_document_id, i.c.file_name,
                  i.c.zoho_image_document_id.label("stored_reference"))
        .select_from(p.outerjoin(i, sa.and_(i.c.organization_id == p.c.organization_id,
                                            i.c.zoho_item_id == p.c.zoho_item_id)))
        .where(p.c.deleted_at.is_(None))
        .order_by(p.c.organization_id, p.c.zoho_item_id)
    )
    if organization_id is not None:
        query = query.where(p.c.organization_id == organization_id)
    if zoho_item_ids is not None:
        query = query.where(p.c.zoho_item_id.in_(list(zoho_item_ids)))
    if everything:
        return conn.execute(query.where(sa.or_(reference != "", changed))).all()
    return conn.execute(query.where(changed)).all()


def after_write(conn, records: list[Mapped], applied_ids: set[str]) -> list[Job]:
    """In the transaction that upserted ``records``: the products just written whose image
    reference changed (new, changed or removed), one :class:`Job` each, to send once it commits."""
    jobs: list[Job] = []
    products = [r for r in records if r.entity.table == "products" and r.zoho_id in applied_ids]
    for org in sorted({r.organization_id for r in products}):
        ids = [r.zoho_id for r in products if r.organization_id == org]
        jobs += [Job(row.organization_id, row.zoho_item_id, fetch=bool(row.zoho_image_document_id))
                 for row in _needing_work(conn, org, ids, False)]
    return jobs


def pending(settings: Settings, organization_id: str | None = None, missing_only: bool = True) -> list[Job]:
    """Products whose image needs a download or a removal (``missing_only``: what is
    missing, stale or deleted from disk; otherwise every product with an image too)."""
    directory = folder(settings)
    with get_engine(settings.database_url).connect() as conn:
        rows = _needing_work(conn, organization_id, None, everything=True)
    jobs = []
    for row in rows:
        answered = row.file_name is not None and (row.zoho_image_document_id or None) == row.stored_reference
        if missing_only and answered and (directory / row.file_name).is_file():
            continue
        jobs.append(Job(row.organization_id, row.zoho_item_id, fetch=bool(row.zoho_image_document_id)))
    return jobs


def sweep(settings: Settings, send: Callable[[Job], None]) -> int:
    """Send a download for every image that is missing or stale (the hourly beat job)."""
    jobs = pending(settings, missing_only=True)
    for job in jobs:
        send(job)
    if jobs:
        log.info("image sweep: %d downloads sent", len(jobs))
    return len(jobs)


def seconds_needed(settings: Settings, count: int) -> float:
    """The least time ``count`` downloads take under the rate limit share images may use."""
    per_minute = settings.zoho_rate_limit * settings.image_budget_share
    return count * 60.0 / max(per_minute, 1e-9)


# ---------------------------------------------------------------------- one download

def check_budget(settings: Settings, client, organization_id: str) -> None:
    """Raise :class:`BudgetReserved` while too little of the minute's budget is free for images."""
    limiter = client.limiter
    reset_at, remaining = limiter.limiter.get_window_stats(limiter.item, "zoho", organization_id)
    reserve = settings.zoho_rate_limit * (1 - settings.image_budget_share)
    if remaining <= reserve:
        wait = max(1.0, reset_at - time.time())
        raise BudgetReserved(f"{remaining} of {settings.zoho_rate_limit} requests left this minute for "
                             f"organization {organization_id}; images leave them to webhooks", retry_after=wait)


def download(settings: Settings, client, job: Job, low_priority: bool = True) -> Result:
    """Bring one product's image file in line with Zoho; see the module docstring."""
    engine = get_engine(settings.database_url)
    directory = folder(settings)
    p = products_table()
    where = sa.and_(p.c.organization_id == job.organization_id, p.c.zoho_item_id == job.zoho_item_id)
    with engine.connect() as conn:
        product = conn.execute(sa.select(p.c.zoho_image_document_id, p.c.image_name, p.c.deleted_at)
                               .where(where)).first()
    if product is None:
        return Result.GONE
    reference = product.zoho_image_document_id
    if not reference:
        return _store(engine, directory, job, None, None, None, None, None, note=None)
    if low_priority:
        check_budget(settings, client, job.organization_id)
    try:
        content, content_type = client.request_bytes("inventory", f"/items/{job.zoho_item_id}/image",
                                                     job.organization_id)
    except ZohoNotFound:
        log.info("item %s lists image %s but Zoho has none: removed here", job.zoho_item_id, reference)
        return _store(engine, directory, job, reference, None, None, None, None,
                      note="Zoho has no image for this item")
    try:
        ext, kind = check_image(content, content_type, settings.image_max_bytes)
    except ImageRefused as exc:
        _record_refusal(engine, job, reference, product.image_name, str(exc))
        raise
    return _store(engine, directory, job, reference, product.image_name, content, ext, kind, note=None)


def _lock_row(conn, job: Job):
    """The product's image row, created when new, locked for this transaction."""
    conn.execute(dialect_insert(conn, product_images)
                 .values(organization_id=job.organization_id, zoho_item_id=job.zoho_item_id)
                 .on_conflict_do_nothing(index_elements=["organization_id", "zoho_item_id"]))
    return conn.execute(sa.select(product_images).where(
        product_images.c.organization_id == job.organization_id,
        product_images.c.zoho_item_id == job.zoho_item_id).with_for_update()).first()


def _current_reference(conn, job: Job):
    p = products_table()
    return conn.execute(sa.select(p.c.zoho_image_document_id).where(
        p.c.organization_id == job.organization_id, p.c.zoho_item_id == job.zoho_item_id)).scalar()


def _store(engine, directory: Path, job: Job, reference, image_name, content: bytes | None, ext, kind,
           note) -> Result:
    """Write the file (or remove it) and the row, if the product still has ``reference``."""
    now = utcnow()
    p = products_table()
    with engine.begin() as conn:
        row = _lock_row(conn, job)
        if (_current_reference(conn, job) or None) != (reference or None):
            return Result.SUPERSEDED
        values = {"zoho_image_document_id": reference or None, "image_name": image_name, "checked_at": now,
                  "error": note}
        if content is None:
            _remove_files(directory, job.zoho_item_id)
            values.update(file_name=None, content_type=None, sha256=None, size_bytes=None)
            url, result = None, Result.REMOVED
        else:
            name = f"{job.zoho_item_id}.{ext}"
            digest = hashlib.sha256(content).hexdigest()
            result = Result.UNCHANGED
            if not (row.sha256 == digest and row.file_name == name and (directory / name).is_file()):
                write_atomically(directory, name, content)
                _remove_files(directory, job.zoho_item_id, keep=name)  # a png that became a jpg
                values["downloaded_at"] = now
                result = Result.WRITTEN
            values.update(file_name=name, content_type=kind, sha256=digest, size_bytes=len(content))
            url = URL_PREFIX + name
        conn.execute(sa.update(product_images).where(product_images.c.id == row.id).values(**values))
        conn.execute(sa.update(p).where(p.c.organization_id == job.organization_id,
                                        p.c.zoho_item_id == job.zoho_item_id).values(image_url=url))
    return result


def _record_refusal(engine, job: Job, reference, image_name, reason: str) -> None:
    """A refused body: the reason is kept with the reference; the file kept before stays."""
    with engine.begin() as conn:
        row = _lock_row(conn, job)
        conn.execute(sa.update(product_images).where(product_images.c.id == row.id).values(
            zoho_image_document_id=reference, image_name=image_name, checked_at=utcnow(), error=reason[:4000],
            file_name=None if row.zoho_image_document_id != reference else row.file_name))


# ---------------------------------------------------------------------- counting

def coverage(settings: Settings, organization_id: str) -> dict:
    """Image coverage of one organization, for ``tds images status``, ``tds status`` and reconciliation.

    ``with_image``: products (not deleted) with an image in Zoho; ``present``: of those, a
    file on disk for the current reference; ``stale``: a file on disk for an older
    reference; ``missing``: the rest (``failed`` of them were refused, with a reason);
    ``orphaned``: files kept for products that have no image in Zoho any more;
    ``percent``: present / with_image (100.0 when no product has an image).
    """
    p, i = products_table(), product_images
    directory = folder(settings)
    query = (
        sa.select(p.c.zoho_image_document_id, i.c.zoho_image_document_id.label("stored"), i.c.file_name, i.c.error)
        .select_from(p.outerjoin(i, sa.and_(i.c.organization_id == p.c.organization_id,
                                            i.c.zoho_item_id == p.c.zoho_item_id)))
        .where(p.c.organization_id == organization_id, p.c.deleted_at.is_(None))
    )
    counts = dict(organization_id=organization_id, items=0, with_image=0, present=0, stale=0, missing=0, failed=0,
                  orphaned=0)
    with get_engine(settings.database_url).connect() as conn:
        for reference, stored, file_name, error in conn.execute(query):
            counts["items"] += 1
            on_disk = file_name is not None and (directory / file_name).is_file()
            if not reference:
                counts["orphaned"] += on_disk
                continue
            counts["with_image"] += 1
            if on_disk and stored == reference:
                counts["present"] += 1
            elif on_disk:
                counts["stale"] += 1
            else:
                counts["missing"] += 1
                counts["failed"] += error is not None
    total = counts["with_image"]
    counts["percent"] = round(100.0 * counts["present"] / total, 1) if total else 100.0
    return counts


def refusals(settings: Settings, organization_id: str, limit: int = 20) -> list[tuple[str, str]]:
    """(zoho item id, reason) of the latest refused downloads still without a file."""
    i = product_images
    query = (sa.select(i.c.zoho_item_id, i.c.error)
             .where(i.c.organization_id == organization_id, i.c.error.is_not(None), i.c.file_name.is_(None))
             .order_by(i.c.checked_at.desc()).limit(limit))
    with get_engine(settings.database_url).connect() as conn:
        return [(row.zoho_item_id, row.error) for row in conn.execute(query)]


def describe(counts: dict) -> str:
    """One line: ``images: 91.8 % match (70 missing, 2 stale) of 853 items with an image``."""
    gaps = [f"{counts[k]} {k}" for k in ("missing", "stale") if counts[k]]
    return (f"images: {counts['percent']:.1f} % match" + (f" ({', '.join(gaps)})" if gaps else "")
            + f" of {counts['with_image']} items with an image")

