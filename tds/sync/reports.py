"""A reconcile's findings: per (organization, entity) and as one report with a health score.

Kept apart from :mod:`tds.sync.reconcile` (which calls Zoho) so that the receiver's admin API
and the status commands can read stored reports without loading the sync or the client.
Each entity's findings are stored on its reconcile run (``tds_sync_runs.report``), with
the counts of every kind of difference and up to ``EXAMPLES`` ids of each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from tds.config import Settings
from tds.db import get_engine
from tds.models import sync_runs
from tds.runs import Mode, RunStatus

EXAMPLES = 20  # ids shown per kind of difference


@dataclass
class EntityReport:
    entity: str
    organization_id: str
    zoho_count: int = 0
    here_count: int = 0
    matched: int = 0
    missing_here: list[str] = field(default_factory=list)
    gone_from_zoho: list[str] = field(default_factory=list)
    stale_here: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    api_calls: int = 0
    repaired: int = 0  # records fetched and written again
    deleted: int = 0  # soft-deleted here because Zoho no longer has them
    would_repair: int = 0  # dry run: what a repair would fetch
    would_delete: int = 0
    warnings: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # entity-specific figures (items: status, stock)
    run_id: int | None = None
    failed: str | None = None  # the reconcile could not read Zoho (or the database): what stopped it
    reason: str | None = None  # its short form (tds.sync.outcome: zoho_auth, zoho, database …)
    exit_code: int | None = None  # the exit of the command that ran it (7 for Zoho)
    still_off: int | None = None  # with repair: records that still differ after the repair

    @property
    def ok(self) -> bool:
        """It compared: neither failed, locked by another run, nor unavailable in the organization."""
        return self.failed is None and not self.details.get("unavailable") and not self.details.get("locked")

    @property
    def union(self) -> int:
        return self.matched + len(self.missing_here) + len(self.gone_from_zoho) + len(self.stale_here) + len(
            self.drift)

    @property
    def match_percent(self) -> float | None:
        """Matched over every record either side knows; None when nothing was compared (a
        failed, locked or unavailable entity has no match, never a 100 %)."""
        if not self.ok:
            return None
        return 100.0 if not self.union else round(100.0 * self.matched / self.union, 2)

    @property
    def off(self) -> bool:
        """Its mismatch is above ``alert_percent`` (set by :class:`Report`)."""
        return self.match_percent is not None and 100.0 - self.match_percent > self.alert_percent

    alert_percent = 1.0

    def as_dict(self) -> dict:
        out = asdict(self)
        for kind in ("missing_here", "gone_from_zoho", "stale_here", "drift"):
            ids = out.pop(kind)
            out[kind] = {"count": len(ids), "examples": ids[:EXAMPLES]}
        out["match_percent"] = self.match_percent
        return out


@dataclass
class Report:
    entities: list[EntityReport]
    alert_percent: float
    started_at: str = ""
    finished_at: str = ""

    def __post_init__(self) -> None:
        for e in self.entities:
            e.alert_percent = self.alert_percent

    @property
    def compared(self) -> list[EntityReport]:
        return [e for e in self.entities if e.ok]

    @property
    def health_score(self) -> float | None:
        """Matched over every record either side knows, over the entities that compared; a
        failed reconcile is left out. None when none compared ("no successful reconcile")."""
        compared = self.compared
        if not compared:
            return None
        union = sum(e.union for e in compared)
        return 100.0 if not union else round(100.0 * sum(e.matched for e in compared) / union, 1)

    @property
    def label(self) -> str:
        score = self.health_score
        if score is None:
            return "no successful reconcile"
        return "healthy" if score >= 99 else "degraded" if score >= 95 else "unhealthy"

    @property
    def failures(self) -> list[EntityReport]:
        return [e for e in self.entities if e.failed]

    @property
    def healthy(self) -> bool:
        """No entity failed, and none's mismatch is above the alert share."""
        return not self.failures and not any(e.off for e in self.entities)

    def exit_code(self, repair: bool = False) -> int:
        """The command's exit: a failed entity's own code (7 Zoho, 5 PostgreSQL, 6 Redis); else 3
        when another run held an entity's lock; else, after a repair, 1 when something is still
        off; else 1 when an entity's mismatch is above the alert share; else 0."""
        for e in self.failures:
            return e.exit_code or 1
        if any(e.details.get("locked") for e in self.entities):
            return 3
        if repair:
            return 1 if any(e.still_off for e in self.entities) else 0
        return 1 if any(e.off for e in self.entities) else 0

    def as_dict(self) -> dict:
        return {"health_score": self.health_score, "label": self.label, "healthy": self.healthy,
                "alert_percent": self.alert_percent, "started_at": self.started_at,
                "finished_at": self.finished_at, "entities": [e.as_dict() for e in self.entities]}


def latest_report(settings: Settings, conn=None) -> dict | None:
    """The newest *successful* reconcile of every (organization, entity), as one report: a
    reconcile that could not read Zoho says nothing of the match and never feeds the score.
    ``last_failed`` lists the entities whose newest reconcile failed after it (what, when)."""
    if conn is None:
        with get_engine(settings.database_url).connect() as conn:
            return latest_report(settings, conn)
    newest = (sa.select(sa.func.max(sync_runs.c.id))
              .where(sync_runs.c.mode == Mode.RECONCILE, sync_runs.c.report.is_not(None),
                     sync_runs.c.status == RunStatus.SUCCEEDED)
              .group_by(sync_runs.c.organization_id, sync_runs.c.entity))
    rows = conn.execute(sa.select(sync_runs).where(sync_runs.c.id.in_(newest)).order_by(sync_runs.c.id)).fetchall()
    last = (sa.select(sa.func.max(sync_runs.c.id))
            .where(sync_runs.c.mode == Mode.RECONCILE,
                   sync_runs.c.status.in_((RunStatus.SUCCEEDED, RunStatus.FAILED)))
            .group_by(sync_runs.c.organization_id, sync_runs.c.entity))
    failed = conn.execute(sa.select(sync_runs).where(sync_runs.c.id.in_(last),
                                                     sync_runs.c.status == RunStatus.FAILED)
                          .order_by(sync_runs.c.id)).fetchall()
    if not rows and not failed:
        return None
    entities = [_from_stored(row.report, row.id) for row in rows]
    report = Report(entities, settings.reconcile_alert_percent,
                    min((r.started_at for r in rows), default=None).isoformat() if rows else None,
                    max((r.finished_at or r.started_at) for r in rows).isoformat() if rows else None)
    out = report.as_dict()
    out["last_failed"] = [{"organization_id": r.organization_id, "entity": r.entity, "run_id": r.id,
                           "reason": r.reason or "error", "error": (r.error or "")[:300],
                           "at": (r.finished_at or r.started_at).isoformat()} for r in failed]
    return out


def _from_stored(stored: dict, run_id: int) -> EntityReport:
    rep = EntityReport(stored["entity"], stored["organization_id"], run_id=run_id)
    for key in ("zoho_count", "here_count", "matched", "api_calls", "repaired", "deleted", "would_repair",
                "would_delete", "warnings", "details", "failed", "reason", "exit_code", "still_off"):
        setattr(rep, key, stored.get(key, getattr(rep, key)))
    for kind in ("missing_here", "gone_from_zoho", "stale_here", "drift"):
        part = stored.get(kind) or {}
        ids = list(part.get("examples") or [])
        ids += [""] * max(0, int(part.get("count", 0)) - len(ids))  # counts kept, ids beyond the examples not
        setattr(rep, kind, ids)
    return rep
