"""Flask app factory and routes. No business logic lives here: verify → store → enqueue → 202.

The receiver loads only what it needs for that: the registry, the webhook signature check,
the inbox and a sending-only Celery app (tasks are sent by name). It never imports the
sync, event processing or the Zoho client. It also serves the product image files
(:mod:`webhook_receiver.images`).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy import exc as sa_exc

from tasks.celery_app import create_celery
from tasks.sending import EventSender
from tds import hooks, logs, metrics, registry
from tds.config import ConfigError, Settings, get_settings
from tds.db import get_engine, is_unavailable, retrying_disconnect
from tds.inbox import events as inbox
from tds.ops import exposition
from tds.ops.admin_auth import admin_authorized
from tds.receive import payload as webhook_payload
from tds.receive import signature as webhook_auth
from tds.services import redis_client
from webhook_receiver import images
from webhook_receiver.admin import admin_blueprint

log = logging.getLogger("tds.receiver")
POOL_SIZE = 16  # connections kept open per process: one per thread up to `tds receiver --threads 16`


def create_app(settings: Settings | None = None, enqueue=None, send_task=None) -> Flask:
    """Build the receiver. ``enqueue(event_id, entity, countdown)`` and the admin API's
    ``send_task(name, args, kwargs)`` default to sending by name through a sending-only
    Celery app built from ``settings``."""
    settings = settings or get_settings()
    logs.setup(settings, "receiver", keep=True)
    if not settings.zoho_webhook_secret and not settings.webhook_allow_unsigned:
        raise ConfigError(
            "ZOHO_WEBHOOK_SECRET is not set; set it, or set TDS_WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned webhooks"
        )
    if enqueue is None or send_task is None:
        sender = _celery_sender(settings)
        enqueue = enqueue or EventSender(sender)
        send_task = send_task or (lambda name, args, kwargs: sender.send_task(name, args=args, kwargs=kwargs))

    app = Flask("webhook_receiver")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes
    app.register_blueprint(admin_blueprint(settings, send_task))
    # no pre-ping (a dead connection is retried instead); a connection kept for every thread
    engine = get_engine(settings.database_url, pre_ping=False, pool_size=POOL_SIZE)
    app.register_blueprint(images.blueprint(settings))
    enabled = {entity.name for entity in registry.enabled(settings)}
    orgs = settings.zoho_organization_ids

    @app.post("/api/zoho/webhooks/<slug>")
    def receive(slug: str):
        try:
            entity = registry.for_slug(slug)
        except registry.UnknownEntity as exc:
            metrics.WEBHOOKS_REJECTED.labels("unknown", "unknown_entity").inc()
            return jsonify(error=str(exc)), 404
        metrics.WEBHOOKS_RECEIVED.labels(entity.name).inc()
        if entity.name not in enabled:
            metrics.WEBHOOKS_REJECTED.labels(entity.name, "disabled").inc()
            return jsonify(error=f"{entity.name} is switched off here (TDS_ENTITIES, TDS_CRM); "
                                 "the webhook was not stored"), 404
        body = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
        is_form = request.mimetype == "application/x-www-form-urlencoded"
        if settings.zoho_webhook_secret and not webhook_auth.authenticate(
            settings.zoho_webhook_secret,
            request.headers,
            request.args.items(multi=True),
            request.form.items(multi=True) if is_form else (),
            body,
            is_form,
        ):
            log.warning("webhook %s refused: bad signature or token (from %s)", slug, request.remote_addr)
            metrics.WEBHOOKS_REJECTED.labels(entity.name, "signature").inc()
            return jsonify(error="invalid webhook signature or token"), 401
        try:  # one transaction: the event is stored as sent, and sent right after the commit
            event = retrying_disconnect(engine, lambda conn: webhook_payload.receive(
                conn, entity, body, request.content_type, request.args, request.headers, orgs, sent=True,
                fetch_detail=settings.fetch_detail, coalesce_seconds=settings.coalesce_seconds))
        except webhook_payload.PayloadError as exc:
            metrics.WEBHOOKS_REJECTED.labels(entity.name, "payload").inc()
            return jsonify(error=str(exc)), 400
        except sa_exc.SQLAlchemyError as exc:
            if is_unavailable(exc):  # nothing stored: Zoho retries, and the retry is stored
                log.error("inbox unavailable, answering 503 so Zoho retries: %s", exc.__class__.__name__)
                metrics.WEBHOOKS_REJECTED.labels(entity.name, "database").inc()
                return jsonify(error="database unavailable; retry later"), 503
            # the database refused this body (a value it cannot hold): retrying cannot help
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            log.warning("webhook %s refused: the inbox cannot store it: %s", slug, reason)
            metrics.WEBHOOKS_REJECTED.labels(entity.name, "unstorable").inc()
            return jsonify(error=f"the webhook cannot be stored: {reason}"), 400
        metrics.WEBHOOKS_ACCEPTED.labels(entity.name).inc()
        if not event.duplicate:  # subscribers hear of it; the worker stores it (tds.hooks)
            hooks.notify("tds.zoho.webhook.received", {"organization_id": event.organization_id,
                                                       "entity": event.entity, "payload": {"event_id": event.id}})
        if not event.duplicate:
            try:
                enqueue(event.id, event.entity, event.countdown)
            except Exception as exc:  # the event is committed: the sweeper enqueues it later
                log.warning("event %s stored but not enqueued (%s); the sweeper will re-drive it", event.id, exc)
                _unsent(engine, event.id)
        return jsonify(event_id=event.id, duplicate=event.duplicate, entity=event.entity), 202

    @app.errorhandler(413)
    def too_large(_exc):
        metrics.WEBHOOKS_REJECTED.labels(request.view_args.get("slug", "") if request.view_args else "",
                                         "too_large").inc()
        return jsonify(error=f"body larger than {settings.webhook_max_bytes} bytes"), 413

    @app.get("/healthz")
    def healthz():
        checks = {}
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except sa_exc.SQLAlchemyError as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            redis_client(settings).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503

    @app.get("/metrics")
    def metrics_endpoint():
        """Prometheus text, behind TDS_ADMIN_TOKEN (Bearer or basic auth)."""
        if not settings.admin_token:
            return jsonify(error="/metrics is off: set TDS_ADMIN_TOKEN"), 403
        if not admin_authorized(settings, request):
            return jsonify(error="missing or wrong admin token"), 401, {"WWW-Authenticate": 'Basic realm="tds"'}
        return exposition.exposition(settings), 200, {"Content-Type": exposition.CONTENT_TYPE}

    return app


def _unsent(engine, event_id: int) -> None:
    """Best effort: the sweeper counts from the event's receipt, not from a send that failed."""
    try:
        with engine.begin() as conn:
            inbox.mark_unsent(conn, [event_id])
    except sa_exc.SQLAlchemyError as exc:
        log.warning("event %s left marked as sent (%s); the sweeper re-sends it after TDS_INBOX_SWEEP_AFTER",
                    event_id, exc.__class__.__name__)


def _celery_sender(settings: Settings):
    return create_celery(settings, include=())
