"""Zoho CRM ``/crm/v2``: ``/Accounts``, ``/Contacts`` and their ``/{id}``; no organization.

Lists answer ``{"data", "info"}`` and take ``page``, ``per_page``, ``sort_by``, ``sort_order``
and ``If-Modified-Since``; a page past the end or an unknown id answers 204. Calls are counted
and may be faulted, but are not limited.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from ..families import CRM_MODULES, RESOURCES
from ..formats import parse_zoho_time
from ..shapes import missing, present
from . import BAD_URL, MAX_PER_PAGE, BadParameter, bearer, int_arg, json_response, simulator, sort_key

AUTH_MISSING = {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed",
                "status": "error"}
AUTH_INVALID = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
#: CRM's answer for a URL it does not serve (an account without CRM, under ``varied`` shapes).
NO_CRM = {"code": "INVALID_URL_PATTERN", "details": {}, "status": "error",
          "message": "Please check if the URL trying to access is a correct one"}
BAD_MODULE = {"code": "INVALID_MODULE", "details": {}, "message": "the module name given seems to be invalid",
              "status": "error"}

bp = Blueprint("crm", __name__)


def _invalid(message: str, details: dict | None = None):
    return json_response({"code": "INVALID_DATA", "details": details or {}, "message": message,
                          "status": "error"}, 400)


@bp.route("/crm/v2/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def crm(rest: str):
    sim = simulator()
    store = sim.store
    segs = [s for s in rest.split("/") if s]
    resource_name = CRM_MODULES.get(segs[0]) if segs else None
    pattern = (f"{segs[0]}/{{id}}" if len(segs) == 2 else segs[0]) if resource_name else rest
    sim.stats.call(f"{request.method} /crm/v2/{pattern}")
    response, slow = sim.faults.inject()
    if response is not None:
        return response
    token = bearer()
    if token is None:
        return json_response(AUTH_MISSING, 401)
    if not sim.tokens.valid(token):
        return json_response(AUTH_INVALID, 401)
    if resource_name is None or len(segs) > 2:
        return json_response(BAD_MODULE, 400)
    if request.method != "GET":
        return json_response(BAD_URL, 405)
    if missing(sim.config, None, RESOURCES[resource_name]):
        return json_response(NO_CRM, 404)
    if slow:
        time.sleep(sim.config.slow_seconds)
    resource = RESOURCES[resource_name]
    with store.lock:
        rows = store.rows(None, resource_name)
        if len(segs) == 2:
            record = rows.get(segs[1])
            if record is None:
                return Response(status=204)
            return json_response({"data": [present(sim.config, resource, record)]})
        try:
            page = int_arg("page", 1)
            per_page = int_arg("per_page", MAX_PER_PAGE)
        except BadParameter as exc:
            return _invalid(str(exc.body["message"]))
        per_page = min(per_page, MAX_PER_PAGE)
        ctimes, mtimes = store.times(None, resource_name)
        ids = list(rows)
        since = request.headers.get("If-Modified-Since")
        if since:
            try:
                since_ts = parse_zoho_time(since, store.tz)
            except ValueError:
                return _invalid("invalid If-Modified-Since", {"header": "If-Modified-Since"})
            ids = [i for i in ids if mtimes[i] >= since_ts]
        sort_by = request.args.get("sort_by") or "id"
        if sort_by not in ("id", "Created_Time", "Modified_Time"):
            return _invalid("invalid sort_by", {"param": "sort_by"})
        descending = (request.args.get("sort_order") or ("asc" if sort_by == "id" else "desc")) == "desc"
        if sort_by == "id":
            ids.sort(key=lambda i: (len(i), i), reverse=descending)
        else:
            ids.sort(key=sort_key(resource, sort_by, rows, ctimes, mtimes), reverse=descending)
        start = (page - 1) * per_page
        chunk = ids[start:start + per_page]
        if not chunk:
            return Response(status=204)
        return json_response({"data": [present(sim.config, resource, rows[i]) for i in chunk],
                              "info": {"per_page": per_page, "count": len(chunk), "page": page,
                                       "more_records": start + per_page < len(ids)}})
