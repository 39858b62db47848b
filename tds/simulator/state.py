"""The simulator's state: records, tokens, limits, faults, call counters and outgoing webhooks."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, OrderedDict, deque
from datetime import datetime, timedelta
from decimal import Decimal

import requests
import simplejson

from tds.webhook_auth import SIGNATURE_HEADER, sign

from .config import RUNTIME_FIELDS, SimulatorConfig
from .generate import (
    FIRST,
    LAST,
    ZERO2,
    ZERO6,
    InvalidReference,
    UnknownReference,
    level_prefix,
    money,
    normalize_lines,
    recompute_item,
    recompute_totals,
    set_level,
    settle_invoice,
    stock,
)
from .resources import RESOURCES, list_row, webhook_slug
from .store import Store, UnknownResource, deep_copy

#: Zoho keeps at most this many live access tokens per refresh token; the oldest is revoked.
MAX_ACTIVE_TOKENS = 10
#: Shown in ``X-Rate-Limit-Limit`` while no daily limit is configured.
UNLIMITED_DAILY = 1_000_000
TOKEN_WINDOW_SECONDS = 600

MSG_THROTTLED_TOKEN = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}
MSG_44 = ("For security reasons your organization has been blocked as it have exceeded the maximum number of "
          "requests per minute that can originate from an organization.")
MSG_1070 = "You have reached the maximum number of in process requests allowed. Kindly try again after some time."
HTML_503 = (b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
            b"<h1>503 Service Temporarily Unavailable</h1></center><hr><center>ZGS</center></body></html>")
HTML_502 = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
            b"</center><hr><center>ZGS</center></body></html>")

DOCUMENTS = ("invoices", "salesorders", "bills", "creditnotes")


def dumps(obj) -> bytes:
    """JSON the way Zoho writes it: Decimals keep their digits (``85.00``, ``1.000000``), UTF-8."""
    return simplejson.dumps(obj, use_decimal=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(data):
    return simplejson.loads(data, use_decimal=True)


class NotFound(LookupError):
    pass


class Simulator:
    """Everything one running simulator knows. Thread-safe; HTTP handlers and tests share it.

    Data: ``store`` (records in detail form), ``create`` / ``update`` / ``delete`` / ``mutate``.
    Every create and update moves ``last_modified_time`` strictly forward:
    ``new = max(now, previous + 1 s)``, so rapid edits of one record still get distinct,
    increasing second-resolution times. Updates recompute derived figures (line totals,
    document totals, invoice balance and status, item stock sums).
    """

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.store = Store(config)
        self.webhook_log: deque[dict] = deque(maxlen=10000)
        self.deleted: list[dict] = []
        self._lock = threading.Lock()  # counters, tokens, limits, fault RNG
        self._calls: Counter = Counter()
        self._extra: Counter = Counter()
        self._tokens: OrderedDict[str, float] = OrderedDict()
        self._token_times: deque[float] = deque()
        self._inflight: Counter = Counter()
        self._minute: dict[str, deque] = {}
        self._daily: Counter = Counter()
        self._day: str | None = None
        self._fault_rng = random.Random(f"tds-simulator-faults:{config.seed}")
        self._mutate_rng = random.Random(f"tds-simulator-mutate:{config.seed}")
        self.started = time.time()

    # ------------------------------------------------------------------ configuration
    def configure(self, **changes) -> dict:
        """Change limits, faults or webhook settings while running; returns the new settings."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} at run time; allowed: {sorted(RUNTIME_FIELDS)}")
        if "webhook_payload" in changes and changes["webhook_payload"] not in ("detail", "list"):
            raise ValueError("webhook_payload is 'detail' or 'list'")
        coerced = {}
        for key, value in changes.items():
            current = getattr(self.config, key)
            if isinstance(current, bool) and not isinstance(value, bool):
                value = str(value).lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int) and not isinstance(current, bool) and value is not None:
                value = int(value)
            elif isinstance(current, float) and value is not None:
                value = float(value)
            coerced[key] = value
        with self._lock:
            for key, value in coerced.items():
                setattr(self.config, key, value)
        return self.config.to_dict()

    # ------------------------------------------------------------------ counters
    def count_call(self, key: str) -> None:
        with self._lock:
            self._calls[key] += 1

    def counters(self) -> dict:
        """Calls per endpoint (``"GET /inventory/v1/items": 12``) plus totals."""
        with self._lock:
            out = dict(self._calls)
            out["api_calls_total"] = sum(v for k, v in self._calls.items() if not k.startswith("POST /oauth"))
            for key in ("token_refreshes", "webhooks_sent", "webhooks_failed", "faults", "throttled"):
                out[key] = self._extra[key]
            return out

    def reset_counters(self) -> None:
        with self._lock:
            self._calls.clear()
            self._extra.clear()

    def _bump_extra(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._extra[key] += n

    # ------------------------------------------------------------------ OAuth
    def refresh(self, params, api_domain: str) -> tuple[int, dict]:
        """``POST /oauth/v2/token`` with ``grant_type=refresh_token``: (HTTP status, body)."""
        cfg = self.config
        if params.get("grant_type") != "refresh_token":
            return 200, {"error": "unsupported_grant_type"}
        if params.get("client_id") != cfg.client_id or params.get("client_secret") != cfg.client_secret:
            return 200, {"error": "invalid_client"}
        if params.get("refresh_token") != cfg.refresh_token:
            return 200, {"error": "invalid_code"}
        now = time.time()
        with self._lock:
            while self._token_times and self._token_times[0] <= now - TOKEN_WINDOW_SECONDS:
                self._token_times.popleft()
            if cfg.token_refresh_limit and len(self._token_times) >= cfg.token_refresh_limit:
                self._extra["throttled"] += 1
                return 400, dict(MSG_THROTTLED_TOKEN)
            self._token_times.append(now)
            self._extra["token_refreshes"] += 1
        token = self.new_access_token()
        return 200, {"access_token": token, "expires_in": cfg.token_lifetime, "api_domain": api_domain,
                     "token_type": "Bearer"}

    def new_access_token(self) -> str:
        """Mint an access token directly (no refresh quota used); for tests and benchmarks."""
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = time.time() + self.config.token_lifetime
            while len(self._tokens) > MAX_ACTIVE_TOKENS:
                self._tokens.popitem(last=False)
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if expiry <= time.time():
                del self._tokens[token]
                return False
            return True

    # ------------------------------------------------------------------ limits
    def _today(self) -> datetime:
        return datetime.now(self.store.tz)

    def admit(self, org_id: str) -> tuple[int, dict] | None:
        """Take one call from the organization's budgets, or say which limit refuses it."""
        cfg = self.config
        now = time.time()
        with self._lock:
            day = self._today().strftime("%Y-%m-%d")
            if day != self._day:
                self._day = day
                self._daily.clear()
            if cfg.concurrency_limit and self._inflight[org_id] >= cfg.concurrency_limit:
                self._extra["throttled"] += 1
                return 429, {"code": 1070, "message": MSG_1070}
            if cfg.rate_limit_per_minute:
                window = self._minute.setdefault(org_id, deque())
                while window and window[0] <= now - 60:
                    window.popleft()
                if len(window) >= cfg.rate_limit_per_minute:
                    self._extra["throttled"] += 1
                    return 429, {"code": 44, "message": MSG_44}
            if cfg.daily_limit and self._daily[org_id] >= cfg.daily_limit:
                self._extra["throttled"] += 1
                return 429, {"code": 45, "message": "The API call for this organization has exceeded the maximum "
                                                    f"call rate limit of {cfg.daily_limit}."}
            self._inflight[org_id] += 1
            self._minute.setdefault(org_id, deque()).append(now)
            self._daily[org_id] += 1
            return None

    def release(self, org_id: str) -> None:
        with self._lock:
            self._inflight[org_id] -= 1

    def rate_headers(self, org_id: str | None) -> dict:
        limit = self.config.daily_limit or UNLIMITED_DAILY
        with self._lock:
            used = self._daily[org_id] if org_id else 0
        now = self._today()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, limit - used)),
                "X-Rate-Limit-Reset": str(int((midnight - now).total_seconds()))}

    # ------------------------------------------------------------------ faults
    def draw_fault(self) -> tuple[str | None, bool]:
        """("drop" | "error" | None, slow?) for one API call, from the seeded fault RNG."""
        cfg = self.config
        if not (cfg.drop_rate or cfg.error_rate or cfg.slow_rate):
            return None, False
        with self._lock:
            u, s = self._fault_rng.random(), self._fault_rng.random()
        kind = "drop" if u < cfg.drop_rate else "error" if u < cfg.drop_rate + cfg.error_rate else None
        if kind:
            self._bump_extra("faults")
        return kind, s < cfg.slow_rate

    def error_response(self) -> tuple[int, bytes, str]:
        """(status, body, content type) of a server error: 500 JSON, 502 HTML, 503 JSON or HTML."""
        with self._lock:
            pick = self._fault_rng.randrange(4)
        if pick == 0:
            return 500, dumps({"code": 1000, "message": "Internal error"}), "application/json;charset=UTF-8"
        if pick == 1:
            return 502, HTML_502, "text/html"
        if pick == 2:
            return 503, dumps({"code": 1000, "message": "Service temporarily unavailable"}), \
                "application/json;charset=UTF-8"
        return 503, HTML_503, "text/html"

    # ------------------------------------------------------------------ data: public operations
    def create(self, org_id: str | None, resource: str, fields: dict | None = None,
               send_webhook: bool = True) -> dict:
        """Add a record (defaults generated, ``fields`` on top); returns it in detail form."""
        with self.store.lock:
            record, touched = self._create(org_id, resource, dict(fields or {}))
            out = deep_copy(record)
            pending = [(org_id, r, deep_copy(rec)) for r, rec in touched] if send_webhook else []
        self._send_all(pending)
        return out

    def update(self, org_id: str | None, resource: str, id_: str, changes: dict,
               send_webhook: bool = True) -> dict:
        """Apply ``changes`` to one record, recompute derived figures, bump its time; returns it."""
        with self.store.lock:
            record = self._update(org_id, resource, str(id_), dict(changes or {}))
            out = deep_copy(record)
        if send_webhook:
            self._send_all([(org_id, resource, out)])
        return out

    def delete(self, org_id: str | None, resource: str, id_: str) -> dict:
        """Remove a record (no webhook: Zoho has no documented delete trigger); returns it."""
        with self.store.lock:
            rows = self.store.rows(org_id, resource)
            record = rows.pop(str(id_), None)
            if record is None:
                raise NotFound(f"{RESOURCES[resource].thing} does not exist.")
            if resource == "inventoryadjustments":  # deleting an adjustment reverts its stock movement
                box = self.store.container(org_id, resource)
                self._stamp_items(org_id, box, box.apply_adjustment(record.get("line_items", []), -1))
            ctime, mtime = self.store.times(org_id, resource)
            ctime.pop(str(id_), None)
            mtime.pop(str(id_), None)
            self.deleted.append({"organization_id": org_id, "resource": resource, "id": str(id_),
                                 "time": time.time()})
            return record

    def mutate(self, org_id: str | None, resource: str, count: int, send_webhooks: bool = True) -> list[str]:
        """Make ``count`` realistic edits to random records (price, stock, phone, quantities…).

        Returns the ids changed, in order (an id may repeat when ``count`` exceeds the records).
        Inventory adjustments are not edited but recorded: each of the ``count`` is a new
        adjustment of one or two items (applied to their stock), and the new ids are returned.
        """
        ids: list[str] = []
        pending = []
        if resource == "inventoryadjustments":
            with self.store.lock:
                box = self.store.container(org_id, resource)
                for _ in range(int(count)):
                    lines = self._draw_adjustment_lines(box, self._mutate_rng)
                    if not lines:
                        break
                    record, _ = self._create(org_id, resource, {"line_items": lines})
                    ids.append(record["inventory_adjustment_id"])
                    if send_webhooks:
                        pending.append((org_id, resource, deep_copy(record)))
            self._send_all(pending)
            return ids
        with self.store.lock:
            rows = self.store.rows(org_id, resource)
            if not rows:
                return []
            keys = list(rows)
            for _ in range(int(count)):
                id_ = self._mutate_rng.choice(keys)
                changes = self._random_changes(org_id, resource, rows[id_])
                record = self._update(org_id, resource, id_, changes)
                ids.append(id_)
                if send_webhooks:
                    pending.append((org_id, resource, deep_copy(record)))
        self._send_all(pending)
        return ids

    # ------------------------------------------------------------------ data: internals
    def _now_for(self, mtimes: dict, id_: str | None) -> int:
        return max(int(time.time()), (mtimes.get(id_, 0) + 1) if id_ else 0)

    def _stamp(self, org_id, resource: str, id_: str, ts: int) -> None:
        box = self.store.container(org_id, resource)
        res = RESOURCES[resource]
        box.mtime[resource][id_] = ts
        box.rows[resource][id_][res.mtime_field] = box.fmt(ts)

    def _create(self, org_id, resource: str, fields: dict) -> tuple[dict, list]:
        if resource not in RESOURCES:
            raise UnknownResource(resource)
        box = self.store.container(org_id, resource)
        rng = box.rng
        ts = int(time.time())
        touched_others: list = []
        fields.pop("created_time", None)
        fields.pop("last_modified_time", None)
        if resource == "items":
            record = box.make_item(ts=ts)
        elif resource == "contacts":
            record = box.make_contact(fields.get("contact_type", "customer"), ts=ts)
        elif resource in ("invoices", "creditnotes", "salesorders"):
            customers = [c for c in box.rows.get("contacts", {}).values() if c["contact_type"] == "customer"]
            customer = box.rows["contacts"].get(str(fields.get("customer_id", ""))) or rng.choice(customers)
            lines = fields.pop("line_items", None)
            users = list(box.rows.get("users", {}).values())
            if resource == "invoices":
                record = box.make_invoice(customer, ts, ts, users, lines)
            elif resource == "creditnotes":
                record = box.make_creditnote(customer, ts, ts, [], lines)
            else:
                record = box.make_salesorder(customer, ts, ts, users, lines)
        elif resource == "bills":
            vendors = [c for c in box.rows.get("contacts", {}).values() if c["contact_type"] == "vendor"]
            vendor = box.rows["contacts"].get(str(fields.get("vendor_id", ""))) or rng.choice(vendors)
            record = box.make_bill(vendor, ts, ts, fields.pop("line_items", None))
        elif resource == "customerpayments":
            record, touched_others = self._create_payment(org_id, box, fields, ts)
            fields = {k: v for k, v in fields.items() if k not in ("invoices", "amount", "customer_id")}
        elif resource == "inventoryadjustments":
            fields.pop(RESOURCES[resource].id_field, None)
            record = self._create_adjustment(org_id, box, fields, ts)
            fields = {}
        elif resource == "users":
            record = box.make_user(len(box.rows.get("users", {})), ts=ts)
        elif resource == "pricebooks":
            record = box.make_pricebook(len(box.rows.get("pricebooks", {})), ts=ts)
        elif resource == "warehouses":
            record = box.make_warehouse(len(box.rows.get("warehouses", {})))
            self._stamp(org_id, resource, record["warehouse_id"], ts)
            box.ctime[resource][record["warehouse_id"]] = ts
            record["created_time"] = box.fmt(ts)
        elif resource == "crm_accounts":
            record = box.make_account(ts=ts)
        elif resource == "crm_contacts":
            record = box.make_contact(ts=ts)
        else:
            raise UnknownResource(resource)
        id_field = RESOURCES[resource].id_field
        fields.pop(id_field, None)
        if fields:
            self._apply(box, resource, record, fields)
        elif resource == "invoices":
            settle_invoice(record, self._today().date())
        return record, [(resource, record), *touched_others]

    def _create_payment(self, org_id, box, fields: dict, ts: int) -> tuple[dict, list]:
        """A payment applied to invoices; those invoices' payment_made/balance/status follow."""
        rows = box.rows
        applications = fields.get("invoices")
        if applications is None:
            open_ones = [i for i in rows.get("invoices", {}).values()
                         if i["status"] in ("sent", "overdue", "partially_paid") and i["balance"] > 0]
            if fields.get("customer_id"):
                open_ones = [i for i in open_ones if i["customer_id"] == str(fields["customer_id"])]
            applications = []
            if open_ones:
                inv = box.rng.choice(open_ones)
                applications = [{"invoice_id": inv["invoice_id"], "amount_applied": inv["balance"]}]
        applied, touched = [], []
        customer_id = str(fields.get("customer_id") or "")
        for app in applications:
            inv = rows.get("invoices", {}).get(str(app["invoice_id"]))
            if inv is None:
                raise NotFound("Invoice does not exist.")
            amount = money(app.get("amount_applied", inv["balance"]))
            customer_id = customer_id or inv["customer_id"]
            inv["payment_made"] += amount
            settle_invoice(inv, self._today().date())
            inv["last_payment_date"] = box.day(ts)
            self._stamp(org_id, "invoices", inv["invoice_id"], self._now_for(box.mtime["invoices"], inv["invoice_id"]))
            applied.append({"invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],
                            "date": inv["date"], "invoice_amount": inv["total"], "amount_applied": amount,
                            "balance_amount": inv["balance"]})
            touched.append(("invoices", inv))
        customers = [c for c in rows.get("contacts", {}).values() if c["contact_type"] == "customer"]
        customer = rows["contacts"].get(customer_id) or box.rng.choice(customers)
        total_applied = sum((a["amount_applied"] for a in applied), ZERO2)
        amount = money(fields.get("amount", total_applied))
        pid = box.ids.next()
        account = box.accounts["undeposited"]
        record = {
            "payment_id": pid, "payment_number": str(box.next_number("payment")), "date": box.day(ts),
            "payment_mode": fields.get("payment_mode", "banktransfer"), "amount": amount, "bcy_amount": amount,
            "unused_amount": max(ZERO2, amount - total_applied), "amount_refunded": ZERO2, "bank_charges": ZERO2,
            "status": "success", "account_id": account[0], "account_name": account[1], "description": "",
            "reference_number": "", "customer_id": customer["contact_id"], "customer_name": customer["contact_name"],
            "email": customer["email"], "currency_id": customer["currency_id"],
            "currency_code": customer["currency_code"], "currency_symbol": customer["currency_code"],
            "exchange_rate": Decimal("1.00"), "invoices": applied,
            "invoice_numbers": ", ".join(a["invoice_number"] for a in applied),
            "location_id": box.warehouse_list[0]["warehouse_id"] if box.warehouse_list else "", "custom_fields": [],
        }
        box._put("customerpayments", pid, record, ts, ts)
        return record, touched

    def _create_adjustment(self, org_id, box, fields: dict, ts: int) -> dict:
        """A quantity adjustment (lines from ``fields`` or drawn), applied to its items' stock.

        The items' per-warehouse rows and totals move by ``quantity_adjusted`` and their
        ``last_modified_time`` moves forward; only the adjustment itself is announced (Zoho
        runs item workflows for item edits, not for adjustments).
        """
        raw = fields.pop("line_items", None)
        if raw is None:
            raw = self._draw_adjustment_lines(box, box.rng)
        if not raw:
            raise InvalidReference("An inventory adjustment needs at least one line of an inventory-tracked item.")
        try:
            lines = box.adjustment_lines(raw)
        except UnknownReference as exc:
            raise NotFound(str(exc)) from None
        for key in ("created_time", "last_modified_time", "line_items", "total"):
            fields.pop(key, None)
        record = box.make_adjustment(ts, ts, lines, fields)
        self._stamp_items(org_id, box, box.apply_adjustment(lines))
        return record

    def _draw_adjustment_lines(self, box, rng: random.Random) -> list[dict]:
        """One or two random lines: a tracked, active item, one of its warehouses, a plausible quantity."""
        shape = box.shape
        prefix = level_prefix(shape)
        tracked = [r for r in box.rows.get("items", {}).values()
                   if r.get("item_type") == "inventory" and r.get("status") == "active" and r.get(shape)]
        if not tracked:
            return []
        lines = []
        for item in rng.sample(tracked, k=min(len(tracked), rng.choice([1, 1, 2]))):
            row = rng.choice(item[shape])
            spare = int(row[prefix + "stock_on_hand"] - row[prefix + "committed_stock"])
            quantity = -rng.randint(1, min(spare, 10)) if spare > 0 and rng.random() < 0.45 else rng.randint(1, 25)
            lines.append({"item_id": item["item_id"], prefix + "id": row[prefix + "id"],
                          "quantity_adjusted": quantity})
        return lines

    def _stamp_items(self, org_id, box, item_ids: list[str]) -> None:
        for item_id in item_ids:
            self._stamp(org_id, "items", item_id, self._now_for(box.mtime["items"], item_id))

    def _readjust(self, org_id, box, record: dict, changes: dict) -> None:
        """New lines for an adjustment: the old movement is reverted and the new one applied."""
        try:
            lines = box.adjustment_lines(changes["line_items"])
        except UnknownReference as exc:
            raise NotFound(str(exc)) from None
        touched = box.apply_adjustment(record.get("line_items", []), -1)
        touched += [i for i in box.apply_adjustment(lines) if i not in touched]
        changes["line_items"] = lines
        self._stamp_items(org_id, box, touched)

    def _update(self, org_id, resource: str, id_: str, changes: dict) -> dict:
        if resource not in RESOURCES:
            raise UnknownResource(resource)
        box = self.store.container(org_id, resource)
        record = box.rows.get(resource, {}).get(id_)
        if record is None:
            raise NotFound(f"{RESOURCES[resource].thing} does not exist.")
        if resource == "inventoryadjustments" and "line_items" in changes:
            self._readjust(org_id, box, record, changes)
        self._apply(box, resource, record, changes)
        self._stamp(org_id, resource, id_, self._now_for(box.mtime[resource], id_))
        return record

    def _apply(self, box, resource: str, record: dict, changes: dict) -> None:
        """Merge ``changes`` into ``record`` and recompute what depends on them."""
        res = RESOURCES[resource]
        for key in (res.id_field, res.mtime_field, res.ctime_field):
            changes.pop(key, None)
        record.update(changes)
        if resource == "items":
            if "name" in changes and "item_name" not in changes:
                record["item_name"] = record["name"]
            for key in ("rate", "purchase_rate"):
                if key in changes:
                    record[key] = money(record[key])
            shape = box.shape
            if shape in changes:
                prefix = "warehouse_" if shape == "warehouses" else "location_"
                for row in record[shape]:
                    set_level(row, prefix, row[prefix + "stock_on_hand"])
                recompute_item(record)
            elif "stock_on_hand" in changes and record.get(shape):
                prefix = "warehouse_" if shape == "warehouses" else "location_"
                rows = record[shape]
                other = sum((r[prefix + "stock_on_hand"] for r in rows[1:]), ZERO6)
                set_level(rows[0], prefix, stock(changes["stock_on_hand"]) - other)
                recompute_item(record)
        elif resource in DOCUMENTS:
            if "line_items" in changes:
                normalize_lines(record, box)
            else:
                recompute_totals(record)
            for key in ("payment_made", "credits_applied"):
                if key in record:
                    record[key] = money(record[key])
            if resource == "invoices":
                settle_invoice(record, self._today().date())
            elif resource == "bills":
                record["balance"] = ZERO2 if record["status"] == "void" else record["total"] - record["payment_made"]
                if record["status"] != "void" and record["status"] != "draft":
                    if record["balance"] <= 0:
                        record["status"] = "paid"
                    elif record["status"] == "paid":
                        record["status"] = "open"
            elif resource == "creditnotes":
                if record["status"] == "void":
                    record["balance"] = ZERO2
                else:
                    used = sum((a["amount_applied"] for a in record.get("invoices", [])), ZERO2)
                    used += sum((money(r["amount"]) for r in record.get("refunds", [])), ZERO2)
                    record["balance"] = record["total"] - used
                    record["status"] = "closed" if record["balance"] <= 0 else "open"
            elif resource == "salesorders":
                record["quantity"] = sum((line["quantity"] for line in record["line_items"]), ZERO2)
        elif resource == "inventoryadjustments":
            record["total"] = sum((line["item_total"] for line in record.get("line_items", [])), ZERO2)
        elif resource == "customerpayments" and "amount" in changes:
            record["amount"] = record["bcy_amount"] = money(record["amount"])
            applied = sum((a["amount_applied"] for a in record.get("invoices", [])), ZERO2)
            record["unused_amount"] = max(ZERO2, record["amount"] - applied)

    def _random_changes(self, org_id, resource: str, record: dict) -> dict:
        rng = self._mutate_rng
        if resource == "items":
            changes = {"rate": money(record["rate"] * Decimal(rng.randint(90, 115)) / 100)}
            box = self.store.container(org_id, resource)
            rows = record.get(box.shape)
            if rows:
                prefix = "warehouse_" if box.shape == "warehouses" else "location_"
                rows = deep_copy(rows)
                row = rng.choice(rows)
                row[prefix + "stock_on_hand"] = max(row[prefix + "committed_stock"],
                                                    row[prefix + "stock_on_hand"] + rng.randint(-5, 20))
                changes[box.shape] = rows
            return changes
        if resource == "contacts":
            return {"phone": f"+9661{rng.randint(10000000, 99999999)}",
                    "payment_terms": record["payment_terms"]}
        if resource in DOCUMENTS:
            open_states = {"invoices": ("draft", "sent", "overdue", "partially_paid"),
                           "salesorders": ("draft", "open"), "bills": ("open", "overdue"), "creditnotes": ()}
            if record["status"] in open_states[resource] and record["line_items"]:
                lines = deep_copy(record["line_items"])
                line = rng.choice(lines)
                line["quantity"] = line["quantity"] + 1
                return {"line_items": lines}
            return {"reference_number": f"REF-{rng.randint(10000, 99999)}"}
        if resource == "customerpayments":
            return {"reference_number": f"TRX{rng.randint(100000, 999999)}", "description": "Updated"}
        if resource == "users":
            return {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}"}
        if resource == "pricebooks":
            if record["pricebook_type"] == "per_item" and record["pricebook_items"]:
                items = deep_copy(record["pricebook_items"])
                entry = rng.choice(items)
                entry["pricebook_rate"] = money(entry["pricebook_rate"] * Decimal(rng.randint(95, 105)) / 100)
                return {"pricebook_items": items}
            return {"percentage": money(record["percentage"] + 1)}
        if resource == "warehouses":
            return {"phone": f"+9661{rng.randint(10000000, 99999999)}"}
        if resource in ("crm_accounts", "crm_contacts"):
            return {"Phone": f"+9661{rng.randint(10000000, 99999999)}"}
        return {}

    # ------------------------------------------------------------------ webhooks
    def _send_all(self, pending: list) -> None:
        for org_id, resource, record in pending:
            self.send_webhook(org_id, resource, record)

    def send_webhook(self, org_id: str, resource: str, record: dict) -> dict | None:
        """POST Zoho's default payload ``{"<detail key>": {...}}`` to the configured receiver.

        Synchronous, one attempt, never raises; the outcome is appended to ``webhook_log``.
        """
        cfg = self.config
        res = RESOURCES.get(resource)
        if not cfg.webhook_url or not cfg.webhooks_enabled or res is None or res.crm:
            return None
        slug = webhook_slug(res, record)
        if not slug:
            return None
        payload = record if cfg.webhook_payload == "detail" else list_row(res, record)
        body = dumps({res.detail_key: payload})
        url = f"{cfg.webhook_url.rstrip('/')}/{slug}?organization_id={org_id}"
        headers = {"Content-Type": "application/json;charset=UTF-8", "User-Agent": "Zoho-Webhook"}
        if cfg.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(cfg.webhook_secret, body, pairs=[("organization_id", str(org_id))])
        entry = {"time": time.time(), "organization_id": org_id, "resource": resource, "slug": slug,
                 "id": record.get(res.id_field), "url": url, "status": None, "ok": False, "error": None}
        started = time.monotonic()
        try:
            response = requests.post(url, data=body, headers=headers, timeout=cfg.webhook_timeout)
            entry["status"] = response.status_code
            entry["ok"] = 200 <= response.status_code < 300
            if not entry["ok"]:
                entry["error"] = f"HTTP {response.status_code}"
        except requests.RequestException as exc:  # logged, never raised into the API caller
            entry["error"] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - a broken receiver URL must not break the simulator
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self._bump_extra("webhooks_sent" if entry["ok"] else "webhooks_failed")
        self.webhook_log.append(entry)
        return entry
