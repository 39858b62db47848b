"""Books and Inventory ``/settings/webhooks`` and ``/settings/workflows``: list and create.

The one part of Zoho that TDS writes to (``tds webhooks install``). Each product and
organization keeps its own webhooks and workflow rules, in memory. A webhook needs
``webhook_name``, ``entity``, ``url`` and ``method``; a ``secret`` must be 12–50
alphanumerics, as Zoho's API says. A workflow rule needs ``workflow_name``, ``entity``,
``rule_type`` and ``instant_actions`` naming existing webhooks. A name already taken gets
HTTP 400, as a second click in Zoho's settings would.
"""

from __future__ import annotations

import itertools
import json
import threading

from flask import Blueprint, current_app, request

from . import bearer, json_response, simulator
from .finance import AUTH_INVALID, AUTH_MISSING, BAD_ORG, PREFIXES

bp = Blueprint("automation", __name__)

_lock = threading.Lock()
_ids = itertools.count(460000000100001)
KINDS = {"webhooks": ("webhook", "webhook_name", "webhook_id"), "workflows": ("workflow", "workflow_name", "workflow_id")}


def _saved(kind: str) -> dict:
    """``{(product, org): [records]}`` of this app's simulator."""
    store = current_app.extensions.setdefault("tds_simulator_automation", {})
    return store.setdefault(kind, {})


def _body() -> dict:
    if request.is_json:
        return request.get_json(silent=True) or {}
    raw = request.form.get("JSONString")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _invalid(message: str):
    return json_response({"code": 1038, "message": message}, 400)


def _check(kind: str, body: dict, product: str, org: str):
    if kind == "webhooks":
        for name in ("webhook_name", "entity", "url", "method"):
            if not body.get(name):
                return _invalid(f"{name} is required")
        secret = body.get("secret")
        if secret and not (str(secret).isalnum() and 12 <= len(str(secret)) <= 50):
            return _invalid("secret must be 12 to 50 alphanumeric characters")
        return None
    for name in ("workflow_name", "entity", "rule_type", "instant_actions"):
        if not body.get(name):
            return _invalid(f"{name} is required")
    hooks = {str(h["webhook_id"]) for h in _saved("webhooks").get((product, org), [])}
    for action in body["instant_actions"]:
        if action.get("action_type") == "webhook" and str(action.get("action_id")) not in hooks:
            return _invalid(f"webhook {action.get('action_id')} does not exist")
    return None


def serve(product: str, kind: str):
    sim = simulator()
    sim.stats.call(f"{request.method} {PREFIXES[product]}/settings/{kind}")
    token = bearer()
    if token is None:
        return json_response(AUTH_MISSING, 401)
    if not sim.tokens.valid(token):
        return json_response(AUTH_INVALID, 401)
    org = request.args.get("organization_id", "")
    if not sim.store.has_org(org):
        return json_response(BAD_ORG, 400)
    singular, name_key, id_key = KINDS[kind]
    with _lock:
        saved = _saved(kind).setdefault((product, org), [])
        if request.method == "GET":
            shown = [{k: v for k, v in r.items() if k != "secret"} for r in saved]
            return json_response({"code": 0, "message": "success", kind: shown})
        body = _body()
        refused = _check(kind, body, product, org)
        if refused is not None:
            return refused
        if any(r[name_key] == body[name_key] for r in saved):
            return json_response({"code": 3020, "message": f"{singular} name already exists"}, 400)
        record = {**body, id_key: str(next(_ids))}
        saved.append(record)
        shown = {k: v for k, v in record.items() if k != "secret"}
        return json_response({"code": 0, "message": f"The {singular} has been created.", singular: shown}, 201)


for _product, _prefix in PREFIXES.items():
    for _kind in KINDS:
        bp.add_url_rule(f"{_prefix}/settings/{_kind}", endpoint=f"{_product}_{_kind}",
                        view_func=lambda _p=_product, _k=_kind: serve(_p, _k), methods=["GET", "POST"])
