"""Running the simulator: in a background thread (tests, benchmarks) or in the foreground (CLI)."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .config import SimulatorConfig
from .state import Simulator


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log lines (benchmarks make tens of thousands of calls)."""

    def log_request(self, code="-", size="-") -> None:
        pass


class SimulatorServer:
    """A threaded werkzeug server for the simulator on a background thread.

    ``port=0`` picks a free port; ``url`` is known once :meth:`start` returns::

        with SimulatorServer(SimulatorConfig(scale="small")) as server:
            requests.post(f"{server.url}/oauth/v2/token", params={...})
            server.simulator.mutate("60001234567", "items", 5)
    """

    def __init__(self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 quiet: bool = True):
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        self.quiet = quiet
        self.app = create_app(self.config)
        self.simulator: Simulator = self.app.extensions["tds_simulator"]
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator server is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> SimulatorServer:
        if self._server is not None:
            return self
        handler = _QuietHandler if self.quiet else WSGIRequestHandler
        self._server = make_server(self.host, self.port, self.app, threaded=True, request_handler=handler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="tds-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8001,
          quiet: bool = False) -> None:
    """Run the simulator in the foreground until interrupted (``tds simulator --port 8001``).

    Endpoints (``{org}`` is one of ``config.organizations``; Books and Inventory serve the same data):

    OAuth
      ``POST /oauth/v2/token``  grant_type=refresh_token, client_id, client_secret, refresh_token
      (or grant_type=authorization_code with code={grant_code}, once)
      (query or form). Errors arrive as HTTP 200 ``{"error": "invalid_code" | "invalid_client"}``;
      more than ``token_refresh_limit`` refreshes in 10 minutes → HTTP 400 "Access Denied".

    Books ``/books/v3`` and Inventory ``/inventory/v1`` (``Authorization: Zoho-oauthtoken <t>``,
    ``?organization_id={org}``)
      ``GET /items``, ``/items/{id}``, ``/items/{id}/image``, ``/itemdetails?item_ids=a,b`` (≤100),
      ``/contacts`` (``contact_type=customer|vendor``), ``/contacts/{id}``, ``/vendors``,
      ``/invoices[/{id}]``, ``/customerpayments[/{id}]``, ``/creditnotes[/{id}]``, ``/bills[/{id}]``,
      ``/salesorders[/{id}]``, ``/users[/{id}]``, ``/pricebooks[/{id}]``, ``/settings/warehouses``,
      ``/locations``. Lists take ``page``, ``per_page`` (≤200), ``filter_by``,
      ``last_modified_time``, ``sort_column``, ``sort_order``.

    Books and Inventory automation settings (what ``tds webhooks install`` writes)
      ``GET|POST /settings/webhooks``, ``GET|POST /settings/workflows``, per product and organization.

    CRM ``/crm/v2`` (no organization)
      ``GET /Accounts``, ``/Accounts/{id}``, ``/Contacts``, ``/Contacts/{id}``; ``page``, ``per_page``,
      ``sort_by``, ``sort_order``, ``If-Modified-Since``.

    Control (no auth, not counted, never throttled or faulted)
      ``GET /_sim/health``, ``GET /_sim/counters``, ``POST /_sim/counters/reset``,
      ``GET|POST /_sim/config``, ``POST /_sim/token``, ``GET /_sim/webhooks``, ``POST /_sim/mutate``,
      ``GET|POST /_sim/records/{resource}``, ``GET|PATCH|DELETE /_sim/records/{resource}/{id}``.
    """
    config = config or SimulatorConfig()
    app = create_app(config)
    handler = _QuietHandler if quiet else WSGIRequestHandler
    server = make_server(host, port, app, threaded=True, request_handler=handler)
    # no credential in the banner: it ends up in terminals and logs
    print(f"Zoho simulator on http://{host}:{server.server_port} "
          f"(organizations {', '.join(config.organizations)}; data set {config.scale}; "
          f"webhooks {'to ' + config.webhook_url if config.webhook_url else 'off'}, "
          f"{'signed' if config.webhook_secret else 'unsigned'})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
