"""Image tasks: one download per image on ``tds.images``, and the hourly sweep. The logic is in :mod:`tds.sync.images`."""

from __future__ import annotations

from celery import shared_task

from tasks.policy import zoho_task
from tasks.sending import send_image
from tds.config import get_settings
from tds.inbox.decisions import Action, Decision
from tds.queues import DOWNLOAD_IMAGE
from tds.sync import images
from tds.zoho import shared as zoho_shared


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
    return str(images.download(settings, zoho_shared.zoho_client(settings), job))


@shared_task(name="tds.sweep_images", bind=True)
def sweep_images(self) -> int:
    return images.sweep(get_settings(), lambda job: send_image(self.app, job.organization_id, job.zoho_item_id))
