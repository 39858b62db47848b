"""Zoho Books ``/books/v3`` and Zoho Inventory ``/inventory/v1``: the same data per organization.

Every call needs ``Authorization: Zoho-oauthtoken <token>`` and ``?organization_id=``; it is
counted, may be faulted, and takes one call from the organization's limits. Lists and details
are served for every resource of :mod:`tds.simulator.families`; ``/locations``,
``/itemdetails`` and ``/items/{id}/image`` are the items family's extra views.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from ..families import DETAIL_PATHS, INVENTORY_ONLY, LIST_PATHS, RESOURCES
from ..families.items import item_image
from ..formats import camel_to_snake, parse_zoho_time
from ..resources import Resource, list_row
from ..shapes import missing, present
from . import BAD_URL, MAX_PER_PAGE, BadParameter, bearer, int_arg, json_response, simulator, sort_key

MAX_ITEM_IDS = 100
PREFIXES = {"books": "/books/v3", "inventory": "/inventory/v1"}
EXACT_FILTERS = ("contact_type", "customer_id", "vendor_id", "status", "item_type", "product_type",
                 "contact_person_id", "user_role", "adjustment_type", "reason")

AUTH_MISSING = {"code": 14, "message": "The request could not be authenticated as the authentication value you "
                                       "entered is invalid. Enter a valid authentication value and try again."}
AUTH_INVALID = {"code": 57, "message": "You are not authorized to perform this operation"}
BAD_ORG = {"code": 2, "message": "Invalid value passed for organization_id"}
BAD_METHOD = {"code": 37, "message": "The HTTP method is not allowed for the requested resource"}

bp = Blueprint("finance", __name__)


def status_matcher(resource: Resource, filter_by: str):
    """A predicate for ``filter_by`` (``Status.All`` matches everything): ``Status.<status>``,
    ``Status.Unpaid``, and the values the resource declares (``ItemType.*``, ``PaymentMode.*``…)."""
    kind, _, value = filter_by.partition(".")
    if filter_by == "Status.All":
        return None
    filters = dict(resource.filters)
    if value and filter_by in filters:
        return filters[filter_by](value)
    if kind == "Status" and value:
        if value == "Unpaid":
            return lambda r: r.get("status") in ("sent", "overdue", "partially_paid")
        wanted = camel_to_snake(value)
        return lambda r: r.get("status") == wanted
    if value and kind in filters:
        return filters[kind](value)
    raise BadParameter("filter_by")


def route(segs: list[str]):
    """(pattern, handler, arguments) for a Books/Inventory path, or None."""
    path = "/".join(segs)
    if path in LIST_PATHS:
        resource, forced = LIST_PATHS[path]
        return path, list_handler, (resource, forced)
    if segs == ["locations"]:
        return "locations", locations_handler, ()
    if segs == ["itemdetails"]:
        return "itemdetails", itemdetails_handler, ()
    if len(segs) == 2 and segs[0] in DETAIL_PATHS:
        return f"{segs[0]}/{{id}}", detail_handler, (DETAIL_PATHS[segs[0]], segs[1])
    if len(segs) == 3 and segs[0] == "items" and segs[2] == "image":
        return "items/{id}/image", image_handler, (segs[1],)
    return None


def serve(product: str, rest: str):
    sim = simulator()
    store = sim.store
    prefix = PREFIXES[product]
    segs = [s for s in rest.split("/") if s]
    found = route(segs)
    if found is not None and product != "inventory" and segs[0] in INVENTORY_ONLY:
        found = None
    sim.stats.call(f"{request.method} {prefix}/{found[0] if found else rest}")
    response, slow = sim.faults.inject()
    if response is not None:
        return response
    org = request.args.get("organization_id", "")
    known_org = store.has_org(org)
    token = bearer()
    if token is None:
        return json_response(AUTH_MISSING, 401, sim.limits.headers(None))
    if not sim.tokens.valid(token):
        return json_response(AUTH_INVALID, 401, sim.limits.headers(None))
    if not known_org:
        return json_response(BAD_ORG, 400, sim.limits.headers(None))
    if found is None or _missing(org, found):
        return json_response(BAD_URL, 404, sim.limits.headers(org))
    if request.method != "GET":
        return json_response(BAD_METHOD, 405, sim.limits.headers(org))
    refused = sim.limits.admit(org)
    if refused is not None:
        return json_response(refused[1], refused[0], sim.limits.headers(org))
    try:
        if slow:
            time.sleep(sim.config.slow_seconds)
        _, handler, args = found
        try:
            with store.lock:
                response = handler(org, *args)
        except BadParameter as exc:
            response = json_response(exc.body, 400)
        response.headers.update(sim.limits.headers(org))
        return response
    finally:
        sim.limits.release(org)


for _product, _prefix in PREFIXES.items():
    bp.add_url_rule(f"{_prefix}/<path:rest>", endpoint=_product,
                    view_func=lambda rest, _p=_product: serve(_p, rest),
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH"])


def _missing(org: str, found) -> bool:
    """Whether the organization lacks the module of this route (``varied`` shapes)."""
    _, handler, args = found
    resource = args[0] if handler in (list_handler, detail_handler) else None
    return resource is not None and missing(simulator().config, org, resource)


def _page_context(per_page: int, report_name: str, sort_column: str) -> dict:
    return {"page": 1, "per_page": per_page, "has_more_page": False, "report_name": report_name,
            "applied_filter": "Status.All", "sort_column": sort_column, "sort_order": "A"}


def list_handler(org: str, resource: Resource, forced: dict):
    store = simulator().store
    args = request.args
    page = int_arg("page", 1)
    per_page = min(int_arg("per_page", MAX_PER_PAGE), MAX_PER_PAGE)
    rows = store.rows(org, resource.name)
    ctimes, mtimes = store.times(org, resource.name)
    ids = list(rows)
    filter_by = args.get("filter_by") or "Status.All"
    match = status_matcher(resource, filter_by)
    if match is not None:
        ids = [i for i in ids if match(rows[i])]
    exact = dict(forced)
    for key in EXACT_FILTERS:
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
        ids = [i for i in ids if mtimes.get(i, 0) > since_ts]  # Zoho: "modified after"
    column = args.get("sort_column") or resource.default_sort[0]
    order = (args.get("sort_order") or resource.default_sort[1]).upper()
    if order not in ("A", "D"):
        raise BadParameter("sort_order")
    ids.sort(key=sort_key(resource, column, rows, ctimes, mtimes), reverse=order == "D")
    start = (page - 1) * per_page
    chunk = ids[start:start + per_page]
    body = {
        "code": 0, "message": "success",
        resource.list_key: [list_row(resource, present(simulator().config, resource, rows[i])) for i in chunk],
        "page_context": {
            "page": page, "per_page": per_page, "has_more_page": start + per_page < len(ids),
            "report_name": resource.report_name, "applied_filter": filter_by, "custom_fields": [],
            "sort_column": column, "sort_order": order,
        },
    }
    return json_response(body)


def detail_handler(org: str, resource: Resource, id_: str):
    record = simulator().store.rows(org, resource.name).get(id_)
    if record is None:
        return json_response({"code": 1002, "message": f"{resource.thing} does not exist."}, 404)
    return json_response({"code": 0, "message": "success",
                          resource.detail_key: present(simulator().config, resource, record)})


def locations_handler(org: str):
    rows = simulator().store.rows(org, "warehouses")
    locations = [{"location_id": w["warehouse_id"], "location_name": w["warehouse_name"], "type": "general",
                  "status": w["status"], "is_primary": w["is_primary"], "address": {
                      "address": w["address"], "city": w["city"], "state": w["state"],
                      "country": w["country"], "zip": w["zip"]}, "phone": w["phone"], "email": w["email"]}
                 for w in rows.values()]
    return json_response({"code": 0, "message": "success", "locations": locations,
                          "page_context": _page_context(MAX_PER_PAGE, "Locations", "location_name")})


def itemdetails_handler(org: str):
    raw = request.args.get("item_ids", "")
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids or len(ids) > MAX_ITEM_IDS:
        raise BadParameter("item_ids")
    rows = simulator().store.rows(org, "items")
    items = [present(simulator().config, RESOURCES["items"], rows[i]) for i in ids if i in rows]
    return json_response({"code": 0, "message": "success", "items": items,
                          "page_context": _page_context(MAX_ITEM_IDS, RESOURCES["items"].report_name, "name")})


def image_handler(org: str, item_id: str):
    item = simulator().store.rows(org, "items").get(item_id)
    if item is None:
        return json_response({"code": 1002, "message": "Item does not exist."}, 404)
    if not item.get("image_document_id"):
        return json_response({"code": 1002, "message": "Image does not exist."}, 404)
    sim = simulator()
    content, content_type = item_image(item, sim.image_revisions.get((org, item_id), 0))
    if (org, item_id) in sim.broken_images:
        content = content[: len(content) // 2]
    return Response(content, content_type=content_type,
                    headers={"Content-Disposition": f'inline; filename="{item["image_name"]}"'})
