"""The status page: ``/status`` (HTML for a person, phone-sized, refreshing itself) and
``/api/status`` (the same snapshot as JSON), served by ``tds status-page``.

It is a small app of its own, not a route of the webhook receiver, for three reasons: the
receiver faces Zoho (often the internet) and stays thin — it must not load the Zoho client,
the image code or Celery inspect, which the page needs; asking the workers takes up to a
second, which would hold a receiver worker that should be answering webhooks; and the page
belongs on an internal address (``tds status-page`` binds 127.0.0.1 by default).

Both routes want ``TDS_ADMIN_TOKEN``: as ``Authorization: Bearer …`` (scripts) or as the
password of HTTP basic auth (a browser asks; any user name). ``/healthz`` stays open.
"""

from __future__ import annotations

import html

from flask import Flask, jsonify, request

from tds import logs
from tds.config import Settings, get_settings
from tds.ops.admin_auth import admin_authorized

REFRESH_SECONDS = 30


def create_app(settings: Settings | None = None, inspect_workers: bool = True) -> Flask:
    settings = settings or get_settings()
    logs.setup(settings, "status-page", keep=True)
    app = Flask("status_page")

    def snapshot() -> dict:
        from tasks.celery_app import live_workers
        from tds.ops import status

        return status.snapshot(settings, workers=live_workers if inspect_workers else None, with_images=True)

    @app.before_request
    def authenticate():
        if request.path == "/healthz":
            return None
        if not settings.admin_token:
            return jsonify(error="the status page is off: set TDS_ADMIN_TOKEN"), 403
        if not admin_authorized(settings, request):
            return (jsonify(error="missing or wrong admin token (Bearer, or basic auth with it as the password)"),
                    401, {"WWW-Authenticate": 'Basic realm="tds status"'})
        return None

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/api/status")
    def api_status():
        return jsonify(snapshot())

    @app.get("/status")
    def page():
        return render(snapshot()), 200, {"Content-Type": "text/html; charset=utf-8"}

    return app


def _ago(seconds) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:12px;background:#f6f7f9;color:#222}
h1{font-size:1.3em;margin:0 0 8px} h2{font-size:1.05em;margin:18px 0 6px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600}
.healthy{background:#2e7d32}.warning{background:#ef6c00}.critical{background:#c62828}.info{background:#546e7a}
.wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9em}
th,td{padding:5px 7px;border-bottom:1px solid #e3e5e8;text-align:left;white-space:nowrap}
td.num{text-align:right} tr.bad td{background:#fdecea}
ul{padding-left:18px;margin:4px 0} li{margin:3px 0} .muted{color:#777;font-size:.85em}
"""


def render(snap: dict) -> str:
    sev = snap["severity"]
    rows = []
    for e in snap["entities"]:
        bad = e["dead_letters"] or e["failed"] or e["dead"] or not e["available"]
        match = "" if e["match_percent"] is None else f"{e['match_percent']:.2f} %"
        rows.append(
            f"<tr class=\"{'bad' if bad else ''}\" data-entity=\"{_e(e['entity'])}\"><td>{_e(e['entity'])}</td>"
            f"<td>{_e(e['organization_id'])}</td><td class=num>{_e(e['rows'])}</td>"
            f"<td>{_ago(e['lag_seconds'])}</td><td class=num>{match}</td>"
            f"<td class=num>{e['pending']}</td><td class=num>{e['failed']}</td><td class=num>{e['parked']}</td>"
            f"<td class=num>{e['dead_letters']}</td>"
            f"<td>{'' if e['available'] else 'unavailable'}</td></tr>")
    alerts = "".join(f"<li><span class=\"badge {_e(a['severity'])}\">{_e(a['severity'])}</span> {_e(a['message'])}"
                     f" <span class=muted>since {_e(a['opened_at'])}</span></li>" for a in snap["alerts"])
    now_wrong = "".join(f"<li><span class=\"badge {_e(c['severity'])}\">{_e(c['severity'])}</span> "
                        f"{_e(c['message'])}</li>" for c in snap["conditions"])
    errors = "".join(f"<li>{_e(x['what'])}: {_e((x['error'] or '')[:300])} <span class=muted>{_e(x['at'])}</span>"
                     "</li>" for x in snap["recent_errors"])
    unknown = snap.get("unknown") or {}
    queues = ("unknown" if "redis" in unknown else
              ", ".join(f"{_e(q)} {n}" for q, n in (snap["queues"] or {}).items() if n) or "all empty")
    workers = snap["workers"]
    workers_text = ("unknown" if "redis" in unknown or "workers" in unknown else "not asked" if workers is None else
                    ", ".join(_e(w) for w in sorted(workers)) or "none answering")
    report = snap["reconcile"]
    if "database" in unknown:
        reconcile = "unknown"
    elif report and report.get("health_score") is not None:
        reconcile = (f"health score {report['health_score']} ({_e(report['label'])}), last successful reconcile "
                     f"finished {_e(report['finished_at'])}")
    else:
        reconcile = "no successful reconcile yet"
    reconcile += "".join(f"</li><li>{_e(f['entity'])} ({_e(f['organization_id'])}): last reconcile failed "
                         f"{_e(f['at'])}: {_e(f['reason'])}" for f in (report or {}).get("last_failed", []))
    quota = ", ".join(f"{_e(org)}: {'unknown' if left is None else left}"
                      for org, left in snap["quota"].items()) or "unknown"
    breakers = "unknown" if "redis" in unknown else ", ".join(
        f"{_e(api)} {_e(state)}" for api, state in snap["breakers"].items()) or "all closed"
    images = "".join(f"<li>{_e(org)} {_e(c['summary'])}</li>" for org, c in (snap.get("images") or {}).items())
    beat = {True: "running", False: "NOT running", None: "unknown"}[snap["beat_running"]]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>TDS status: {_e(sev)}</title><style>{CSS}</style></head>
<body>
<h1>TDS <span class="badge {_e(sev)}" id="severity">{_e(sev)}</span></h1>
<div class=muted>{_e(snap['generated_at'])} · refreshes every {REFRESH_SECONDS} s</div>
<h2>Alerts open</h2><ul id="alerts">{alerts or '<li>none</li>'}</ul>
<h2>Wrong now</h2><ul id="findings">{now_wrong or '<li>nothing</li>'}</ul>
<h2>Entities</h2>{'<p>unknown: ' + _e(unknown['database']) + '</p>' if 'database' in unknown else ''}
<div class=wrap><table id="entities">
<tr><th>entity</th><th>org</th><th>rows</th><th>lag</th><th>match</th><th>pending</th><th>failed</th>
<th>parked</th><th>dead letters</th><th></th></tr>
{''.join(rows)}</table></div>
<h2>Processing</h2><ul>
<li>queues: {queues}</li><li>workers: {workers_text}</li><li>beat: {beat}</li>
<li>dead letters: {'unknown' if snap['dead_letters'] is None else snap['dead_letters']}</li><li>Zoho calls left today: {quota}</li><li>breakers: {breakers}</li>
</ul>
<h2>Reconcile</h2><ul><li>{reconcile}</li>{images}</ul>
<h2>Recent errors</h2><ul>{errors or '<li>none</li>'}</ul>
</body></html>"""
