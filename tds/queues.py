"""The queues and task names every process shares, and where each task goes.

Queues: one per registry entity (``tds.items``, ``tds.invoices``, …) for webhook events,
``tds.sync`` for syncs and reconciles, ``tds.maintenance`` for the sweepers and the cleanup,
``tds.images`` for image downloads and ``tds.odoo`` for pushes to Odoo. Workers take them by
group (``tds worker --queues webhooks|sync|maintenance|images|odoo``). The Celery app
(:mod:`tasks.celery_app`) routes with :func:`route_task`; the status reads the same names, so
nothing in the library needs the Celery app to know them.
"""

from __future__ import annotations

from tds import registry

MAINTENANCE_QUEUE = "tds.maintenance"
SYNC_QUEUE = "tds.sync"
IMAGES_QUEUE = "tds.images"
ODOO_QUEUE = "tds.odoo"
PROCESS_EVENT = "tds.process_event"
SYNC_ENTITY = "tds.sync_entity"
RECONCILE_ENTITY = "tds.reconcile_entity"
DOWNLOAD_IMAGE = "tds.download_image"
ODOO_PUSH = "tds.odoo.push"
ODOO_PUSH_EVENT = "tds.odoo.push_event"
SYNC_TASKS = (SYNC_ENTITY, RECONCILE_ENTITY)

QUEUE_GROUPS = {
    "webhooks": lambda: registry.queues(),
    "sync": lambda: [SYNC_QUEUE],
    "maintenance": lambda: [MAINTENANCE_QUEUE],
    "images": lambda: [IMAGES_QUEUE],
    "odoo": lambda: [ODOO_QUEUE],
}


def all_queues() -> list[str]:
    return [*registry.queues(), SYNC_QUEUE, MAINTENANCE_QUEUE, IMAGES_QUEUE, ODOO_QUEUE]


def queues_of(groups: list[str]) -> list[str]:
    """The queues of ``webhooks``, ``sync``, ``maintenance``, ``images``, ``odoo`` or ``all``."""
    if not groups or "all" in groups:
        return all_queues()
    return [q for group in groups for q in QUEUE_GROUPS[group]()]


def route_task(name, args, kwargs, options, task=None, **_):
    """Event tasks go to their entity's queue (the entity is the second argument); syncs
    and reconciles to ``tds.sync``; everything else to ``tds.maintenance``."""
    if name == PROCESS_EVENT:
        entity = kwargs.get("entity") or (args[1] if len(args) > 1 else None)
        if entity:
            return {"queue": registry.get(entity).queue}
    if name.startswith("tds.odoo."):
        return {"queue": ODOO_QUEUE}
    if name in SYNC_TASKS:
        return {"queue": SYNC_QUEUE}
    if name == DOWNLOAD_IMAGE:
        return {"queue": IMAGES_QUEUE}
    return {"queue": MAINTENANCE_QUEUE}
