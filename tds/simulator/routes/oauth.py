"""``POST /oauth/v2/token``: Zoho's refresh flow (see :mod:`tds.simulator.oauth`)."""

from __future__ import annotations

from flask import Blueprint, request

from . import json_response, simulator

bp = Blueprint("oauth", __name__)


@bp.post("/oauth/v2/token")
def token():
    sim = simulator()
    sim.stats.call("POST /oauth/v2/token")
    params = {**request.form.to_dict(), **request.args.to_dict()}
    status, body = sim.tokens.refresh(params, request.host_url.rstrip("/"))
    return json_response(body, status)
