"""The simulator's HTTP routes, one blueprint per API, and what they share.

``oauth`` (``/oauth/v2/token``), ``finance`` (Books ``/books/v3`` and Inventory
``/inventory/v1``), ``crm`` (``/crm/v2``) and ``control`` (``/_sim/``). The blueprints reach
the :class:`tds.simulator.state.Simulator` through ``current_app.extensions["tds_simulator"]``.
"""

from __future__ import annotations

from flask import Response, current_app, request

from ..formats import dumps
from ..state import Simulator

JSON = "application/json;charset=UTF-8"
MAX_PER_PAGE = 200
BAD_URL = {"code": 5, "message": "Invalid URL Passed"}


class BadParameter(ValueError):
    def __init__(self, name: str):
        super().__init__(name)
        self.body = {"code": 2, "message": f"Invalid value passed for {name}"}


def simulator() -> Simulator:
    return current_app.extensions["tds_simulator"]


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(body), status=status, headers=headers or {}, content_type=JSON)


def bearer() -> str | None:
    """The token of an ``Authorization: Zoho-oauthtoken <token>`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("zoho-oauthtoken",) or not token.strip():
        return None
    return token.strip()


def int_arg(name: str, default: int) -> int:
    """A positive integer query parameter; :class:`BadParameter` otherwise."""
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


def sort_key(resource, column: str, rows: dict, ctimes: dict, mtimes: dict):
    """A stable sort key over ids for ``column`` (ties broken by id); BadParameter for a column
    the records do not have or cannot be ordered by."""
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
