"""Prometheus metrics: counters on the hot paths, gauges read when ``/metrics`` is scraped.

Counters and the latency histogram are incremented where things happen (one increment per
webhook or event, no database work). With ``TDS_METRICS_DIR`` set, ``tds receiver``,
``tds worker`` and ``tds beat`` export it as ``PROMETHEUS_MULTIPROC_DIR`` before they start,
so every gunicorn worker and Celery prefork child writes its counts there and the
receiver's ``/metrics`` adds them up (prometheus-client's multiprocess mode; the folder must
be shared by those processes, and emptied when they all start afresh). The gauges — queue
depth, sync lag, quota left, breaker state, open alerts — are read from Redis and the
database at scrape time by :class:`StatusCollector`, once per scrape.

Names (all prefixed ``tds_``)::

    tds_webhooks_received_total{entity}            webhooks that reached the receiver
    tds_webhooks_accepted_total{entity}            stored in the inbox (202)
    tds_webhooks_rejected_total{entity,reason}     refused: signature, payload, disabled, unknown, database, too_large
    tds_events_processed_total{entity,result}      done | stale | deleted
    tds_events_failed_total{entity,action}         retry | wait | dead
    tds_events_dead_lettered_total{entity}
    tds_processing_latency_seconds{entity}         histogram: webhook received → row committed
    tds_zoho_api_calls_total{api,outcome}          ok | error
    tds_queue_depth{queue}                         messages waiting in Redis
    tds_sync_lag_seconds{organization,entity}      since the last successful sync (incremental or full)
    tds_inbox_events{status}                       unfinished and dead inbox events
    tds_dead_letters                               dead letters not replayed
    tds_zoho_quota_remaining{organization}         calls left today
    tds_zoho_breaker_open{api}                     1 open, 0.5 half-open, 0 closed
    tds_alerts_open{severity}
    tds_health_score                               the last reconcile's match share
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

WEBHOOKS_RECEIVED = Counter("tds_webhooks_received", "Webhooks that reached the receiver", ["entity"])
WEBHOOKS_ACCEPTED = Counter("tds_webhooks_accepted", "Webhooks stored in the inbox", ["entity"])
WEBHOOKS_REJECTED = Counter("tds_webhooks_rejected", "Webhooks refused", ["entity", "reason"])
EVENTS_PROCESSED = Counter("tds_events_processed", "Inbox events finished", ["entity", "result"])
EVENTS_FAILED = Counter("tds_events_failed", "Failed attempts at inbox events", ["entity", "action"])
EVENTS_DEAD = Counter("tds_events_dead_lettered", "Inbox events dead-lettered", ["entity"])
PROCESSING_LATENCY = Histogram("tds_processing_latency_seconds", "Webhook received to row committed", ["entity"],
                               buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600))
API_CALLS = Counter("tds_zoho_api_calls", "HTTP calls to Zoho's API", ["api", "outcome"])


class StatusCollector:
    """The gauges, read from the status snapshot at scrape time."""

    def __init__(self, settings):
        self.settings = settings

    def collect(self):
        from tds import status

        try:
            snap = status.snapshot(self.settings, inspect_workers=False)
        except Exception as exc:  # a scrape answers with what it has
            log.warning("status for /metrics unavailable: %s", exc.__class__.__name__)
            return
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
        if snap["reconcile"]:
            yield GaugeMetricFamily("tds_health_score", "Last reconcile's match share",
                                    value=snap["reconcile"]["health_score"])


def _multiprocess() -> bool:
    # prometheus-client chose its storage when it was imported, from PROMETHEUS_MULTIPROC_DIR
    # (which the tds commands set from TDS_METRICS_DIR): ask it, not the environment
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def exposition(settings) -> bytes:
    """The text ``/metrics`` answers: this process's counters (in multiprocess mode, those of
    every process writing to the folder), then the gauges."""
    if _multiprocess():
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        from prometheus_client import REGISTRY as counters
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(StatusCollector(settings))
    return generate_latest(counters) + generate_latest(gauges)


def mark_process_dead(pid: int) -> None:
    """A gunicorn worker or Celery child exited: drop its live gauges (multiprocess mode)."""
    if _multiprocess():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
