"""The control API ``/_sim/``: no auth, not counted, never limited or faulted.

Health, counters, run-time configuration, minting tokens, the webhook log, ``mutate``,
reading, creating, updating and deleting records of any resource, and replacing or removing
an item's image. Every endpoint takes
``?organization_id=`` (the first organization by default); create and update take
``send_webhook=false``.
"""

from __future__ import annotations

import time

import simplejson
from flask import Blueprint, request

from ..errors import InvalidReference, NotFound, UnknownOrganization, UnknownResource
from ..families import RESOURCES, lookup
from ..formats import loads
from . import json_response, simulator

bp = Blueprint("control", __name__, url_prefix="/_sim")


def _org() -> str | None:
    org = request.args.get("organization_id")
    if org is None and request.is_json:
        org = (request.get_json(silent=True) or {}).get("organization_id")
    return str(org) if org is not None else simulator().config.organizations[0]


def _body() -> dict:
    data = request.get_data()
    return loads(data) if data.strip() else {}


def _flag(name: str, default: bool = True) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    return raw.lower() not in ("0", "false", "no", "off")


@bp.get("/health")
def health():
    sim = simulator()
    return json_response({"status": "ok", "organizations": list(sim.config.organizations),
                          "generated": sim.store.generated(), "uptime_seconds": round(time.time() - sim.started, 1),
                          "counts": sim.store.counts})


@bp.get("/counters")
def counters():
    return json_response(simulator().counters())


@bp.post("/counters/reset")
def counters_reset():
    sim = simulator()
    sim.reset_counters()
    return json_response(sim.counters())


@bp.route("/config", methods=["GET", "POST"])
def config():
    sim = simulator()
    if request.method == "GET":
        return json_response(sim.config.to_dict())
    try:
        return json_response(sim.configure(**_body()))
    except ValueError as exc:
        return json_response({"error": str(exc)}, 400)


@bp.post("/token")
def token():
    sim = simulator()
    return json_response({"access_token": sim.new_access_token(), "expires_in": sim.config.token_lifetime,
                          "api_domain": request.host_url.rstrip("/"), "token_type": "Bearer"})


@bp.get("/webhooks")
def webhooks():
    return json_response({"webhooks": list(simulator().webhook_log)})


@bp.post("/mutate")
def mutate():
    sim = simulator()
    data = _body()
    org = str(data.get("organization_id") or request.args.get("organization_id") or sim.config.organizations[0])
    ids = sim.mutate(org, data.get("resource", "items"), int(data.get("count", 1)),
                     send_webhooks=bool(data.get("send_webhooks", True)))
    return json_response({"ids": ids})


@bp.get("/records/<resource>")
def record_ids(resource):
    ids = simulator().store.ids(_org(), resource)
    return json_response({"count": len(ids), "ids": ids})


@bp.post("/records/<resource>")
def record_create(resource):
    record = simulator().create(_org(), resource, _body(), send_webhook=_flag("send_webhook"))
    return json_response({"record": record}, 201)


@bp.get("/records/<resource>/<id_>")
def record_get(resource, id_):
    record = simulator().store.get(_org(), resource, id_)
    if record is None:
        raise NotFound(f"{lookup(resource).thing} does not exist.")
    return json_response({"record": record})


@bp.patch("/records/<resource>/<id_>")
def record_update(resource, id_):
    record = simulator().update(_org(), resource, id_, _body(), send_webhook=_flag("send_webhook"))
    return json_response({"record": record})


@bp.delete("/records/<resource>/<id_>")
def record_delete(resource, id_):
    record = simulator().delete(_org(), resource, id_, send_webhook=_flag("send_webhook"))
    return json_response({"deleted": True, "id": id_, "record": record})


@bp.post("/items/<id_>/image")
def item_image_replace(id_):
    """A new image: body ``{"type": "jpg"|"png", "keep_document_id": false, "broken": false}``."""
    data = _body()
    record = simulator().replace_image(_org(), id_, kind=data.get("type"),
                                       keep_document_id=bool(data.get("keep_document_id")),
                                       broken=bool(data.get("broken")), send_webhook=_flag("send_webhook"))
    return json_response({"record": record})


@bp.delete("/items/<id_>/image")
def item_image_remove(id_):
    record = simulator().remove_image(_org(), id_, send_webhook=_flag("send_webhook"))
    return json_response({"record": record})


# What the data operations refuse, wherever it is raised.
@bp.app_errorhandler(UnknownOrganization)
def unknown_org(exc):
    return json_response({"error": f"unknown organization {exc.args[0]!r}"}, 400)


@bp.app_errorhandler(UnknownResource)
def unknown_resource(exc):
    return json_response({"error": f"unknown resource {exc.args[0]!r}", "resources": sorted(RESOURCES)}, 404)


@bp.app_errorhandler(NotFound)
def not_found(exc):
    return json_response({"error": str(exc)}, 404)


@bp.app_errorhandler(InvalidReference)
def invalid_reference(exc):
    return json_response({"error": str(exc)}, 400)


@bp.app_errorhandler(simplejson.JSONDecodeError)
def bad_json(exc):
    return json_response({"code": 1038, "message": "JSON is not well formed"}, 400)
