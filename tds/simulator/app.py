"""The simulator's Flask application: the OAuth, Books/Inventory, CRM and ``/_sim/`` blueprints."""

from __future__ import annotations

from flask import Flask

from .config import SimulatorConfig
from .faults import ConnectionDropper
from .routes import BAD_URL, automation, control, crm, finance, json_response, oauth
from .state import Simulator


def create_app(config: SimulatorConfig) -> Flask:
    """The simulator as a Flask app; ``app.extensions["tds_simulator"]`` is its :class:`Simulator`."""
    app = Flask("tds.simulator")
    app.extensions["tds_simulator"] = Simulator(config)
    app.wsgi_app = ConnectionDropper(app.wsgi_app)
    for module in (oauth, automation, finance, crm, control):
        app.register_blueprint(module.bp)
    app.register_error_handler(404, lambda exc: json_response(BAD_URL, 404))
    app.register_error_handler(405, lambda exc: json_response(BAD_URL, 405))
    return app


__all__ = ["create_app"]
