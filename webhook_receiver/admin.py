"""The admin API: start a sync, follow a run, read the last reconcile report.

``POST /api/zoho/bulk-sync/<entity>`` with ``{"incremental": bool, "modified_since": "…",
"batch_size": n, "organization_id": "…"}`` records a queued run and sends it to the sync
workers by name → ``202 {"run_id", "status_url"}``. ``GET /api/zoho/bulk-sync/runs/<id>``
is the run's progress; ``GET /api/zoho/reconcile/latest`` the newest report. Every route
wants ``Authorization: Bearer <TDS_ADMIN_TOKEN>`` (a token of its own, not the webhook
secret); without ``TDS_ADMIN_TOKEN`` set, the API is off (403).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from tds import registry, runs
from tds.config import Settings
from tds.db import get_engine
from tds.ops.admin_auth import admin_authorized
from tds.runs import Mode, RunStatus
from tds.sync.reports import latest_report

MAX_BATCH = 200


def admin_blueprint(settings: Settings, send_task) -> Blueprint:
    """``send_task(name, args, kwargs, queue)`` sends a task by name (the receiver's Celery app)."""
    bp = Blueprint("admin", __name__)
    engine = get_engine(settings.database_url)

    @bp.before_request
    def authenticate():
        if not settings.admin_token:
            return jsonify(error="the admin API is off: set TDS_ADMIN_TOKEN"), 403
        if not admin_authorized(settings, request):
            return jsonify(error="missing or wrong admin token (Authorization: Bearer …)"), 401
        return None

    @bp.post("/api/zoho/bulk-sync/<name>")
    def bulk_sync(name: str):
        try:
            entity = registry.get(name)
        except registry.UnknownEntity as exc:
            return jsonify(error=str(exc)), 404
        body = request.get_json(silent=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return jsonify(error="the body must be a JSON object"), 400
        try:
            org, mode, since, per_page = _read_request(settings, body)
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        params = {"since": since.isoformat() if since else None, "per_page": per_page, "source": "admin API"}
        with engine.begin() as conn:
            run_id = runs.create(conn, org, entity.name, mode, status=RunStatus.QUEUED, params=params)
        send_task("tds.sync_entity", [entity.name, org],
                  {"mode": str(mode), "since": params["since"], "per_page": per_page, "run_id": run_id})
        return jsonify(run_id=run_id, status=str(RunStatus.QUEUED), entity=entity.name, organization_id=org,
                       mode=str(mode), status_url=f"/api/zoho/bulk-sync/runs/{run_id}"), 202

    @bp.get("/api/zoho/bulk-sync/runs/<int:run_id>")
    def run_status(run_id: int):
        row = runs.get(engine, run_id)
        if row is None:
            return jsonify(error=f"no run {run_id}"), 404
        return jsonify(runs.as_dict(row))

    @bp.get("/api/zoho/reconcile/latest")
    def reconcile_latest():
        report = latest_report(settings)
        if report is None:
            return jsonify(error="no reconcile has run yet"), 404
        return jsonify(report)

    return bp


def _read_request(settings: Settings, body: dict):
    orgs = settings.zoho_organization_ids
    org = str(body.get("organization_id") or (orgs[0] if len(orgs) == 1 else ""))
    if not org:
        raise ValueError("organization_id is required when several organizations are configured")
    if orgs and org not in orgs:
        raise ValueError(f"organization {org} is not configured in ZOHO_ORGANIZATION_ID")
    incremental = body.get("incremental", False)
    if not isinstance(incremental, bool):
        raise ValueError("incremental must be true or false")
    since = None
    if body.get("modified_since"):
        try:
            since = dt.datetime.fromisoformat(str(body["modified_since"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("modified_since must be an ISO 8601 time such as 2026-12-01T08:00:00+00:00") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        incremental = True
    per_page = body.get("batch_size", MAX_BATCH)
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_BATCH:
        raise ValueError(f"batch_size must be a whole number from 1 to {MAX_BATCH} (Zoho's page size)")
    return org, Mode.INCREMENTAL if incremental else Mode.FULL, since, per_page
