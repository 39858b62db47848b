"""An Odoo stand-in: the part of Odoo's external XML-RPC API that TDS uses, served for
real over HTTP on loopback.

No Odoo server can be installed on the machines TDS is built and tested on, so the tests
(and anyone trying the Odoo push by hand: ``tds odoo standin``) talk to this instead. It
lives in ``tds/`` next to the Zoho simulator, not under ``tests/``, for the same reason the
simulator does: it is a tool to run, not a fixture.

What it does as Odoo does, for the calls TDS makes:

* ``/xmlrpc/2/common`` ``authenticate(db, login, password_or_key, {})`` → uid or ``False``;
  ``version()``.
* ``/xmlrpc/2/object`` ``execute_kw(db, uid, password, model, method, args, kwargs)`` with
  ``search``, ``search_read``, ``search_count``, ``read``, ``create``, ``write``,
  ``unlink`` and ``fields_get`` on ``product.template``, ``product.product``,
  ``ir.model`` and ``ir.model.fields``. Errors are ``xmlrpc.client.Fault`` with Odoo's
  messages (access denied, invalid field, missing record).
* Domains: ``[(field, op, value), …]`` joined by AND (``&`` accepted), with ``=``, ``!=``,
  ``in``, ``not in``, ``<``, ``<=``, ``>``, ``>=``, ``ilike``. Records with
  ``active=False`` are left out of searches unless the domain names ``active`` or the
  context says ``active_test: False``.
* ``product.template.create`` creates its variant (``product.product``) and
  ``product_variant_id``; archiving or restoring a template does the same to its variants.
* A custom field exists only once ``ir.model.fields`` ``create`` made it (``x_`` names
  only); writing a field the model does not have is a ``Fault``, as in Odoo.
* Unset char fields read as ``False``; many2one fields read as ``[id, name]``.

Every ``execute_kw`` call is recorded in :attr:`OdooStandin.calls` as ``(model, method)``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import xmlrpc.client
from xmlrpc.server import MultiPathXMLRPCServer, SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

_BASE_FIELDS = {
    "product.template": {
        "name": "char", "active": "boolean", "list_price": "float", "standard_price": "float",
        "default_code": "char", "description": "html", "description_sale": "text",
        "description_purchase": "text", "type": "selection", "is_storable": "boolean", "sale_ok": "boolean",
        "purchase_ok": "boolean", "image_1920": "binary", "product_variant_id": "many2one",
        "product_variant_ids": "one2many", "write_date": "datetime", "create_date": "datetime",
    },
    "product.product": {
        "name": "char", "active": "boolean", "product_tmpl_id": "many2one", "default_code": "char",
        "write_date": "datetime", "create_date": "datetime",
    },
    "ir.model": {"model": "char", "name": "char"},
    "ir.model.fields": {"name": "char", "model": "char", "model_id": "many2one", "ttype": "char",
                        "field_description": "char", "state": "char", "index": "boolean", "copied": "boolean",
                        "required": "boolean", "readonly": "boolean"},
}
_DEFAULTS = {"product.template": {"active": True, "type": "consu", "sale_ok": True, "purchase_ok": True,
                                  "list_price": 1.0, "standard_price": 0.0},
             "product.product": {"active": True}}
_SELECTIONS = {("product.template", "type"): ("consu", "service", "product", "combo")}


def _fault(message: str) -> xmlrpc.client.Fault:
    return xmlrpc.client.Fault(1, f"Traceback (most recent call last):\n  …\n{message}\n")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class _Model:
    def __init__(self, name: str):
        self.name = name
        self.fields: dict[str, str] = dict(_BASE_FIELDS[name])
        self.rows: dict[int, dict] = {}
        self.next_id = 1


class OdooStandin:
    """The stand-in's data and behaviour; :meth:`start` serves it on loopback."""

    def __init__(self, db: str = "odoo", login: str = "admin", password: str = "admin"):
        self.db, self.login, self.password = db, login, password
        self.uid = 2
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.RLock()
        self.models = {name: _Model(name) for name in _BASE_FIELDS}
        for name in ("product.template", "product.product"):
            self._insert("ir.model", {"model": name, "name": name})
        self._server: MultiPathXMLRPCServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- serving

    def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        """Serve on ``host:port`` (a free port the first time; the same one again after
        :meth:`stop`, the way a restarted Odoo comes back at its address)."""
        port = self.port if port is None else port
        server = MultiPathXMLRPCServer((host, port), requestHandler=_Handler, logRequests=False, allow_none=True)
        common = SimpleXMLRPCDispatcher(allow_none=True)
        common.register_function(self.authenticate, "authenticate")
        common.register_function(lambda: {"server_version": "17.0", "protocol_version": 1}, "version")
        obj = SimpleXMLRPCDispatcher(allow_none=True)
        obj.register_function(self.execute_kw, "execute_kw")
        server.add_dispatcher("/xmlrpc/2/common", common)
        server.add_dispatcher("/xmlrpc/2/object", obj)
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="odoo-standin", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop answering: calls are refused at the TCP level, as with Odoo down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- the API

    def authenticate(self, db, login, password, user_agent_env=None):
        if db != self.db:
            raise _fault(f'psycopg2.OperationalError: FATAL:  database "{db}" does not exist')
        return self.uid if (login, password) == (self.login, self.password) else False

    def execute_kw(self, db, uid, password, model, method, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        with self._lock:
            self.calls.append((model, method))
            if (db, uid, password) != (self.db, self.uid, self.password):
                raise _fault("odoo.exceptions.AccessDenied: Access Denied")
            if model not in self.models:
                raise _fault(f"KeyError: '{model}'")
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise _fault(f"AttributeError: The method '{model}.{method}' does not exist")
            return handler(self.models[model], *args, **kwargs)

    def _m_fields_get(self, m: _Model, allfields=None, attributes=None, context=None):
        names = allfields or list(m.fields)
        return {n: {"type": m.fields[n], "string": n} for n in names if n in m.fields}

    def _m_search(self, m, domain, offset=0, limit=None, order=None, context=None):
        ids = [rid for rid, row in sorted(m.rows.items()) if self._matches(m, row, domain, context)]
        return ids[offset: offset + limit if limit else None]

    def _m_search_count(self, m, domain, context=None):
        return len(self._m_search(m, domain, context=context))

    def _m_search_read(self, m, domain=(), fields=None, offset=0, limit=None, order=None, context=None):
        return self._m_read(m, self._m_search(m, domain, offset, limit, context=context), fields)

    def _m_read(self, m, ids, fields=None, context=None):
        out = []
        for rid in ids:
            if rid not in m.rows:
                raise _fault(f"odoo.exceptions.MissingError: Record does not exist or has been deleted.\n"
                             f"(Record: {m.name}({rid},), User: {self.uid})")
            self._check_fields(m, fields or ())
            out.append({"id": rid, **{f: self._value(m, m.rows[rid], f) for f in (fields or m.fields)}})
        return out

    def _m_create(self, m, vals, context=None):
        if isinstance(vals, list):
            return [self._create(m, v) for v in vals]
        return self._create(m, vals)

    def _m_write(self, m, ids, vals, context=None):
        self._check_fields(m, vals)
        for rid in ids:
            if rid not in m.rows:
                raise _fault(f"odoo.exceptions.MissingError: Record does not exist or has been deleted.\n"
                             f"(Record: {m.name}({rid},), User: {self.uid})")
        for rid in ids:
            self._set(m, m.rows[rid], vals)
            if m.name == "product.template" and "active" in vals:
                for vid in m.rows[rid]["product_variant_ids"]:
                    self._set(self.models["product.product"], self.models["product.product"].rows[vid],
                              {"active": vals["active"]})
        return True

    def _m_unlink(self, m, ids, context=None):
        for rid in ids:
            m.rows.pop(rid, None)
        return True

    # ---------------------------------------------------------------- records

    def _create(self, m: _Model, vals: dict) -> int:
        self._check_fields(m, vals)
        if m.name == "ir.model.fields":
            return self._create_field(vals)
        row = {**_DEFAULTS.get(m.name, {}), "create_date": _now()}
        rid = self._insert(m.name, row)
        self._set(m, m.rows[rid], vals)
        if m.name == "product.template":
            vid = self._insert("product.product", {**_DEFAULTS["product.product"], "product_tmpl_id": rid,
                                                   "create_date": _now()})
            m.rows[rid]["product_variant_ids"] = [vid]
            m.rows[rid]["product_variant_id"] = vid
            self._sync_variant(m.rows[rid])
        return rid

    def _insert(self, model: str, row: dict) -> int:
        m = self.models[model]
        rid, m.next_id = m.next_id, m.next_id + 1
        m.rows[rid] = {**row, "id": rid, "write_date": _now()}
        return rid

    def _set(self, m: _Model, row: dict, vals: dict) -> None:
        for name, value in vals.items():
            if (m.name, name) in _SELECTIONS and value not in _SELECTIONS[(m.name, name)]:
                raise _fault(f"ValueError: Wrong value for {m.name}.{name}: {value!r}")
            if m.fields[name] == "binary" and value:
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError, TypeError):
                    raise _fault(f"binascii.Error: {name} is not valid base64") from None
            if m.fields[name] == "float":
                value = float(value or 0.0)
            row[name] = value
        row["write_date"] = _now()
        if m.name == "product.template" and "product_variant_ids" in row:
            self._sync_variant(row)

    def _sync_variant(self, template: dict) -> None:
        for vid in template["product_variant_ids"]:
            variant = self.models["product.product"].rows[vid]
            variant.update(name=template.get("name"), default_code=template.get("default_code"))

    def _create_field(self, vals: dict) -> int:
        name = vals.get("name") or ""
        if not name.startswith("x_"):
            raise _fault("odoo.exceptions.ValidationError: Custom fields must have a name that starts with 'x_'!")
        model_row = self.models["ir.model"].rows.get(vals.get("model_id"))
        if model_row is None:
            raise _fault("odoo.exceptions.ValidationError: The model of a field is required")
        target = self.models[model_row["model"]]
        if name in target.fields:
            raise _fault(f"psycopg2.errors.UniqueViolation: Field names must be unique per model ({name})")
        target.fields[name] = vals.get("ttype", "char")
        return self._insert("ir.model.fields", {**vals, "model": model_row["model"], "state": "manual"})

    def _check_fields(self, m: _Model, names) -> None:
        for name in names:
            if name not in m.fields and name != "id":
                raise _fault(f"ValueError: Invalid field '{name}' on model '{m.name}'")

    def _value(self, m: _Model, row: dict, name: str):
        kind = m.fields[name]
        value = row.get(name)
        if kind == "many2one":
            if not value:
                return False
            target = "product.template" if name == "product_tmpl_id" else (
                "ir.model" if name == "model_id" else "product.product")
            target_row = self.models[target].rows.get(value, {})
            return [value, target_row.get("name") or target_row.get("model") or ""]
        if kind == "one2many":
            return list(value or [])
        if kind == "boolean":
            return bool(value)
        if kind == "float":
            return float(value or 0.0)
        return value if value not in (None, "") else False

    def _matches(self, m: _Model, row: dict, domain, context) -> bool:
        terms = [t for t in (domain or []) if t != "&"]
        if any(t in ("|", "!") for t in terms):
            raise _fault("NotImplementedError: the stand-in joins domain terms with AND only")
        names = {t[0] for t in terms}
        if "active" in m.fields and "active" not in names and (context or {}).get("active_test", True):
            if not row.get("active"):
                return False
        for name, op, value in terms:
            self._check_fields(m, [name])
            have = row.get("id") if name == "id" else row.get(name)
            if not _compare(have, op, value):
                return False
        return True

    # ---------------------------------------------------------------- for tests and demos

    def templates(self, active_only: bool = False) -> list[dict]:
        """Every ``product.template`` as stored (id included)."""
        with self._lock:
            rows = self.models["product.template"].rows
            return [dict(row) for row in rows.values() if row.get("active") or not active_only]

    def count(self, method: str, model: str = "product.template") -> int:
        return sum(1 for c in self.calls if c == (model, method))


def _compare(have, op: str, value) -> bool:
    if have is None:
        have = False
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    if op == "in":
        return have in value
    if op == "not in":
        return have not in value
    if op == "ilike":
        return bool(have) and str(value).lower() in str(have).lower()
    if have is False:
        return False
    return {"<": have < value, "<=": have <= value, ">": have > value, ">=": have >= value}[op]


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlrpc/2/common", "/xmlrpc/2/object")
