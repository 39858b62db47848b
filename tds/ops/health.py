"""Setup checks about operations, for ``tds doctor`` (which calls :func:`checks`).

Each check answers a :class:`Check`: passed or not, one line saying what was found and,
when it failed, the fix in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from tds import registry, services
from tds.config import Settings
from tds.ops import status
from tds.ops.status import WorkersReader

SCOPE_PREFIX = {"books": "zohobooks.", "inventory": "zohoinventory.", "crm": "zohocrm."}


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str
    fix: str = ""

    def __str__(self) -> str:
        return f"✔ {self.line}" if self.ok else f"✘ {self.line} — {self.fix}"


def scopes_cover_entities(settings: Settings) -> Check:
    """Every enabled entity's API has a scope in ``ZOHO_SCOPES``."""
    if not settings.zoho_scopes:
        return Check(False, "ZOHO_SCOPES is not set, so the scopes cannot be checked",
                     "set ZOHO_SCOPES to the scopes the refresh token was granted")
    granted = [s.lower() for s in settings.zoho_scopes]
    lacking = sorted({e.name for e in registry.enabled(settings)
                      if not any(s.startswith(SCOPE_PREFIX.get(e.api, "~")) for s in granted)})
    if lacking:
        return Check(False, f"no scope covers {', '.join(lacking)}",
                     "grant the missing Zoho scope to the self-client and a new refresh token, or leave those "
                     "entities out with TDS_ENTITIES")
    return Check(True, f"the scopes cover every enabled entity ({len(registry.enabled(settings))})")


def workers_consume_every_queue(settings: Settings, workers: dict | None) -> Check:
    """``workers``: the live workers' answer (:func:`tds.ops.status.snapshot` says whose), None
    when they could not be asked."""
    if workers is None:
        return Check(False, "the workers could not be asked (broker unreachable)", "start Redis and check TDS_REDIS_URL")
    consumed = {q for qs in workers.values() for q in qs}
    missing = [q for q in status.queue_names(settings) if q not in consumed]
    if missing:
        return Check(False, f"no worker consumes {', '.join(missing)}",
                     "start a worker for them: tds worker (or tds worker --queues webhooks / sync / maintenance / "
                     "images)")
    return Check(True, f"{len(workers)} worker(s) consume every queue")


def one_beat(settings: Settings) -> Check:
    """RedBeat's lock is held (by construction by one beat at most)."""
    redis = services.redis_client(settings)
    if not status.beat_running(redis):
        return Check(False, "no beat holds the schedule lock", "start exactly one: tds beat")
    return Check(True, "one beat holds the schedule lock")


def checks(settings: Settings, workers: WorkersReader | None = None) -> list[Check]:
    """``workers`` asks the live workers (handed in by the command line)."""
    answer = workers(settings) if workers else None
    return [scopes_cover_entities(settings), workers_consume_every_queue(settings, answer), one_beat(settings)]
