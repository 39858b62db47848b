"""The simulator's Flask application: Zoho's OAuth, Books, Inventory and CRM APIs, and ``/_sim/``."""

from __future__ import annotations

import socket
import time
from datetime import datetime

import simplejson
from flask import Flask, Response, request

from .config import SimulatorConfig
from .generate import InvalidReference
from .images import item_png
from .resources import API_SEGMENTS, CRM_MODULES, INVENTORY_ONLY, RESOURCES, Resource, list_row
from .state import NotFound, Simulator, dumps, loads
from .store import UnknownOrganization, UnknownResource

MAX_PER_PAGE = 200
MAX_ITEM_IDS = 100
FINANCE_PREFIXES = {"books": "/books/v3", "inventory": "/inventory/v1"}
JSON = "application/json;charset=UTF-8"
DROP_FLAG = "tds_simulator.drop"

AUTH_MISSING = {"code": 14, "message": "The request could not be authenticated as the authentication value you "
                                       "entered is invalid. Enter a valid authentication value and try again."}
AUTH_INVALID = {"code": 57, "message": "You are not authorized to perform this operation"}
BAD_ORG = {"code": 2, "message": "Invalid value passed for organization_id"}
BAD_URL = {"code": 5, "message": "Invalid URL Passed"}
CRM_AUTH_MISSING = {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed",
                    "status": "error"}
CRM_AUTH_INVALID = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
CRM_BAD_MODULE = {"code": "INVALID_MODULE", "details": {}, "message": "the module name given seems to be invalid",
                  "status": "error"}


class BadParameter(ValueError):
    def __init__(self, name: str):
        super().__init__(name)
        self.body = {"code": 2, "message": f"Invalid value passed for {name}"}


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(body), status=status, headers=headers or {}, content_type=JSON)


