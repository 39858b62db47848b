"""Prometheus metrics: counters on the hot paths, gauges read when ``/metrics`` is scraped.

Counters and the latency histogram are incremented where things happen (one increment per
webhook or event, no database work). ``tds receiver`` always runs prometheus-client's
multiprocess mode, so its gunicorn workers' counts add up and only go up: in a folder of its
own under ``TDS_RUNTIME_DIR`` (emptied at start) unless ``TDS_METRICS_DIR`` is set. With
``TDS_METRICS_DIR`` set, ``tds receiver``, ``tds worker`` and ``tds beat`` export it as
``PROMETHEUS_MULTIPROC_DIR`` before they start, so every gunicorn worker and Celery prefork
child writes its counts there and the receiver's ``/metrics`` adds them up (the folder must
be shared by those processes, and emptied when they all start afresh). The gauges — queue
depth, sync lag, quota left, breaker state, open alerts — are read from Redis and the
database at scrape time by :class:`tds.ops.exposition.StatusCollector`, once per scrape; this module
holds only the counters, so the hot paths that count load nothing else.

Names (all prefixed ``tds_``)::

    tds_webhooks_received_total{entity}            webhooks that reached the receiver
    tds_webhooks_accepted_total{entity}            stored in the inbox (202)
    tds_webhooks_rejected_total{entity,reason}     refused: signature, payload, disabled, unknown, database, too_large
    tds_events_processed_total{entity,result}      done | stale | deleted
    tds_events_failed_total{entity,action}         retry | wait | dead
    tds_events_dead_lettered_total{entity}
    tds_processing_latency_seconds{entity}         histogram: webhook received → row committed
    tds_zoho_api_calls_total{api,outcome}          ok | error
    tds_child_rows_skipped_total{entity}           child rows left out for lack of their own id
    tds_queue_depth{queue}                         messages waiting in Redis
    tds_sync_lag_seconds{organization,entity}      since the last successful sync (incremental or full)
    tds_inbox_events{status}                       unfinished and dead inbox events
    tds_dead_letters                               dead letters not replayed
    tds_zoho_quota_remaining{organization}         calls left today
    tds_zoho_breaker_open{api}                     1 open, 0.5 half-open, 0 closed
    tds_alerts_open{severity}
    tds_health_score                               the last successful reconciles' match share
    tds_health_severity                            the health model's verdict: 0 healthy, 1 warning, 2 critical
    tds_findings{kind,severity}                    findings now
    tds_unknown_facts{fact}                        facts that could not be read (redis, database, workers)
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

WEBHOOKS_RECEIVED = Counter("tds_webhooks_received", "Webhooks that reached the receiver", ["entity"])
WEBHOOKS_ACCEPTED = Counter("tds_webhooks_accepted", "Webhooks stored in the inbox", ["entity"])
WEBHOOKS_REJECTED = Counter("tds_webhooks_rejected", "Webhooks refused", ["entity", "reason"])
EVENTS_PROCESSED = Counter("tds_events_processed", "Inbox events finished", ["entity", "result"])
EVENTS_FAILED = Counter("tds_events_failed", "Failed attempts at inbox events", ["entity", "action"])
EVENTS_DEAD = Counter("tds_events_dead_lettered", "Inbox events dead-lettered", ["entity"])
PROCESSING_LATENCY = Histogram("tds_processing_latency_seconds", "Webhook received to row committed", ["entity"],
                               buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600))
API_CALLS = Counter("tds_zoho_api_calls", "HTTP calls to Zoho's API", ["api", "outcome"])
CHILD_ROWS_SKIPPED = Counter("tds_child_rows_skipped", "Child rows left out for lack of their own id",
                             ["entity"])


def multiprocess_mode() -> bool:
    # prometheus-client chose its storage when it was imported, from PROMETHEUS_MULTIPROC_DIR
    # (which the tds commands set from TDS_METRICS_DIR): ask it, not the environment
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def mark_process_dead(pid: int) -> None:
    """A gunicorn worker or Celery child exited: drop its live gauges (multiprocess mode)."""
    if multiprocess_mode():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
