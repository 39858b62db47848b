"""Injected faults: server errors (500 JSON, 502 HTML, 503 JSON or HTML), throttling (429 code 44 with
``Retry-After``, 429 code 1070 without), slow calls, dropped connections.

``error_rate``, ``slow_rate`` and ``drop_rate`` are shares of API calls, drawn from a random
generator seeded by ``seed`` so a run can be repeated. A dropped call's response never
reaches the client: :class:`ConnectionDropper` shuts the socket instead.
"""

from __future__ import annotations

import random
import socket
import threading

from flask import Response, request

from .config import SimulatorConfig
from .counters import Counters
from .formats import dumps

DROP_FLAG = "tds_simulator.drop"
JSON = "application/json;charset=UTF-8"
HTML_503 = (b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
            b"<h1>503 Service Temporarily Unavailable</h1></center><hr><center>ZGS</center></body></html>")
HTML_502 = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
            b"</center><hr><center>ZGS</center></body></html>")


class Faults:
    def __init__(self, config: SimulatorConfig, counters: Counters):
        self.config = config
        self.counters = counters
        self._lock = threading.Lock()
        self._rng = random.Random(f"tds-simulator-faults:{config.seed}")

    def draw(self) -> tuple[str | None, bool]:
        """("drop" | "error" | None, slow?) for one API call."""
        cfg = self.config
        if not (cfg.drop_rate or cfg.error_rate or cfg.slow_rate):
            return None, False
        with self._lock:
            u, s = self._rng.random(), self._rng.random()
        kind = "drop" if u < cfg.drop_rate else "error" if u < cfg.drop_rate + cfg.error_rate else None
        if kind:
            self.counters.event("faults")
        return kind, s < cfg.slow_rate

    def error_response(self) -> tuple[int, bytes, str, dict]:
        """(status, body, content type, headers) of an injected error: 500 JSON, 502 HTML, 503
        JSON or HTML, or 429 — code 44 with ``Retry-After`` or code 1070 without (Zoho sends
        the header rarely, if ever; clients must cope either way). ``error_kinds="5xx"``
        leaves the 429s out: an outage, never a rate limit."""
        with self._lock:
            pick = self._rng.randrange(4 if self.config.error_kinds == "5xx" else 6)
        if pick == 0:
            return 500, dumps({"code": 1000, "message": "Internal error"}), JSON, {}
        if pick == 1:
            return 502, HTML_502, "text/html", {}
        if pick == 2:
            return 503, dumps({"code": 1000, "message": "Service temporarily unavailable"}), JSON, {}
        if pick == 3:
            return 503, HTML_503, "text/html", {}
        if pick == 4:
            self.counters.event("faults_429_retry_after")
            return 429, dumps({"code": 44, "message": "too many requests per minute"}), JSON, {"Retry-After": "1"}
        self.counters.event("faults_429")
        return 429, dumps({"code": 1070, "message": "maximum number of in process requests"}), JSON, {}

    def inject(self) -> tuple[Response | None, bool]:
        """For the current request: (the faulty Response to answer with, or None; whether to be slow)."""
        kind, slow = self.draw()
        if kind == "drop":
            request.environ[DROP_FLAG] = True
            return Response(b"", status=500), False
        if kind == "error":
            status, body, ctype, headers = self.error_response()
            return Response(body, status=status, content_type=ctype, headers=headers), False
        return None, slow


class ConnectionDropper:
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