class _ConnectionDropper:
    """WSGI wrapper: a response marked for dropping never reaches the client; the socket is shut."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        if environ.get(DROP_FLAG):
            if hasattr(result, "close"):
                result.close()
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionResetError("simulated dropped connection")
        return result


def parse_zoho_time(text: str, tz) -> int:
    """Epoch seconds of ``2025-01-09T14:30:01+0300`` / ``-0800`` / ``+03:00`` / ``Z`` / no offset."""
    value = text.strip().replace(" ", "+")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return int(datetime.strptime(value, fmt).timestamp())
        except ValueError:
            pass
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=tz).timestamp())
        except ValueError:
            pass
    raise ValueError(text)


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name)
    if value < 1:
        raise BadParameter(name)
    return value


def _camel_to_snake(text: str) -> str:
    out = ""
    for i, ch in enumerate(text):
        out += ("_" if i and ch.isupper() else "") + ch.lower()
    return out


def _status_matcher(resource: Resource, filter_by: str):
    """A predicate for ``filter_by`` (``Status.All`` matches everything)."""
    kind, _, value = filter_by.partition(".")
    if filter_by == "Status.All":
        return None
    if kind == "Status" and value:
        if value == "Unpaid":
            return lambda r: r.get("status") in ("sent", "overdue", "partially_paid")
        if value == "Lowstock" and resource.name == "items":
            return lambda r: "stock_on_hand" in r and r["stock_on_hand"] <= r.get("reorder_level", 0)
        wanted = _camel_to_snake(value)
        return lambda r: r.get("status") == wanted
    if kind == "ItemType" and resource.name == "items" and value:
        wanted = _camel_to_snake(value)
        return lambda r: r.get("item_type") == wanted
    if kind == "AdjustmentType" and resource.name == "inventoryadjustments" and value:
        wanted = value.lower()
        return lambda r: wanted == "all" or r.get("adjustment_type") == wanted
    if kind == "PaymentMode" and resource.name == "customerpayments" and value:
        wanted = value.lower()
        return lambda r: wanted == "all" or r.get("payment_mode") == wanted
    raise BadParameter("filter_by")


def _sort_key(resource: Resource, column: str, rows: dict, ctimes: dict, mtimes: dict):
    if column == resource.mtime_field or column == "last_modified_time":
        return lambda i: (mtimes.get(i, 0), i)
    if column == resource.ctime_field or column == "created_time":
        return lambda i: (ctimes.get(i, 0), i)
    field = resource.name_field if column == "name" and resource.name_field else column
    sample = next(iter(rows.values()), None)
    if sample is not None and (field not in sample or isinstance(sample[field], (dict, list))):
        raise BadParameter("sort_column")

    def key(i):
        value = rows[i].get(field)
        if isinstance(value, str):
            return (1, 0, value.lower(), i)
        if value is None:
            return (0, 0, "", i)
        return (1, value, "", i)

    return key


def create_app(config: SimulatorConfig) -> Flask:
    """The simulator as a Flask app; ``app.extensions["tds_simulator"]`` is its :class:`Simulator`."""
    sim = Simulator(config)
    app = Flask("tds.simulator")
    app.extensions["tds_simulator"] = sim
    app.wsgi_app = _ConnectionDropper(app.wsgi_app)
    store = sim.store

    # ------------------------------------------------------------------ shared steps
    def faulted():
        """Apply an injected fault: a Response to return, "slow", or None."""
        kind, slow = sim.draw_fault()
        if kind == "drop":
            request.environ[DROP_FLAG] = True
            return Response(b"", status=500), False
        if kind == "error":
            status, body, ctype = sim.error_response()
            return Response(body, status=status, content_type=ctype), False
        return None, slow

    def bearer() -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("zoho-oauthtoken",) or not token.strip():
            return None
        return token.strip()

    # ------------------------------------------------------------------ OAuth
    @app.post("/oauth/v2/token")
    def oauth_token():
        sim.count_call("POST /oauth/v2/token")
        params = {**request.form.to_dict(), **request.args.to_dict()}
        status, body = sim.refresh(params, request.host_url.rstrip("/"))
        return json_response(body, status)

    # ------------------------------------------------------------------ Books / Inventory
    def route_finance(segs: list[str]):
        """(pattern, handler, arguments) for a Books/Inventory path, or None."""
        n = len(segs)
        if n == 1 and segs[0] in API_SEGMENTS:
            return segs[0], list_handler, (RESOURCES[segs[0]], {})
        if n == 1 and segs[0] == "vendors":
            return "vendors", list_handler, (RESOURCES["contacts"], {"contact_type": "vendor"})
        if segs == ["settings", "warehouses"]:
            return "settings/warehouses", list_handler, (RESOURCES["warehouses"], {})
        if segs == ["locations"]:
            return "locations", locations_handler, ()
        if segs == ["itemdetails"]:
            return "itemdetails", itemdetails_handler, ()
        if n == 2 and segs[0] in API_SEGMENTS:
            return f"{segs[0]}/{{id}}", detail_handler, (RESOURCES[segs[0]], segs[1])
        if n == 3 and segs[0] == "items" and segs[2] == "image":
            return "items/{id}/image", image_handler, (segs[1],)
        return None

    def finance(product: str, rest: str):
        prefix = FINANCE_PREFIXES[product]
        segs = [s for s in rest.split("/") if s]
        route = route_finance(segs)
        if route is not None and product != "inventory" and segs[0] in INVENTORY_ONLY:
            route = None
        sim.count_call(f"{request.method} {prefix}/{route[0] if route else rest}")
        response, slow = faulted()
        if response is not None:
            return response
        org = request.args.get("organization_id", "")
        known_org = store.has_org(org)
        if bearer() is None:
            return json_response(AUTH_MISSING, 401, sim.rate_headers(None))
        if not sim.token_valid(bearer()):
            return json_response(AUTH_INVALID, 401, sim.rate_headers(None))
        if not known_org:
            return json_response(BAD_ORG, 400, sim.rate_headers(None))
        if route is None:
            return json_response(BAD_URL, 404, sim.rate_headers(org))
        if request.method != "GET":
            return json_response({"code": 37, "message": "The HTTP method is not allowed for the requested "
                                                         "resource"}, 405, sim.rate_headers(org))
        refused = sim.admit(org)
        if refused is not None:
            return json_response(refused[1], refused[0], sim.rate_headers(org))
        try:
            if slow:
                time.sleep(sim.config.slow_seconds)
            _, handler, args = route
            try:
                with store.lock:
                    response = handler(org, *args)
            except BadParameter as exc:
                response = json_response(exc.body, 400)
            response.headers.update(sim.rate_headers(org))
            return response
        finally:
            sim.release(org)

    def list_handler(org: str, resource: Resource, forced: dict):
        args = request.args
        page = _int_arg("page", 1)
        per_page = min(_int_arg("per_page", MAX_PER_PAGE), MAX_PER_PAGE)
        rows = store.rows(org, resource.name)
        ctimes, mtimes = store.times(org, resource.name)
        ids = list(rows)
        filter_by = args.get("filter_by") or "Status.All"
        match = _status_matcher(resource, filter_by)
        if match is not None:
            ids = [i for i in ids if match(rows[i])]
        exact = dict(forced)
        for key in ("contact_type", "customer_id", "vendor_id", "status", "item_type", "product_type",
                    "contact_person_id", "user_role", "adjustment_type", "reason"):
            if key in args and key not in exact:
                exact[key] = args[key]
        for key, value in exact.items():
            ids = [i for i in ids if str(rows[i].get(key, "")) == value]
        since = args.get("last_modified_time")
        if since:
            try:
                since_ts = parse_zoho_time(since, store.tz)
            except ValueError:
                raise BadParameter("last_modified_time")
            ids = [i for i in ids if mtimes.get(i, 0) >= since_ts]
        column = args.get("sort_column") or resource.default_sort[0]
        order = (args.get("sort_order") or resource.default_sort[1]).upper()
        if order not in ("A", "D"):
            raise BadParameter("sort_order")
        ids.sort(key=_sort_key(resource, column, rows, ctimes, mtimes), reverse=order == "D")
        start = (page - 1) * per_page
        chunk = ids[start:start + per_page]
        body = {
            "code": 0, "message": "success",
            resource.list_key: [list_row(resource, rows[i]) for i in chunk],
            "page_context": {
                "page": page, "per_page": per_page, "has_more_page": start + per_page < len(ids),
                "report_name": resource.report_name, "applied_filter": filter_by, "custom_fields": [],
                "sort_column": column, "sort_order": order,
            },
        }
        return json_response(body)

    def locations_handler(org: str):
        rows = store.rows(org, "warehouses")
        locations = [{"location_id": w["warehouse_id"], "location_name": w["warehouse_name"], "type": "general",
                      "status": w["status"], "is_primary": w["is_primary"], "address": {
                          "address": w["address"], "city": w["city"], "state": w["state"],
                          "country": w["country"], "zip": w["zip"]}, "phone": w["phone"], "email": w["email"]}
                     for w in rows.values()]
        return json_response({"code": 0, "message": "success", "locations": locations,
                              "page_context": {"page": 1, "per_page": MAX_PER_PAGE, "has_more_page": False,
                                               "report_name": "Locations", "applied_filter": "Status.All",
                                               "sort_column": "location_name", "sort_order": "A"}})

    def detail_handler(org: str, resource: Resource, id_: str):
        record = store.rows(org, resource.name).get(id_)
        if record is None:
            return json_response({"code": 1002, "message": f"{resource.thing} does not exist."}, 404)
        return json_response({"code": 0, "message": "success", resource.detail_key: record})

    def itemdetails_handler(org: str):
        raw = request.args.get("item_ids", "")
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if not ids or len(ids) > MAX_ITEM_IDS:
            raise BadParameter("item_ids")
        rows = store.rows(org, "items")
        items = [rows[i] for i in ids if i in rows]
        return json_response({"code": 0, "message": "success", "items": items,
                              "page_context": {"page": 1, "per_page": MAX_ITEM_IDS, "has_more_page": False,
                                               "report_name": "Items", "applied_filter": "Status.All",
                                               "sort_column": "name", "sort_order": "A"}})

    def image_handler(org: str, item_id: str):
        item = store.rows(org, "items").get(item_id)
        if item is None:
            return json_response({"code": 1002, "message": "Item does not exist."}, 404)
        if not item.get("image_document_id"):
            return json_response({"code": 1002, "message": "Image does not exist."}, 404)
        data = item_png(item["image_document_id"])
        return Response(data, content_type="image/png",
                        headers={"Content-Disposition": f'inline; filename="{item["image_name"]}"'})

    for product, prefix in FINANCE_PREFIXES.items():
        app.add_url_rule(f"{prefix}/<path:rest>", endpoint=f"finance_{product}",
                         view_func=lambda rest, _p=product: finance(_p, rest),
                         methods=["GET", "POST", "PUT", "DELETE", "PATCH"])

    # ------------------------------------------------------------------ CRM
    @app.route("/crm/v2/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def crm(rest: str):
        segs = [s for s in rest.split("/") if s]
        resource_name = CRM_MODULES.get(segs[0]) if segs else None
        pattern = (f"{segs[0]}/{{id}}" if len(segs) == 2 else segs[0]) if resource_name else rest
        sim.count_call(f"{request.method} /crm/v2/{pattern}")
        response, slow = faulted()
        if response is not None:
            return response
        token = bearer()
        if token is None:
            return json_response(CRM_AUTH_MISSING, 401)
        if not sim.token_valid(token):
            return json_response(CRM_AUTH_INVALID, 401)
        if resource_name is None or len(segs) > 2:
            return json_response(CRM_BAD_MODULE, 400)
        if request.method != "GET":
            return json_response(BAD_URL, 405)
        if slow:
            time.sleep(sim.config.slow_seconds)
        resource = RESOURCES[resource_name]
        with store.lock:
            rows = store.rows(None, resource_name)
            if len(segs) == 2:
                record = rows.get(segs[1])
                if record is None:
                    return Response(status=204)
                return json_response({"data": [record]})
            try:
                page = _int_arg("page", 1)
                per_page = _int_arg("per_page", MAX_PER_PAGE)
            except BadParameter as exc:
                return json_response({"code": "INVALID_DATA", "details": {}, "message": str(exc.body["message"]),
                                      "status": "error"}, 400)
            per_page = min(per_page, MAX_PER_PAGE)
            ctimes, mtimes = store.times(None, resource_name)
            ids = list(rows)
            since = request.headers.get("If-Modified-Since")
            if since:
                try:
                    since_ts = parse_zoho_time(since, store.tz)
                except ValueError:
                    return json_response({"code": "INVALID_DATA", "details": {"header": "If-Modified-Since"},
                                          "message": "invalid If-Modified-Since", "status": "error"}, 400)
                ids = [i for i in ids if mtimes[i] >= since_ts]
            sort_by = request.args.get("sort_by") or "id"
            if sort_by not in ("id", "Created_Time", "Modified_Time"):
                return json_response({"code": "INVALID_DATA", "details": {"param": "sort_by"},
                                      "message": "invalid sort_by", "status": "error"}, 400)
            descending = (request.args.get("sort_order") or ("asc" if sort_by == "id" else "desc")) == "desc"
            if sort_by == "id":
                ids.sort(key=lambda i: (len(i), i), reverse=descending)
            else:
                ids.sort(key=_sort_key(resource, sort_by, rows, ctimes, mtimes), reverse=descending)
            start = (page - 1) * per_page
            chunk = ids[start:start + per_page]
            if not chunk:
                return Response(status=204)
            return json_response({"data": [rows[i] for i in chunk],
                                  "info": {"per_page": per_page, "count": len(chunk), "page": page,
                                           "more_records": start + per_page < len(ids)}})

    # ------------------------------------------------------------------ control API
    def sim_org() -> str | None:
        org = request.args.get("organization_id")
        if org is None and request.is_json:
            org = (request.get_json(silent=True) or {}).get("organization_id")
        return str(org) if org is not None else config.organizations[0]

    def body_json() -> dict:
        data = request.get_data()
        return loads(data) if data.strip() else {}

    def flag(name: str, default: bool = True) -> bool:
        raw = request.args.get(name)
        if raw is None:
            return default
        return raw.lower() not in ("0", "false", "no", "off")

    @app.get("/_sim/health")
    def sim_health():
        return json_response({"status": "ok", "organizations": list(config.organizations),
                              "generated": store.generated(), "uptime_seconds": round(time.time() - sim.started, 1),
                              "counts": store.counts})

    @app.get("/_sim/counters")
    def sim_counters():
        return json_response(sim.counters())

    @app.post("/_sim/counters/reset")
    def sim_counters_reset():
        sim.reset_counters()
        return json_response(sim.counters())

    @app.route("/_sim/config", methods=["GET", "POST"])
    def sim_config():
        if request.method == "GET":
            return json_response(config.to_dict())
        try:
            return json_response(sim.configure(**body_json()))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)

    @app.post("/_sim/token")
    def sim_token():
        return json_response({"access_token": sim.new_access_token(), "expires_in": config.token_lifetime,
                              "api_domain": request.host_url.rstrip("/"), "token_type": "Bearer"})

    @app.get("/_sim/webhooks")
    def sim_webhooks():
        return json_response({"webhooks": list(sim.webhook_log)})

    @app.errorhandler(UnknownOrganization)
    def unknown_org(exc):
        return json_response({"error": f"unknown organization {exc.args[0]!r}"}, 400)

    @app.errorhandler(UnknownResource)
    def unknown_resource(exc):
        return json_response({"error": f"unknown resource {exc.args[0]!r}", "resources": sorted(RESOURCES)}, 404)

    @app.errorhandler(NotFound)
    def not_found(exc):
        return json_response({"error": str(exc)}, 404)

    @app.errorhandler(InvalidReference)
    def invalid_reference(exc):
        return json_response({"error": str(exc)}, 400)

    @app.errorhandler(simplejson.JSONDecodeError)
    def bad_json(exc):
        return json_response({"code": 1038, "message": "JSON is not well formed"}, 400)

    @app.post("/_sim/mutate")
    def sim_mutate():
        data = body_json()
        org = str(data.get("organization_id") or request.args.get("organization_id") or config.organizations[0])
        ids = sim.mutate(org, data.get("resource", "items"), int(data.get("count", 1)),
                         send_webhooks=bool(data.get("send_webhooks", True)))
        return json_response({"ids": ids})

    @app.get("/_sim/records/<resource>")
    def sim_record_ids(resource):
        ids = store.ids(sim_org(), resource)
        return json_response({"count": len(ids), "ids": ids})

    @app.post("/_sim/records/<resource>")
    def sim_record_create(resource):
        record = sim.create(sim_org(), resource, body_json(), send_webhook=flag("send_webhook"))
        return json_response({"record": record}, 201)

    @app.get("/_sim/records/<resource>/<id_>")
    def sim_record_get(resource, id_):
        record = store.get(sim_org(), resource, id_)
        if record is None:
            raise NotFound(f"{RESOURCES[resource].thing} does not exist.")
        return json_response({"record": record})

    @app.patch("/_sim/records/<resource>/<id_>")
    def sim_record_update(resource, id_):
        record = sim.update(sim_org(), resource, id_, body_json(), send_webhook=flag("send_webhook"))
        return json_response({"record": record})

    @app.delete("/_sim/records/<resource>/<id_>")
    def sim_record_delete(resource, id_):
        record = sim.delete(sim_org(), resource, id_)
        return json_response({"deleted": True, "id": id_, "record": record})

    @app.errorhandler(404)
    def unknown_url(exc):
        return json_response(BAD_URL, 404)

    @app.errorhandler(405)
    def bad_method(exc):
        return json_response(BAD_URL, 405)

    return app


__all__ = ["create_app", "parse_zoho_time"]
