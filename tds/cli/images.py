"""``tds images``: fetch product images from Zoho Inventory into TDS_IMAGE_DIR, and count them."""

# The Zoho client (tds.zoho.shared) loads only when images are fetched here, not on `tds --help`.

from __future__ import annotations

import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tasks import send_image
from tds.cli.connections import open_database
from tds.config import get_settings
from tds.sync import images
from tds.zoho.errors import ZohoError


@click.group("images")
def images_group() -> None:
    """Product images from Zoho Inventory.

    Fetch them into TDS_IMAGE_DIR, and count them.
    """


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@images_group.command("sync")
@click.option("--refetch", is_flag=True, help="Fetch every image again and compare by sha256 (finds an image "
              "Zoho replaced under the same image_document_id).")
@click.option("--missing-only", is_flag=True, hidden=True, help="What plain `images sync` does (kept as an alias).")
@click.option("--dry-run", is_flag=True, help="List what would be fetched and how long it takes; change nothing.")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--celery", "via_celery", is_flag=True, help="Send one task per image to the tds.images queue instead.")
def images_sync(refetch: bool, missing_only: bool, dry_run: bool, orgs: tuple[str, ...], via_celery: bool) -> None:
    """Fetch images missing here or changed in Zoho.

    Then report what changed. A second run with nothing changed makes no image call. With --refetch every image is
    fetched again and compared by sha256, which also finds images Zoho replaced under the
    same image_document_id (as `tds sync --full --refetch` does for records).
    """
    if refetch and missing_only:
        raise click.UsageError("--refetch and --missing-only contradict each other")
    settings = get_settings()
    open_database(settings)
    org_ids = list(orgs) or list(settings.zoho_organization_ids)
    jobs = [job for org in org_ids for job in images.pending(settings, org, missing_only=not refetch)]
    downloads = sum(job.fetch for job in jobs)
    click.echo(f"{downloads} images to fetch, {len(jobs) - downloads} to remove; under TDS_ZOHO_RATE_LIMIT="
               f"{settings.zoho_rate_limit}/min, of which images use {settings.image_budget_share:.0%}, "
               f"that takes at least {_duration(images.seconds_needed(settings, downloads))}")
    if dry_run:
        for job in jobs:
            click.echo(f"would {'fetch' if job.fetch else 'remove'} {job.organization_id} {job.zoho_item_id}")
        return
    if via_celery:
        for job in jobs:
            send_image(job.organization_id, job.zoho_item_id)
        click.echo(f"queued {len(jobs)} image tasks on tds.images")
        return
    from tds.zoho import shared as zoho_shared

    settings.require_zoho_credentials()
    client = zoho_shared.zoho_client(settings, budget_wait=60)  # this process may wait for the rate limit
    done: dict[str, int] = {}
    problems: list[str] = []

    def one(job) -> str:
        while True:
            try:
                return str(images.download(settings, client, job))
            except images.BudgetReserved as exc:  # webhooks come first; this process may wait
                time.sleep(exc.retry_after or 1)
            except (images.ImageRefused, ZohoError) as exc:
                problems.append(f"{job.organization_id} {job.zoho_item_id}: {exc}")
                return "refused" if isinstance(exc, images.ImageRefused) else "failed"

    for n, job in _progress(jobs, "images"):
        outcome = one(job)
        done[outcome] = done.get(outcome, 0) + 1
        if n is not None:
            click.echo(f"[{n}/{len(jobs)}] {job.organization_id} {job.zoho_item_id}: {outcome}")
    click.echo(", ".join(f"{count} {what}" for what, count in sorted(done.items())) or "nothing to do")
    for line in problems:
        click.echo(line, err=True)
    if problems:
        sys.exit(1)


def _progress(items: list, label: str):
    """``(n, item)``: a rich progress bar on a terminal (n None), else plain numbered lines (n)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield from ((n, item) for n, item in enumerate(items, start=1))
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task(label, total=len(items))
        for item in items:
            yield None, item
            progress.advance(task)


@images_group.command("status")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
def images_status(orgs: tuple[str, ...]) -> None:
    """Image coverage per organization.

    Items with an image in Zoho, files present, missing, stale, and why downloads were refused.
    """
    settings = get_settings()
    open_database(settings)
    table = Table("organization", "items", "with image", "present", "missing", "stale", "refused", "orphaned",
                  "coverage")
    lines = []
    for org in list(orgs) or list(settings.zoho_organization_ids):
        c = images.coverage(settings, org)
        table.add_row(org, *(str(c[k]) for k in ("items", "with_image", "present", "missing", "stale", "failed",
                                                  "orphaned")), f"{c['percent']:.1f} %")
        lines.append(f"{org} {images.describe(c)}")
        lines += [f"  refused {item}: {reason}" for item, reason in images.refusals(settings, org)]
    console = Console()
    console.print(table)
    for line in lines:
        console.print(line, highlight=False, markup=False)
