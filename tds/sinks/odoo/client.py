"""Odoo's external API over XML-RPC: ``/xmlrpc/2/common`` ``authenticate`` once, then
``/xmlrpc/2/object`` ``execute_kw`` for every call.

Failures come out in the two classes the task policy knows (:mod:`tds.process.failures`):

* :class:`OdooUnavailable` (a ``ConnectionError``): Odoo did not answer, timed out, or
  answered 5xx/429. Transient: the task is retried with backoff.
* :class:`OdooError`: Odoo answered and refused (an XML-RPC ``Fault``: access denied, an
  invalid field, a constraint). Fatal for that call.

A ``ServerProxy`` is not safe to share between threads, so each call makes its own; the
uid from ``authenticate`` is kept for the client's life.
"""

from __future__ import annotations

import http.client
import xmlrpc.client

from tds.config import Settings


class OdooError(RuntimeError):
    """Odoo answered and refused the call."""


class OdooUnavailable(ConnectionError):
    """Odoo did not answer, or answered that it cannot serve now (retry later)."""


def _with_timeout(base: type) -> type:
    """``base`` (plain or TLS transport) with a socket timeout, which xmlrpc.client lacks."""

    class TimeoutTransport(base):
        def __init__(self, timeout: float):
            super().__init__()
            self._timeout = timeout

        def make_connection(self, host):
            conn = super().make_connection(host)
            conn.timeout = self._timeout
            return conn

    return TimeoutTransport


_TimeoutTransport = _with_timeout(xmlrpc.client.Transport)
_TimeoutSafeTransport = _with_timeout(xmlrpc.client.SafeTransport)


class OdooClient:
    """One Odoo user on one database. ``calls`` counts ``execute_kw`` calls made."""

    def __init__(self, url: str, db: str, username: str, secret: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.db = db
        self.username = username
        self._secret = secret
        self._timeout = timeout
        self._uid: int | None = None
        self.calls = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "OdooClient":
        settings.require_odoo_credentials()
        return cls(settings.odoo_url, settings.odoo_db, settings.odoo_username,
                   settings.odoo_api_key or settings.odoo_password, settings.odoo_timeout)

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"OdooClient({self.url!r}, db={self.db!r}, user={self.username!r})"

    def _proxy(self, endpoint: str) -> xmlrpc.client.ServerProxy:
        transport_cls = _TimeoutSafeTransport if self.url.startswith("https://") else _TimeoutTransport
        return xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/{endpoint}", transport=transport_cls(self._timeout),
                                         allow_none=True)

    def _rpc(self, endpoint: str, method: str, *args):
        try:
            return getattr(self._proxy(endpoint), method)(*args)
        except xmlrpc.client.Fault as exc:
            raise OdooError(f"Odoo refused {method}: {exc.faultString.strip().splitlines()[-1]}") from exc
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode >= 500 or exc.errcode == 429:
                raise OdooUnavailable(f"Odoo answered HTTP {exc.errcode} to {method}") from exc
            raise OdooError(f"Odoo answered HTTP {exc.errcode} to {method}") from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
            raise OdooUnavailable(f"Odoo at {self.url} did not answer {method}: {exc}") from exc

    @property
    def uid(self) -> int:
        if self._uid is None:
            uid = self._rpc("common", "authenticate", self.db, self.username, self._secret, {})
            if not uid:
                raise OdooError(f"Odoo refused the login of {self.username!r} on database {self.db!r}")
            self._uid = int(uid)
        return self._uid

    def execute(self, model: str, method: str, *args, **kwargs):
        """``execute_kw(db, uid, secret, model, method, args, kwargs)``."""
        uid = self.uid
        self.calls += 1
        return self._rpc("object", "execute_kw", self.db, uid, self._secret, model, method, list(args), kwargs)
