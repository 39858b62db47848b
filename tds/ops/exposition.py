"""What ``/metrics`` answers: every process's counters, then the gauges read at scrape time.

The counters are :mod:`tds.metrics`'s (in multiprocess mode, those of every process writing to
the folder); the gauges come from the status snapshot (:mod:`tds.ops.status`), read once per
scrape by :class:`StatusCollector`.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from tds import metrics
from tds.ops import status

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusCollector:
    """The gauges, read from the status snapshot at scrape time."""

    def __init__(self, settings):
        self.settings = settings

    def collect(self):
        snap = status.snapshot(self.settings, cached_workers=True)  # never raises for a service that is down: it is a finding
        yield GaugeMetricFamily("tds_health_severity", "The health model's verdict: 0 healthy, 1 warning, 2 critical",
                                value=status.exit_code(snap))
        findings = GaugeMetricFamily("tds_findings", "Findings now, by kind and severity", labels=["kind", "severity"])
        by_kind: dict[tuple[str, str], int] = {}
        for c in snap["conditions"]:
            by_kind[(c["kind"], c["severity"])] = by_kind.get((c["kind"], c["severity"]), 0) + 1
        for (kind, severity), n in sorted(by_kind.items()):
            findings.add_metric([kind, severity], n)
        yield findings
        unknown = GaugeMetricFamily("tds_unknown_facts", "Facts that could not be read (1)", labels=["fact"])
        for fact in sorted(snap["unknown"]):
            unknown.add_metric([fact], 1)
        yield unknown
        g = GaugeMetricFamily("tds_queue_depth", "Messages waiting per queue", labels=["queue"])
        for queue, depth in (snap["queues"] or {}).items():
            g.add_metric([queue], depth)
        yield g
        lag = GaugeMetricFamily("tds_sync_lag_seconds", "Seconds since the last successful sync",
                                labels=["organization", "entity"])
        for e in snap["entities"]:
            if e["lag_seconds"] is not None:
                lag.add_metric([e["organization_id"], e["entity"]], e["lag_seconds"])
        yield lag
        inbox = GaugeMetricFamily("tds_inbox_events", "Inbox events by status", labels=["status"])
        for key in ("pending", "failed", "parked", "dead"):
            inbox.add_metric([key], sum(e[key] for e in snap["entities"]))
        yield inbox
        if snap["dead_letters"] is not None:
            yield GaugeMetricFamily("tds_dead_letters", "Dead letters not replayed", value=snap["dead_letters"])
        quota = GaugeMetricFamily("tds_zoho_quota_remaining", "Zoho calls left today", labels=["organization"])
        for org, left in snap["quota"].items():
            if left is not None:
                quota.add_metric([org], left)
        yield quota
        breaker = GaugeMetricFamily("tds_zoho_breaker_open", "Circuit breaker (1 open, 0.5 half-open)",
                                    labels=["api"])
        for api, state in snap["breakers"].items():
            breaker.add_metric([api], {"open": 1.0, "half-open": 0.5}.get(state, 0.0))
        yield breaker
        alerts = GaugeMetricFamily("tds_alerts_open", "Open alerts", labels=["severity"])
        for severity in ("warning", "critical"):
            alerts.add_metric([severity], sum(1 for a in snap["alerts"] if a["severity"] == severity))
        yield alerts
        if snap["reconcile"] and snap["reconcile"]["health_score"] is not None:
            yield GaugeMetricFamily("tds_health_score", "The last successful reconciles' match share",
                                    value=snap["reconcile"]["health_score"])


def exposition(settings) -> bytes:
    """The text ``/metrics`` answers: this process's counters (in multiprocess mode, those of
    every process writing to the folder), then the gauges."""
    if metrics.multiprocess_mode():
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        from prometheus_client import REGISTRY as counters
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(StatusCollector(settings))
    return generate_latest(counters) + generate_latest(gauges)
