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
from tds.runs import Mode

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

    @property
    def union(self) -> int:
        return self.matched + len(self.missing_here) + len(self.gone_from_zoho) + len(self.stale_here) + len(
            self.drift)

    @property
    def match_percent(self) -> float:
        return 100.0 if not self.union else round(100.0 * self.matched / self.union, 2)

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

    @property
    def health_score(self) -> float:
        union = sum(e.union for e in self.entities)
        return 100.0 if not union else round(100.0 * sum(e.matched for e in self.entities) / union, 1)

    @property
    def label(self) -> str:
        score = self.health_score
        return "healthy" if score >= 99 else "degraded" if score >= 95 else "unhealthy"

    @property
    def healthy(self) -> bool:
        """No entity failed, and none's mismatch is above the alert share."""
        return all(100.0 - e.match_percent <= self.alert_percent and not e.details.get("failed")
                   for e in self.entities)

    def as_dict(self) -> dict:
        return {"health_score": self.health_score, "label": self.label, "healthy": self.healthy,
                "alert_percent": self.alert_percent, "started_at": self.started_at,
                "finished_at": self.finished_at, "entities": [e.as_dict() for e in self.entities]}


def latest_report(settings: Settings) -> dict | None:
    """The newest finished reconcile of every (organization, entity), as one report."""
    engine = get_engine(settings.database_url)
    newest = (sa.select(sa.func.max(sync_runs.c.id))
              .where(sync_runs.c.mode == Mode.RECONCILE, sync_runs.c.report.is_not(None))
              .group_by(sync_runs.c.organization_id, sync_runs.c.entity))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sync_runs).where(sync_runs.c.id.in_(newest)).order_by(sync_runs.c.id)).fetchall()
    if not rows:
        return None
    entities = [_from_stored(row.report, row.id) for row in rows]
    report = Report(entities, settings.reconcile_alert_percent, min(r.started_at for r in rows).isoformat(),
                    max((r.finished_at or r.started_at) for r in rows).isoformat())
    return report.as_dict()


def _from_stored(stored: dict, run_id: int) -> EntityReport:
    rep = EntityReport(stored["entity"], stored["organization_id"], run_id=run_id)
    for key in ("zoho_count", "here_count", "matched", "api_calls", "repaired", "deleted", "would_repair",
                "would_delete", "warnings", "details"):
        setattr(rep, key, stored.get(key, getattr(rep, key)))
    for kind in ("missing_here", "gone_from_zoho", "stale_here", "drift"):
        part = stored.get(kind) or {}
        ids = list(part.get("examples") or [])
        ids += [""] * max(0, int(part.get("count", 0)) - len(ids))  # counts kept, ids beyond the examples not
        setattr(rep, kind, ids)
    return rep
