"""Modules an organization does not have: a full sync that says so instead of failing.

Real organizations differ: a module is switched off or not in the plan, or the refresh
token's scopes leave it out. Zoho then answers the entity's *list* call with "not found",
"module not enabled" or a scope error. :func:`sync_entity` runs a sync
(:func:`tds.sync.synchronizer.run_sync`, full or incremental) and, on such an answer, marks the entity ``unavailable`` for that organization in
``tds_sync_state`` (with Zoho's code and message) instead of failing; any other error is
raised as before. The entity is tried again on every full run, and a run that succeeds
marks it ``available`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.models import sync_runs, sync_state
from tds.registry import Entity
from tds.sync import synchronizer as sync
from tds.zoho.errors import ZohoAuthError, ZohoError, ZohoFatalError, ZohoNotFound

AVAILABLE, UNAVAILABLE = "available", "unavailable"

#: Zoho's codes for a module that is not there or not allowed (CRM's are strings).
MODULE_CODES = frozenset({"FEATURE_NOT_ENABLED", "FEATURE_NOT_SUPPORTED", "NOT_SUPPORTED", "NO_PERMISSION",
                          "OAUTH_SCOPE_MISMATCH", "INVALID_URL_PATTERN"})
_MODULE_WORDS = ("not enabled", "not available", "scope", "not subscribed")


@dataclass
class Unavailable:
    entity: str
    organization_id: str
    code: str | None
    message: str

    def line(self) -> str:
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{self.entity} ({self.organization_id}): unavailable{code}: {self.message}"


def is_unavailable(entity: Entity, exc: BaseException) -> bool:
    """Whether ``exc`` is Zoho saying the entity's list is not there for the organization."""
    if not isinstance(exc, ZohoFatalError) or not exc.url:
        return False
    if not urlsplit(exc.url).path.endswith(entity.list_path):
        return False  # a detail, or the token endpoint: not the module
    if isinstance(exc, (ZohoNotFound, ZohoAuthError)):
        return True
    message = (exc.message or "").lower()
    return exc.code in MODULE_CODES or any(words in message for words in _MODULE_WORDS)


def sync_entity(settings: Settings, entity: Entity, organization_id: str, client, **options
                ) -> sync.SyncResult | Unavailable:
    """:func:`tds.sync.synchronizer.run_sync` (same ``options``), or :class:`Unavailable` when the
    organization does not have the entity's module; the sync state says which."""
    engine = get_engine(settings.database_url)
    try:
        result = sync.run_sync(settings, entity, organization_id, client, **options)
    except ZohoError as exc:
        if not is_unavailable(entity, exc):
            raise
        found = Unavailable(entity.name, organization_id, None if exc.code is None else str(exc.code), exc.message)
        _mark(engine, entity.name, organization_id, found)
        return found
    _mark(engine, entity.name, organization_id, None)
    return result


def _mark(engine, entity: str, organization_id: str, found: Unavailable | None) -> None:
    now = utcnow()
    where = (sync_state.c.organization_id == organization_id, sync_state.c.entity == entity)
    if found is None:
        values = {"status": AVAILABLE, "unavailable_code": None, "unavailable_reason": None,
                  "unavailable_since": None}
    else:
        values = {"status": UNAVAILABLE, "unavailable_code": found.code, "unavailable_reason": found.message[:4000]}
    with engine.begin() as conn:
        existing = conn.execute(sa.select(sync_state.c.id, sync_state.c.status).where(*where)).first()
        if found is not None and (existing is None or existing.status != UNAVAILABLE):
            values["unavailable_since"] = now
        if existing is None:
            conn.execute(sa.insert(sync_state).values(organization_id=organization_id, entity=entity,
                                                      updated_at=now, **values))
        else:
            conn.execute(sa.update(sync_state).where(sync_state.c.id == existing.id).values(updated_at=now, **values))
        if found is not None:  # the run the sync recorded as failed
            newest = sa.select(sa.func.max(sync_runs.c.id)).where(sync_runs.c.organization_id == organization_id,
                                                                  sync_runs.c.entity == entity)
            conn.execute(sa.update(sync_runs).where(sync_runs.c.id == newest.scalar_subquery(),
                                                    sync_runs.c.status == "failed")
                         .values(status=UNAVAILABLE))
