"""Image tasks: one download per image on ``tds.images``, and the hourly sweep. The logic is in :mod:`tds.images`."""

from __future__ import annotations

from celery import shared_task

from tasks.celery_app import DOWNLOAD_IMAGE, send_image
from tasks.policy import zoho_task
from tds import images, services
from tds.config import get_settings
from tds.decisions import Action, Decision


def _image_failure(task, exc: BaseException, decision: Decision, organization_id: str, zoho_item_id: str
                   ) -> Decision:
    """A download held back for the webhooks' share of the budget tries again when the
    window moves, however often; it is not a failure. A refused body is already recorded
    with its reason on the product's image row (``tds images status`` lists it)."""
    if isinstance(exc, images.BudgetReserved):
        return Decision(Action.RETRY, countdown=min(60.0, exc.retry_after or 1.0))
    return decision


@zoho_task(DOWNLOAD_IMAGE, on_failure=_image_failure)
def download_image(self, organization_id: str, zoho_item_id: str) -> str:
    settings = get_settings()
    job = images.Job(organization_id, zoho_item_id)
    return str(images.download(settings, services.zoho_client(settings), job))


@shared_task(name="tds.sweep_images", bind=True)
def sweep_images(self) -> int:
    return images.sweep(get_settings(), lambda job: send_image(self.app, job.organization_id, job.zoho_item_id))
