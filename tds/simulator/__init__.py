"""A faithful local stand-in for Zoho Books, Zoho Inventory and Zoho CRM.

The resources it serves and how each behaves are declared by the family modules in
:mod:`tds.simulator.families`; ``docs/simulator.md`` lists every module.

The simulator serves Zoho's real shapes (described in ``docs/simulator.md``): the OAuth
refresh flow with its HTTP-200 errors and its 10-per-10-minutes throttle, ``Zoho-oauthtoken`` authentication, list envelopes with
``page_context``, detail envelopes, ``last_modified_time`` filtering, per-warehouse stock only in
item details (legacy ``warehouses[]`` for the first organization, ``locations[]`` for the
second, alternating), Decimal numbers that keep their digits (``85.00``, ``1.000000``), Zoho
error codes (14, 57, 2, 5, 1002, 44, 45, 1070), injected faults, and Zoho-style webhooks
to a TDS receiver (inventory adjustments move their items' stock and are announced to
``stock``). Data is generated deterministically from a seed, lazily per organization,
and is internally consistent (document totals, invoice balances against payments and credit
notes, stock sums).

Run it::

    tds simulator --port 8001                     # the CLI, foreground
    python -c "from tds.simulator import serve, SimulatorConfig; serve(SimulatorConfig(), port=8001)"

and point TDS at it: API and accounts URL ``http://127.0.0.1:8001``, client id
``1000.SIMCLIENT``, client secret ``simsecret``, refresh token ``1000.simrefresh``,
organization ``60001234567`` (and ``60007654321``).

In tests::

    from tds.simulator import SimulatorConfig, SimulatorServer
    with SimulatorServer(SimulatorConfig(scale="small")) as server:
        server.url                                  # http://127.0.0.1:<port>
        sim = server.simulator
        sim.store.records("60001234567", "invoices")  # detail form, with line_items
        sim.update("60001234567", "items", item_id, {"rate": "99.50"})

Options (:class:`SimulatorConfig`; those marked * can change while running through
``Simulator.configure`` or ``POST /_sim/config``):

``organizations``        numeric organization ids (default ``("60001234567", "60007654321")``);
                         even positions use the ``warehouses[]`` item-detail shape, odd ``locations[]``.
``seed``                 random seed; the same seed gives the same data (default 42).
``scale``                ``"full"`` (``full_counts``), ``"small"`` (1/20, at least 2 warehouses and 3 price
                         lists), ``"tiny"`` (1/100), or a number multiplying ``full``.
``full_counts``          records per organization at ``"full"``, by resource (``customers`` and
                         ``vendors`` for contacts; CRM: in the CRM account). TDS passes its registry's
                         (:func:`tds.registry.simulator_counts`); the default,
                         :data:`tds.simulator.config.FULL_COUNTS`, is the same data set: 2,218 items,
                         500 customers, 100 vendors, 5,000 invoices, 3,000 payments, 300 credit notes,
                         1,000 bills, 2,000 sales orders, 200 inventory adjustments, 20 users, 3 price
                         lists, 2 warehouses, 300 CRM accounts, 600 CRM contacts.
``counts``               explicit per-resource counts overriding ``scale``; keys are those of
                         ``full_counts``.
``client_id``, ``client_secret``, ``refresh_token``  the only credentials accepted.
``token_lifetime`` *     access-token lifetime in seconds (3600).
``token_refresh_limit`` *  refreshes allowed per 10 minutes (10; 0 = unlimited).
``rate_limit_per_minute`` *  calls per organization per minute (0 = off) → 429 code 44.
``daily_limit`` *        calls per organization per day (0 = off) → 429 code 45.
``concurrency_limit`` *  simultaneous calls per organization (0 = off) → 429 code 1070.
``error_rate`` *         share of API calls answered 500/502/503 (some 503s with HTML) or 429.
``error_kinds`` *        ``"mixed"`` (default: those) or ``"5xx"`` (500/502/503 only: an outage, never a 429).
``slow_rate`` *, ``slow_seconds`` *  share of calls delayed, and by how long (2.0 s).
``drop_rate`` *          share of calls whose connection is closed with no response.
``webhook_url`` *        receiver base, e.g. ``http://127.0.0.1:8000/api/zoho/webhooks``;
                         webhooks go to ``{webhook_url}/{slug}?organization_id={org}``.
``webhook_secret`` *     signs webhooks (``X-Zoho-Webhook-Signature``, :func:`tds.simulator.webhooks.zoho_signature`).
``webhook_payload`` *    ``"detail"`` (full record) or ``"list"`` (the list-row form).
``webhook_timeout`` *    seconds per delivery attempt (5.0); ``webhooks_enabled`` * turns sending off.
``timezone_offset``      the organizations' UTC offset in times (``"+0300"``).
``shapes``               ``"canonical"`` (default), ``"sparse"``, ``"varied"`` or ``"minimal"``: how
                         records are written out, webhooks too (:mod:`tds.simulator.shapes`).
"""

from .app import create_app
from .config import FULL_COUNTS, SimulatorConfig
from .server import SimulatorServer, serve
from .state import Simulator

__all__ = ["FULL_COUNTS", "Simulator", "SimulatorConfig", "SimulatorServer", "create_app", "serve"]
