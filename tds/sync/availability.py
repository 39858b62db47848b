"""Modules an organization does not have: a full sync that says so instead of failing.

Real organizations differ: a module is switched off or not in the plan, or the refresh
token's scopes leave it out. Zoho then answers the entity's *list* call with "not found",
"module not enabled" or a scope error. :func:`sync_entity` runs a sync
(:func:`tds.sync.synchronizer.run_sync`, full or incremental) and, on such an answer, ends the
run ``unavailable`` and marks the entity ``unavailable`` for that organization in
``tds_sync_state`` (with Zoho's code and message) instead of failing; any other error is
raised as before. The entity is tried again on every full run, and a run that succeeds
marks it ``available`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tds import runs
from tds.config import Settings
from tds.db import get_engine, utcnow
from tds.registry import Entity
from tds.runs import Availability
from tds.sync import synchronizer as sync
from tds.zoho.errors import ZohoAuthError, ZohoError, ZohoFatalError, ZohoNotFound

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
    organization does not have the entity's module; the run ends ``unavailable`` and the sync
    state says so."""
    engine = get_engine(settings.database_url)
    try:
        result = sync.run_sync(settings, entity, organization_id, client,
                               unavailable=lambda exc: is_unavailable(entity, exc), **options)
    except ZohoError as exc:
        if not is_unavailable(entity, exc):
            raise
        found = Unavailable(entity.name, organization_id, None if exc.code is None else str(exc.code), exc.message)
        _mark(engine, entity.name, organization_id, found)
        return found
    _mark(engine, entity.name, organization_id, None)
    return result


def _mark(engine, entity: str, organization_id: str, found: Unavailable | None) -> None:
    if found is None:
        values = {"status": Availability.AVAILABLE, "unavailable_code": None, "unavailable_reason": None,
                  "unavailable_since": None}
    else:
        values = {"status": Availability.UNAVAILABLE, "unavailable_code": found.code,
                  "unavailable_reason": found.message[:4000], "unavailable_since": utcnow()}
    with engine.begin() as conn:
        runs.write_state(conn, organization_id, entity, **values)
