"""The Zoho simulator, exercised over real HTTP the way TDS (and a user's TDS) talks to it."""

from __future__ import annotations

import io
import re
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
import requests
import simplejson
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tds.receive.signature import SIGNATURE_HEADER, verify_signature
from tds.simulator import FULL_COUNTS, Simulator, SimulatorConfig, SimulatorServer

ORG_A, ORG_B = "60001234567", "60007654321"
TOKEN_PARAMS = {"grant_type": "refresh_token", "client_id": "1000.SIMCLIENT", "client_secret": "simsecret",
                "refresh_token": "1000.simrefresh"}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")


def decimal_json(response: requests.Response):
    return simplejson.loads(response.content, use_decimal=True)


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(SimulatorConfig(scale="small")) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth(server):
    token = requests.post(f"{server.url}/oauth/v2/token", params=TOKEN_PARAMS).json()["access_token"]
    return {"Authorization": f"Zoho-oauthtoken {token}"}


@pytest.fixture
def fresh():
    """A server of its own, for tests that change limits, faults or data."""
    servers = []

    def start(**options):
        options.setdefault("scale", "small")
        srv = SimulatorServer(SimulatorConfig(**options)).start()
        servers.append(srv)
        token = srv.simulator.new_access_token()
        return srv, {"Authorization": f"Zoho-oauthtoken {token}"}

    yield start
    for srv in servers:
        srv.stop()


class Receiver:
    """A tiny webhook receiver that records every request."""

    def __init__(self, status: int = 200):
        self.requests: list[dict] = []
        self.status = status

        @Request.application
        def app(request):
            self.requests.append({"path": request.path, "query": list(parse_qsl(request.query_string.decode())),
                                  "headers": dict(request.headers), "body": request.get_data()})
            return Response("ok", status=self.status)

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/zoho/webhooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.stop()


# --------------------------------------------------------------------------- OAuth and authentication

def test_token_refresh_flow_errors_and_throttle(fresh):
    srv, _ = fresh(token_refresh_limit=3)
    url = f"{srv.url}/oauth/v2/token"
    ok = requests.post(url, data=TOKEN_PARAMS)  # form body
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {"access_token", "expires_in", "api_domain", "token_type"}
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer" and body["api_domain"] == srv.url
    assert "refresh_token" not in body

    bad_refresh = requests.post(url, params={**TOKEN_PARAMS, "refresh_token": "1000.revoked"})
    assert bad_refresh.status_code == 200 and bad_refresh.json() == {"error": "invalid_code"}
    bad_client = requests.post(url, params={**TOKEN_PARAMS, "client_secret": "wrong"})
    assert bad_client.status_code == 200 and bad_client.json() == {"error": "invalid_client"}

    assert requests.post(url, params=TOKEN_PARAMS).status_code == 200
    assert requests.post(url, params=TOKEN_PARAMS).status_code == 200
    throttled = requests.post(url, params=TOKEN_PARAMS)  # the 4th success-worthy request in 10 minutes
    assert throttled.status_code == 400
    assert throttled.json() == {
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied", "status": "failure"}
    counters = requests.get(f"{srv.url}/_sim/counters").json()
    assert counters["token_refreshes"] == 3
    assert counters["POST /oauth/v2/token"] == 6

    # the issued token works
    token = body["access_token"]
    r = requests.get(f"{srv.url}/books/v3/users", params={"organization_id": ORG_A},
                     headers={"Authorization": f"Zoho-oauthtoken {token}"})
    assert r.status_code == 200 and r.json()["code"] == 0


def test_access_token_expires(fresh):
    srv, _ = fresh(token_lifetime=1)
    token = requests.post(f"{srv.url}/oauth/v2/token", params=TOKEN_PARAMS).json()["access_token"]
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    params = {"organization_id": ORG_A}
    assert requests.get(f"{srv.url}/inventory/v1/users", params=params, headers=headers).status_code == 200
    time.sleep(1.2)
    expired = requests.get(f"{srv.url}/inventory/v1/users", params=params, headers=headers)
    assert expired.status_code == 401 and expired.json()["code"] == 57


def test_authentication_and_organization_errors(server, auth):
    url = f"{server.url}/books/v3/items"
    missing = requests.get(url, params={"organization_id": ORG_A})
    assert missing.status_code == 401 and missing.json()["code"] == 14
    assert missing.json()["message"].startswith("The request could not be authenticated")
    bearer = requests.get(url, params={"organization_id": ORG_A}, headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401 and bearer.json()["code"] == 14
    unknown = requests.get(url, params={"organization_id": ORG_A},
                           headers={"Authorization": "Zoho-oauthtoken 1000.nope"})
    assert unknown.status_code == 401
    assert unknown.json() == {"code": 57, "message": "You are not authorized to perform this operation"}

    no_org = requests.get(url, headers=auth)
    assert no_org.status_code == 400
    assert no_org.json() == {"code": 2, "message": "Invalid value passed for organization_id"}
    bad_org = requests.get(url, headers=auth, params={"organization_id": "123"})
    assert bad_org.status_code == 400 and bad_org.json()["code"] == 2

    nowhere = requests.get(f"{server.url}/books/v3/gadgets", headers=auth, params={"organization_id": ORG_A})
    assert nowhere.status_code == 404 and nowhere.json() == {"code": 5, "message": "Invalid URL Passed"}
    no_invoice = requests.get(f"{server.url}/books/v3/invoices/1234567890123456789", headers=auth,
                              params={"organization_id": ORG_A})
    assert no_invoice.status_code == 404
    assert no_invoice.json() == {"code": 1002, "message": "Invoice does not exist."}
    for response in (missing, no_org, nowhere, no_invoice):
        assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(response.headers)


# --------------------------------------------------------------------------- lists

def test_pagination_walks_every_record_once(server, auth):
    sim = server.simulator
    seen, page = [], 1
    while True:
        r = requests.get(f"{server.url}/inventory/v1/invoices", headers=auth,
                         params={"organization_id": ORG_A, "page": page, "per_page": 40})
        body = r.json()
        assert body["code"] == 0 and body["message"] == "success"
        ctx = body["page_context"]
        assert ctx["page"] == page and ctx["per_page"] == 40 and ctx["report_name"] == "Invoices"
        assert {"applied_filter", "sort_column", "sort_order"} <= set(ctx)
        assert len(body["invoices"]) <= 40
        seen += [row["invoice_id"] for row in body["invoices"]]
        if not ctx["has_more_page"]:
            break
        assert len(body["invoices"]) == 40
        page += 1
    assert page > 1
    assert len(seen) == len(set(seen)) == sim.store.count(ORG_A, "invoices")
    # list rows never carry what only the detail has
    r = requests.get(f"{server.url}/books/v3/invoices", headers=auth, params={"organization_id": ORG_A})
    row = r.json()["invoices"][0]
    assert not {"line_items", "sub_total", "tax_total"} & set(row)
    assert TIME_RE.match(row["last_modified_time"]) and TIME_RE.match(row["created_time"])
    assert isinstance(row["invoice_id"], str) and row["invoice_id"].isdigit() and len(row["invoice_id"]) == 19


def test_per_page_is_capped_at_200(fresh):
    srv, auth = fresh(counts={"items": 450})
    r = requests.get(f"{srv.url}/inventory/v1/items", headers=auth,
                     params={"organization_id": ORG_A, "per_page": 1000, "filter_by": "Status.All"})
    body = r.json()
    assert len(body["items"]) == 200 and body["page_context"]["per_page"] == 200
    assert body["page_context"]["has_more_page"] is True
    last = requests.get(f"{srv.url}/inventory/v1/items", headers=auth,
                        params={"organization_id": ORG_A, "page": 3}).json()
    assert len(last["items"]) == 50 and last["page_context"]["has_more_page"] is False
    bad = requests.get(f"{srv.url}/inventory/v1/items", headers=auth, params={"organization_id": ORG_A, "per_page": 0})
    assert bad.status_code == 400 and bad.json()["code"] == 2


def test_status_filter_and_sorting(server, auth):
    store = server.simulator.store
    url = f"{server.url}/books/v3/items"
    base = {"organization_id": ORG_A, "per_page": 200}
    everything = requests.get(url, headers=auth, params={**base, "filter_by": "Status.All"}).json()["items"]
    inactive = requests.get(url, headers=auth, params={**base, "filter_by": "Status.Inactive"}).json()["items"]
    active = requests.get(url, headers=auth, params={**base, "filter_by": "Status.Active"}).json()["items"]
    assert len(everything) == store.count(ORG_A, "items") == len(active) + len(inactive)
    assert inactive and all(i["status"] == "inactive" for i in inactive)
    names = [i["name"].lower() for i in everything]
    assert names == sorted(names)
    by_time = requests.get(url, headers=auth, params={**base, "sort_column": "last_modified_time",
                                                      "sort_order": "D"}).json()
    times = [i["last_modified_time"] for i in by_time["items"]]
    assert times == sorted(times, reverse=True)
    assert by_time["page_context"]["sort_column"] == "last_modified_time"
    vendors = requests.get(f"{server.url}/books/v3/contacts", headers=auth,
                           params={**base, "contact_type": "vendor"}).json()["contacts"]
    assert vendors and all(v["contact_type"] == "vendor" for v in vendors)


def test_last_modified_time_filter_accepts_zoho_formats(server, auth):
    store = server.simulator.store
    records = store.records(ORG_A, "invoices")
    times = sorted(r["last_modified_time"] for r in records)
    cut = times[len(times) // 2]
    expected = {r["invoice_id"] for r in records if r["last_modified_time"] > cut}  # modified after
    assert any(r["last_modified_time"] == cut for r in records)
    moment = datetime.strptime(cut, "%Y-%m-%dT%H:%M:%S%z")
    variants = [cut, moment.astimezone(timezone(-timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S%z"),
                moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
    for value in variants:
        got = set()
        page = 1
        while True:
            body = requests.get(f"{server.url}/books/v3/invoices", headers=auth,
                                params={"organization_id": ORG_A, "last_modified_time": value,
                                        "page": page}).json()
            got |= {r["invoice_id"] for r in body["invoices"]}
            if not body["page_context"]["has_more_page"]:
                break
            page += 1
        assert got == expected, value
    # an un-encoded "+" arrives as a space and still means +0300
    raw = requests.get(f"{server.url}/books/v3/invoices?organization_id={ORG_A}&last_modified_time={cut}",
                       headers=auth).json()
    assert {r["invoice_id"] for r in raw["invoices"]} <= expected and raw["invoices"]


# --------------------------------------------------------------------------- items and stock

def test_item_detail_stock_shape_per_organization(server, auth):
    for org, shape, prefix in ((ORG_A, "warehouses", "warehouse_"), (ORG_B, "locations", "location_")):
        listing = requests.get(f"{server.url}/inventory/v1/items", headers=auth,
                               params={"organization_id": org, "per_page": 200}).json()["items"]
        assert all("warehouses" not in i and "locations" not in i for i in listing)
        tracked = [i for i in listing if i["item_type"] == "inventory"]
        services = [i for i in listing if i["product_type"] == "service"]
        assert tracked and services
        assert all("stock_on_hand" not in s and "available_stock" not in s for s in services)
        checked = 0
        for row in tracked[:8]:
            r = requests.get(f"{server.url}/inventory/v1/items/{row['item_id']}", headers=auth,
                             params={"organization_id": org})
            item = decimal_json(r)["item"]
            other = "locations" if shape == "warehouses" else "warehouses"
            assert shape in item and other not in item
            levels = item[shape]
            assert len(levels) == 2
            total = sum(level[prefix + "stock_on_hand"] for level in levels)
            assert total == item["stock_on_hand"] == Decimal(str(row["stock_on_hand"]))
            assert sum(level[prefix + "available_stock"] for level in levels) == item["available_stock"]
            checked += 1
        assert checked
    # numbers keep their digits on the wire
    text = requests.get(f"{server.url}/inventory/v1/items", headers=auth,
                        params={"organization_id": ORG_A}).text
    assert re.search(r'"rate":\d+\.\d{2}[,}]', text)
    assert re.search(r'"stock_on_hand":\d+\.\d{6}[,}]', text)


def test_itemdetails_bulk_and_images(server, auth):
    store = server.simulator.store
    ids = store.ids(ORG_B, "items")[:100]
    r = requests.get(f"{server.url}/inventory/v1/itemdetails", headers=auth,
                     params={"organization_id": ORG_B, "item_ids": ",".join(ids)})
    items = r.json()["items"]
    assert [i["item_id"] for i in items] == ids
    assert all("locations" in i for i in items if i["item_type"] == "inventory")
    too_many = requests.get(f"{server.url}/inventory/v1/itemdetails", headers=auth,
                            params={"organization_id": ORG_B, "item_ids": ",".join(store.ids(ORG_B, "items")[:101])})
    assert too_many.status_code == 400 and too_many.json()["code"] == 2

    records = store.records(ORG_A, "items")
    without = next(i for i in records if not i["image_document_id"])
    assert without["image_name"] == "" and without["image_type"] == ""
    for kind, content_type, fmt in (("jpg", "image/jpeg", "JPEG"), ("png", "image/png", "PNG")):
        item = next(i for i in records if i["image_type"] == kind)
        assert item["image_name"].endswith(f".{kind}") and item["image_document_id"]
        img = requests.get(f"{server.url}/inventory/v1/items/{item['item_id']}/image", headers=auth,
                           params={"organization_id": ORG_A})
        assert img.status_code == 200 and img.headers["Content-Type"] == content_type
        picture = Image.open(io.BytesIO(img.content))
        picture.load()  # decodes every pixel
        assert picture.format == fmt
    none = requests.get(f"{server.url}/inventory/v1/items/{without['item_id']}/image", headers=auth,
                        params={"organization_id": ORG_A})
    assert none.status_code == 404 and none.json()["code"] == 1002


def test_item_images_differ_per_item_and_change_and_go_through_the_control_api(server, auth):
    def image(item_id):
        return requests.get(f"{server.url}/inventory/v1/items/{item_id}/image", headers=auth,
                            params={"organization_id": ORG_A})

    records = server.simulator.store.records(ORG_A, "items")
    imaged = [i for i in records if i["image_document_id"]]
    assert 0.6 < len(imaged) / len(records) < 0.9  # a share of items has no image
    first, second = imaged[0]["item_id"], imaged[1]["item_id"]
    before = image(first).content
    assert before != image(second).content

    new = requests.post(f"{server.url}/_sim/items/{first}/image", json={"type": "jpg"},
                        params={"organization_id": ORG_A, "send_webhook": "false"}).json()["record"]
    assert new["image_document_id"] != imaged[0]["image_document_id"] and new["image_type"] == "jpg"
    assert new["last_modified_time"] > imaged[0]["last_modified_time"]
    after = image(first)
    assert after.headers["Content-Type"] == "image/jpeg" and after.content != before

    same_id = requests.post(f"{server.url}/_sim/items/{first}/image", json={"keep_document_id": True},
                            params={"organization_id": ORG_A, "send_webhook": "false"}).json()["record"]
    assert same_id["image_document_id"] == new["image_document_id"]
    assert image(first).content not in (before, after.content)

    requests.post(f"{server.url}/_sim/items/{first}/image", json={"broken": True},
                  params={"organization_id": ORG_A, "send_webhook": "false"})
    with pytest.raises(OSError):  # a truncated image does not decode
        Image.open(io.BytesIO(image(first).content)).load()

    gone = requests.delete(f"{server.url}/_sim/items/{first}/image",
                           params={"organization_id": ORG_A, "send_webhook": "false"}).json()["record"]
    assert gone["image_document_id"] == "" and gone["has_attachment"] is False
    assert image(first).status_code == 404


# --------------------------------------------------------------------------- documents

def test_invoice_totals_and_balances_are_consistent(server, auth):
    store = server.simulator.store
    items = {i["item_id"] for i in store.records(ORG_A, "items")}
    customers = {c["contact_id"] for c in store.records(ORG_A, "contacts") if c["contact_type"] == "customer"}
    invoices = store.records(ORG_A, "invoices")
    statuses = {i["status"] for i in invoices}
    assert {"paid", "draft", "void", "partially_paid"} <= statuses
    free_text = 0
    for inv in invoices:
        assert inv["customer_id"] in customers
        for line in inv["line_items"]:
            assert line["item_total"] == (line["rate"] * line["quantity"] - line["discount"]).quantize(Decimal("0.01"))
            assert line["item_id"] == "" or line["item_id"] in items
            free_text += line["item_id"] == ""
        assert inv["sub_total"] == sum(line["item_total"] for line in inv["line_items"])
        assert inv["total"] == inv["sub_total"] + inv["tax_total"] - inv["discount"]
        if inv["status"] != "void":
            assert inv["balance"] == inv["total"] - inv["payment_made"] - inv["credits_applied"]
        if inv["status"] == "paid":
            assert inv["balance"] == 0
    assert free_text > 0
    # the API serves the same figures
    some = invoices[7]
    detail = decimal_json(requests.get(f"{server.url}/books/v3/invoices/{some['invoice_id']}", headers=auth,
                                       params={"organization_id": ORG_A}))["invoice"]
    assert detail["total"] == some["total"] and len(detail["line_items"]) == len(some["line_items"])
    assert str(detail["total"]) == str(some["total"])  # two decimals kept


def test_payments_and_credit_notes_match_invoices(server):
    store = server.simulator.store
    invoices = {i["invoice_id"]: i for i in store.records(ORG_A, "invoices")}
    paid, credited = defaultdict(Decimal), defaultdict(Decimal)
    for pay in store.records(ORG_A, "customerpayments"):
        for app in pay["invoices"]:
            inv = invoices[app["invoice_id"]]
            assert inv["customer_id"] == pay["customer_id"]
            assert app["invoice_number"] == inv["invoice_number"]
            paid[app["invoice_id"]] += app["amount_applied"]
        assert pay["amount"] == sum((a["amount_applied"] for a in pay["invoices"]), Decimal(0)) + pay["unused_amount"]
    for cn in store.records(ORG_A, "creditnotes"):
        for app in cn["invoices"]:
            credited[app["invoice_id"]] += app["amount_applied"]
        if cn["status"] != "void":
            used = sum((a["amount_applied"] for a in cn["invoices"]), Decimal(0))
            used += sum((r["amount"] for r in cn["refunds"]), Decimal(0))
            assert cn["balance"] == cn["total"] - used
    assert paid
    for inv_id, inv in invoices.items():
        assert inv["payment_made"] == paid.get(inv_id, Decimal("0.00"))
        assert inv["credits_applied"] == credited.get(inv_id, Decimal("0.00"))
    vendors = {c["contact_id"] for c in store.records(ORG_A, "contacts") if c["contact_type"] == "vendor"}
    assert all(b["vendor_id"] in vendors for b in store.records(ORG_A, "bills"))
    vendor_records = [c for c in store.records(ORG_A, "contacts") if c["contact_type"] == "vendor"]
    arabic = [c for c in vendor_records
              if any(f["api_name"] == "cf_vendor_name_ar" and re.search("[\u0600-\u06ff]", f["value"])
                     for f in c["custom_fields"])]
    assert len(arabic) >= len(vendor_records) // 2
    books = store.records(ORG_A, "pricebooks")
    assert {"per_item", "fixed_percentage"} <= {b["pricebook_type"] for b in books}


def test_update_recomputes_and_bumps_time_strictly(fresh):
    srv, _ = fresh()
    sim = srv.simulator
    inv = next(i for i in sim.store.records(ORG_A, "invoices") if i["status"] in ("sent", "overdue"))
    lines = inv["line_items"]
    lines[0]["quantity"] = lines[0]["quantity"] + 3
    updated = sim.update(ORG_A, "invoices", inv["invoice_id"], {"line_items": lines}, send_webhook=False)
    assert updated["sub_total"] == sum(line["item_total"] for line in updated["line_items"])
    assert updated["total"] == updated["sub_total"] + updated["tax_total"] - updated["discount"]
    assert updated["total"] > inv["total"]
    assert updated["balance"] == updated["total"] - updated["payment_made"] - updated["credits_applied"]

    item = next(i for i in sim.store.records(ORG_A, "items") if i["item_type"] == "inventory")
    before = [item["last_modified_time"]]
    stamps = []
    for n in range(200):
        stamps.append(sim.update(ORG_A, "items", item["item_id"], {"rate": f"{100 + n}.5"},
                                 send_webhook=False)["last_modified_time"])
    assert len(set(stamps)) == 200 and stamps == sorted(stamps) and stamps[0] > before[0]
    assert all(TIME_RE.match(s) and s.endswith("+0300") for s in stamps)
    assert sim.store.get(ORG_A, "items", item["item_id"])["rate"] == Decimal("299.50")

    changed = sim.update(ORG_A, "items", item["item_id"], {"stock_on_hand": 500}, send_webhook=False)
    assert changed["stock_on_hand"] == Decimal("500.000000")
    assert sum(w["warehouse_stock_on_hand"] for w in changed["warehouses"]) == Decimal(500)


# --------------------------------------------------------------------------- limits and faults

def test_per_minute_and_daily_limits(fresh):
    srv, auth = fresh(rate_limit_per_minute=3)
    url = f"{srv.url}/books/v3/users"
    statuses = [requests.get(url, headers=auth, params={"organization_id": ORG_A}) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    assert statuses[3].status_code == 429 and statuses[3].json()["code"] == 44
    # another organization has its own budget
    assert requests.get(url, headers=auth, params={"organization_id": ORG_B}).status_code == 200

    srv2, auth2 = fresh(daily_limit=2)
    url2 = f"{srv2.url}/inventory/v1/users"
    first = requests.get(url2, headers=auth2, params={"organization_id": ORG_A})
    second = requests.get(url2, headers=auth2, params={"organization_id": ORG_A})
    third = requests.get(url2, headers=auth2, params={"organization_id": ORG_A})
    assert first.headers["X-Rate-Limit-Limit"] == "2"
    assert first.headers["X-Rate-Limit-Remaining"] == "1" and second.headers["X-Rate-Limit-Remaining"] == "0"
    assert 0 < int(first.headers["X-Rate-Limit-Reset"]) <= 86400
    assert third.status_code == 429
    assert third.json() == {"code": 45, "message": "The API call for this organization has exceeded the maximum "
                                                   "call rate limit of 2."}


def test_concurrency_limit(fresh):
    srv, auth = fresh(concurrency_limit=1, slow_rate=1.0, slow_seconds=0.8)
    results = []

    def call():
        results.append(requests.get(f"{srv.url}/books/v3/users", headers=auth, params={"organization_id": ORG_A}))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes[0] == 200 and 429 in codes
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["code"] == 1070


def test_faults_errors_and_dropped_connections(fresh):
    srv, auth = fresh(error_rate=1.0)
    url = f"{srv.url}/books/v3/items"
    seen = set()
    throttled = []
    for _ in range(30):
        r = requests.get(url, headers=auth, params={"organization_id": ORG_A})
        assert r.status_code in (429, 500, 502, 503)
        seen.add((r.status_code, r.headers["Content-Type"].split(";")[0]))
        if r.status_code == 429:
            throttled.append((r.json()["code"], r.headers.get("Retry-After")))
    assert (503, "text/html") in seen
    assert (44, "1") in throttled and (1070, None) in throttled  # 429 with and without Retry-After
    assert requests.get(f"{srv.url}/_sim/health").status_code == 200  # control API is never faulted

    changed = requests.post(f"{srv.url}/_sim/config", json={"error_rate": 0.0, "drop_rate": 1.0})
    assert changed.status_code == 200 and changed.json()["drop_rate"] == 1.0
    with pytest.raises(requests.ConnectionError):
        requests.get(url, headers=auth, params={"organization_id": ORG_A}, timeout=5)
    srv.simulator.configure(drop_rate=0.0)
    assert requests.get(url, headers=auth, params={"organization_id": ORG_A}).status_code == 200


def test_error_kinds_5xx_answers_an_outage_never_a_rate_limit(fresh):
    srv, auth = fresh(error_rate=1.0, error_kinds="5xx")
    url = f"{srv.url}/books/v3/items"
    statuses = {requests.get(url, headers=auth, params={"organization_id": ORG_A}).status_code for _ in range(40)}
    assert statuses == {500, 502, 503}
    refused = requests.post(f"{srv.url}/_sim/config", json={"error_kinds": "4xx"})
    assert refused.status_code == 400 and "error_kinds" in refused.text
    back = requests.post(f"{srv.url}/_sim/config", json={"error_kinds": "mixed"})
    assert back.status_code == 200 and back.json()["error_kinds"] == "mixed"


# --------------------------------------------------------------------------- control API and webhooks

def test_mutate_sends_signed_webhooks(fresh, receiver):
    secret = "SimWebhookSecret123"
    srv, auth = fresh(webhook_url=receiver.url, webhook_secret=secret)
    sim = srv.simulator
    before = {i["item_id"]: i["last_modified_time"] for i in sim.store.records(ORG_A, "items")}
    r = requests.post(f"{srv.url}/_sim/mutate", json={"organization_id": ORG_A, "resource": "items", "count": 5})
    ids = r.json()["ids"]
    assert len(ids) == 5
    assert len(receiver.requests) == 5
    for sent, item_id in zip(receiver.requests, ids):
        assert sent["path"] == "/api/zoho/webhooks/items"
        assert sent["query"] == [("organization_id", ORG_A)]
        assert sent["headers"]["Content-Type"].startswith("application/json")
        assert verify_signature(secret, sent["headers"][SIGNATURE_HEADER], sent["body"], sent["query"])
        payload = simplejson.loads(sent["body"], use_decimal=True)
        assert list(payload) == ["item"] and payload["item"]["item_id"] == item_id
        if payload["item"]["item_type"] == "inventory":
            assert "warehouses" in payload["item"]
    for item_id in set(ids):
        after = sim.store.get(ORG_A, "items", item_id)["last_modified_time"]
        assert after > before[item_id]
    assert all(entry["ok"] and entry["status"] == 200 for entry in sim.webhook_log)

    # the API sees the change
    detail = requests.get(f"{srv.url}/inventory/v1/items/{ids[-1]}", headers=auth,
                          params={"organization_id": ORG_A}).json()["item"]
    assert detail["last_modified_time"] == sim.store.get(ORG_A, "items", ids[-1])["last_modified_time"]

    # contacts go to customers/vendors; list payloads have no line items
    sim.configure(webhook_payload="list")
    vendor = next(c for c in sim.store.records(ORG_A, "contacts") if c["contact_type"] == "vendor")
    sim.update(ORG_A, "contacts", vendor["contact_id"], {"phone": "+966100000000"})
    assert receiver.requests[-1]["path"] == "/api/zoho/webhooks/vendors"
    assert "contact_persons" not in simplejson.loads(receiver.requests[-1]["body"])["contact"]
    sim.configure(webhook_payload="detail")
    sim.mutate(ORG_A, "invoices", 1)
    invoice_hook = simplejson.loads(receiver.requests[-1]["body"])
    assert receiver.requests[-1]["path"] == "/api/zoho/webhooks/invoices" and "line_items" in invoice_hook["invoice"]


def test_failed_webhook_is_logged_not_raised(fresh):
    srv, _ = fresh(webhook_url="http://127.0.0.1:9/hooks", webhook_timeout=1.0)
    ids = srv.simulator.mutate(ORG_B, "customerpayments", 1)
    assert len(ids) == 1
    entry = srv.simulator.webhook_log[-1]
    assert entry["ok"] is False and entry["error"] and entry["url"].startswith("http://127.0.0.1:9/hooks/payments")


def test_control_api_records_crud(fresh, receiver):
    srv, auth = fresh(webhook_url=receiver.url)
    base = f"{srv.url}/_sim/records"
    sim = srv.simulator
    customer = next(c for c in sim.store.records(ORG_B, "contacts") if c["contact_type"] == "customer")
    item = next(i for i in sim.store.records(ORG_B, "items") if i["status"] == "active")
    created = requests.post(f"{base}/invoices", params={"organization_id": ORG_B},
                            json={"customer_id": customer["contact_id"],
                                  "line_items": [{"item_id": item["item_id"], "quantity": 2}]})
    assert created.status_code == 201
    inv = simplejson.loads(created.content, use_decimal=True)["record"]
    assert inv["customer_id"] == customer["contact_id"]
    assert inv["line_items"][0]["item_total"] == item["rate"] * 2
    assert receiver.requests[-1]["path"] == "/api/zoho/webhooks/invoices"
    inv_id = inv["invoice_id"]

    patched = requests.patch(f"{base}/invoices/{inv_id}", params={"organization_id": ORG_B, "send_webhook": "false"},
                             json={"reference_number": "PO-1"})
    assert patched.json()["record"]["reference_number"] == "PO-1"
    assert patched.json()["record"]["last_modified_time"] > inv["last_modified_time"]
    assert len([r for r in receiver.requests if r["path"].endswith("/invoices")]) == 1

    paid = requests.post(f"{base}/customerpayments", params={"organization_id": ORG_B},
                         json={"invoices": [{"invoice_id": inv_id, "amount_applied": str(inv["total"])}]})
    assert paid.status_code == 201
    after = sim.store.get(ORG_B, "invoices", inv_id)
    assert after["status"] == "paid" and after["balance"] == 0 and after["payment_made"] == inv["total"]

    api = requests.get(f"{srv.url}/books/v3/invoices/{inv_id}", headers=auth, params={"organization_id": ORG_B})
    assert api.json()["invoice"]["status"] == "paid"
    assert requests.get(f"{base}/invoices/{inv_id}", params={"organization_id": ORG_B}).status_code == 200
    assert requests.delete(f"{base}/invoices/{inv_id}", params={"organization_id": ORG_B}).status_code == 200
    gone = requests.get(f"{srv.url}/books/v3/invoices/{inv_id}", headers=auth, params={"organization_id": ORG_B})
    assert gone.status_code == 404 and gone.json()["code"] == 1002

    cfg = requests.post(f"{srv.url}/_sim/config", json={"daily_limit": 7}).json()
    assert cfg["daily_limit"] == 7
    assert requests.post(f"{srv.url}/_sim/config", json={"seed": 1}).status_code == 400
    requests.post(f"{srv.url}/_sim/counters/reset")
    requests.get(f"{srv.url}/inventory/v1/items", headers=auth, params={"organization_id": ORG_B})
    counters = requests.get(f"{srv.url}/_sim/counters").json()
    assert counters["GET /inventory/v1/items"] == 1 and counters["api_calls_total"] == 1


# --------------------------------------------------------------------------- CRM

def test_crm_accounts_and_contacts(server, auth):
    r = requests.get(f"{server.url}/crm/v2/Accounts", headers=auth, params={"per_page": 10})
    body = r.json()
    assert set(body["info"]) >= {"per_page", "count", "page", "more_records"}
    assert body["info"]["count"] == 10 and body["info"]["more_records"] is True
    account = body["data"][0]
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$", account["Modified_Time"])
    assert {"id", "Account_Name", "Owner"} <= set(account) and {"name", "id", "email"} <= set(account["Owner"])
    one = requests.get(f"{server.url}/crm/v2/Accounts/{account['id']}", headers=auth).json()
    assert one["data"][0]["id"] == account["id"]
    contacts = requests.get(f"{server.url}/crm/v2/Contacts", headers=auth).json()["data"]
    linked = [c for c in contacts if c["Account_Name"]]
    assert linked and {"name", "id"} == set(linked[0]["Account_Name"])
    total = server.simulator.store.count(None, "crm_contacts")
    assert len(contacts) == min(200, total)
    beyond = requests.get(f"{server.url}/crm/v2/Contacts", headers=auth, params={"page": 99})
    assert beyond.status_code == 204
    assert requests.get(f"{server.url}/crm/v2/Accounts").status_code == 401


# --------------------------------------------------------------------------- determinism and sizes

def test_same_seed_same_data_and_different_seed_differs():
    def snapshot(seed):
        sim = Simulator(SimulatorConfig(scale="small", seed=seed))
        return (sim.store.records(ORG_A, "invoices"), sim.store.records(ORG_B, "items"),
                sim.store.records(None, "crm_contacts"))

    first, again, other = snapshot(7), snapshot(7), snapshot(8)
    assert first == again
    assert first[0] != other[0]


@pytest.mark.slow
def test_full_size_counts():
    sim = Simulator(SimulatorConfig(scale="full"))
    started = time.monotonic()
    counts = {res: sim.store.count(ORG_A, res) for res in
              ("items", "invoices", "customerpayments", "creditnotes", "bills", "salesorders", "users",
               "pricebooks", "warehouses", "inventoryadjustments")}
    assert time.monotonic() - started < 10
    contacts = sim.store.records(ORG_A, "contacts")
    assert counts == {res: FULL_COUNTS[res] for res in counts}
    assert sum(c["contact_type"] == "customer" for c in contacts) == FULL_COUNTS["customers"]
    assert sum(c["contact_type"] == "vendor" for c in contacts) == FULL_COUNTS["vendors"]
    assert sim.store.count(None, "crm_accounts") == 300 and sim.store.count(None, "crm_contacts") == 600
    small = SimulatorConfig(scale="small").resolved_counts()
    assert small["items"] == round(2218 / 20) and small["warehouses"] == 2 and small["pricebooks"] == 3


# --------------------------------------------------------------------------- inventory adjustments

def _levels(item: dict, shape: str) -> dict:
    prefix = "warehouse_" if shape == "warehouses" else "location_"
    return {row[prefix + "id"]: row for row in item[shape]}


def _stock_holds_together(item: dict, shape: str) -> None:
    prefix = "warehouse_" if shape == "warehouses" else "location_"
    rows = item[shape]
    assert sum(r[prefix + "stock_on_hand"] for r in rows) == item["stock_on_hand"]
    assert sum(r[prefix + "available_stock"] for r in rows) == item["available_stock"]
    assert sum(r[prefix + "committed_stock"] for r in rows) == item["committed_stock"]
    assert item["available_stock"] == item["stock_on_hand"] - item["committed_stock"]


def test_inventory_adjustments_list_and_detail(server, auth):
    store = server.simulator.store
    assert FULL_COUNTS["inventoryadjustments"] == 200
    for org, shape, key in ((ORG_A, "warehouses", "warehouse"), (ORG_B, "locations", "location")):
        url = f"{server.url}/inventory/v1/inventoryadjustments"
        body = decimal_json(requests.get(url, headers=auth, params={"organization_id": org, "per_page": 4}))
        assert body["code"] == 0 and body["message"] == "success"
        ctx = body["page_context"]
        assert ctx["report_name"] == "Inventory Adjustments" and ctx["per_page"] == 4 and ctx["has_more_page"]
        assert ctx["sort_column"] == "created_time" and ctx["sort_order"] == "D"
        rows = body["inventory_adjustments"]
        assert len(rows) == 4
        for row in rows:
            assert "line_items" not in row
            assert {"inventory_adjustment_id", "date", "reason", "description", "reference_number",
                    "adjustment_type", "status", "total", "created_time", "last_modified_time"} <= set(row)
            assert row["adjustment_type"] == "quantity" and row["status"] == "adjusted"
            assert TIME_RE.match(row["created_time"]) and TIME_RE.match(row["last_modified_time"])
            assert row["inventory_adjustment_id"].isdigit() and len(row["inventory_adjustment_id"]) == 19
        times = [r["created_time"] for r in rows]
        assert times == sorted(times, reverse=True)

        everything = store.records(org, "inventoryadjustments")
        assert len(everything) == store.counts["inventoryadjustments"] == round(200 / 20)
        items = {i["item_id"]: i for i in store.records(org, "items")}
        warehouses = {w["warehouse_id"]: w for w in store.records(org, "warehouses")}
        wanted = everything[0]
        r = requests.get(f"{url}/{wanted['inventory_adjustment_id']}", headers=auth, params={"organization_id": org})
        detail = decimal_json(r)["inventory_adjustment"]
        assert detail == wanted
        lines = detail["line_items"]
        assert lines
        for line in lines:
            assert {"line_item_id", "item_id", "name", "quantity_adjusted", key + "_id", key + "_name",
                    "unit", "item_order", "item_total"} <= set(line)
            other = "location_id" if key == "warehouse" else "warehouse_id"
            assert other not in line
            item = items[line["item_id"]]
            assert item["item_type"] == "inventory" and line["name"] == item["name"]
            assert warehouses[line[key + "_id"]]["warehouse_name"] == line[key + "_name"]
        assert detail["total"] == sum(line["item_total"] for line in lines)
        # quantities keep their six digits on the wire
        text = r.text
        assert re.search(r'"quantity_adjusted":-?\d+\.\d{6}[,}]', text)

        # last_modified_time filter and the adjustment-type filter
        cut = sorted(a["last_modified_time"] for a in everything)[len(everything) // 2]
        since = decimal_json(requests.get(url, headers=auth, params={"organization_id": org,
                                                                    "last_modified_time": cut}))
        assert {a["inventory_adjustment_id"] for a in since["inventory_adjustments"]} == \
            {a["inventory_adjustment_id"] for a in everything if a["last_modified_time"] > cut}  # modified after
        typed = requests.get(url, headers=auth, params={"organization_id": org,
                                                        "filter_by": "AdjustmentType.Quantity"}).json()
        assert len(typed["inventory_adjustments"]) == len(everything)
        valued = requests.get(url, headers=auth, params={"organization_id": org, "filter_by": "AdjustmentType.Value"})
        assert valued.json()["inventory_adjustments"] == []

    missing = requests.get(f"{server.url}/inventory/v1/inventoryadjustments/1234567890123456789", headers=auth,
                           params={"organization_id": ORG_A})
    assert missing.status_code == 404
    assert missing.json() == {"code": 1002, "message": "Inventory Adjustment does not exist."}
    books = requests.get(f"{server.url}/books/v3/inventoryadjustments", headers=auth, params={"organization_id": ORG_A})
    assert books.status_code == 404 and books.json()["code"] == 5


def test_generated_item_stock_already_includes_the_adjustments(server):
    store = server.simulator.store
    for org, shape in ((ORG_A, "warehouses"), (ORG_B, "locations")):
        prefix = "warehouse_" if shape == "warehouses" else "location_"
        items = {i["item_id"]: i for i in store.records(org, "items")}
        moved = defaultdict(Decimal)
        for adj in store.records(org, "inventoryadjustments"):
            for line in adj["line_items"]:
                item = items[line["item_id"]]
                assert item["created_time"] <= adj["created_time"] <= item["last_modified_time"]
                assert line[prefix + "id"] in _levels(item, shape)
                moved[(line["item_id"], line[prefix + "id"])] += line["quantity_adjusted"]
        assert moved
        for (item_id, wid), quantity in moved.items():
            row = _levels(items[item_id], shape)[wid]
            assert row[prefix + "stock_on_hand"] >= row[prefix + "committed_stock"]
            assert row[prefix + "stock_on_hand"] - quantity >= 0  # the stock before the adjustments
        for item in items.values():
            if item["item_type"] == "inventory":
                _stock_holds_together(item, shape)


def test_adjustment_create_applies_stock_and_sends_only_a_stock_webhook(fresh, receiver):
    secret = "SimWebhookSecret123"
    srv, auth = fresh(webhook_url=receiver.url, webhook_secret=secret)
    sim = srv.simulator
    for org, shape in ((ORG_A, "warehouses"), (ORG_B, "locations")):
        prefix = "warehouse_" if shape == "warehouses" else "location_"
        tracked = [i for i in sim.store.records(org, "items") if i["item_type"] == "inventory" and i["status"] == "active"]
        first, second = tracked[0], tracked[1]
        wid = first[shape][1][prefix + "id"]
        before = len(receiver.requests)
        created = requests.post(f"{srv.url}/_sim/records/inventoryadjustments", params={"organization_id": org},
                                json={"reason": "Damaged goods", "reference_number": "ADJ-TEST",
                                      "line_items": [{"item_id": first["item_id"], prefix + "id": wid,
                                                      "quantity_adjusted": -2},
                                                     {"item_id": second["item_id"], "quantity_adjusted": "5.5"}]})
        assert created.status_code == 201, created.text
        adjustment = decimal_json(created)["record"]
        assert adjustment["reason"] == "Damaged goods" and adjustment["reference_number"] == "ADJ-TEST"
        assert [line["quantity_adjusted"] for line in adjustment["line_items"]] == [Decimal("-2"), Decimal("5.5")]
        primary = next(r for r in second[shape] if r["is_primary"])[prefix + "id"]
        assert adjustment["line_items"][1][prefix + "id"] == primary  # no warehouse named: the primary one

        after_first = sim.store.get(org, "items", first["item_id"])
        after_second = sim.store.get(org, "items", second["item_id"])
        assert _levels(after_first, shape)[wid][prefix + "stock_on_hand"] == \
            _levels(first, shape)[wid][prefix + "stock_on_hand"] - 2
        assert after_first["stock_on_hand"] == first["stock_on_hand"] - 2
        assert after_first["available_stock"] == first["available_stock"] - 2
        assert after_second["stock_on_hand"] == second["stock_on_hand"] + Decimal("5.5")
        for after, was in ((after_first, first), (after_second, second)):
            _stock_holds_together(after, shape)
            assert after["last_modified_time"] > was["last_modified_time"]
            api = decimal_json(requests.get(f"{srv.url}/inventory/v1/items/{was['item_id']}", headers=auth,
                                            params={"organization_id": org}))["item"]
            assert api == after

        # one webhook, to /stock, signed like the others; no item webhooks
        sent = receiver.requests[before:]
        assert len(sent) == 1
        hook = sent[0]
        assert hook["path"] == "/api/zoho/webhooks/stock" and hook["query"] == [("organization_id", org)]
        assert verify_signature(secret, hook["headers"][SIGNATURE_HEADER], hook["body"], hook["query"])
        payload = simplejson.loads(hook["body"], use_decimal=True)
        assert list(payload) == ["inventory_adjustment"] and payload["inventory_adjustment"] == adjustment

        # rapid adjustments of one item: its time moves strictly forward every time
        stamps = []
        for _ in range(5):
            sim.create(org, "inventoryadjustments", {"line_items": [{"item_id": first["item_id"],
                                                                      "quantity_adjusted": 1}]},
                       send_webhook=False)
            stamps.append(sim.store.get(org, "items", first["item_id"])["last_modified_time"])
        assert len(set(stamps)) == 5 and stamps == sorted(stamps)
        assert sim.store.get(org, "items", first["item_id"])["stock_on_hand"] == after_first["stock_on_hand"] + 5

    # mutate records new adjustments, each applied and announced
    before = len(receiver.requests)
    stock_before = {i["item_id"]: i["stock_on_hand"] for i in sim.store.records(ORG_B, "items")
                    if i["item_type"] == "inventory"}
    ids = requests.post(f"{srv.url}/_sim/mutate", json={"organization_id": ORG_B, "resource": "inventoryadjustments",
                                                          "count": 3}).json()["ids"]
    assert len(ids) == len(set(ids)) == 3
    sent = receiver.requests[before:]
    assert [h["path"] for h in sent] == ["/api/zoho/webhooks/stock"] * 3
    assert [simplejson.loads(h["body"])["inventory_adjustment"]["inventory_adjustment_id"] for h in sent] == ids
    moved = defaultdict(Decimal)
    for adj_id in ids:
        for line in sim.store.get(ORG_B, "inventoryadjustments", adj_id)["line_items"]:
            moved[line["item_id"]] += line["quantity_adjusted"]
    for item_id, quantity in moved.items():
        item = sim.store.get(ORG_B, "items", item_id)
        assert item["stock_on_hand"] == stock_before[item_id] + quantity
        _stock_holds_together(item, "locations")

    # bad references
    service = next(i for i in sim.store.records(ORG_A, "items") if i["product_type"] == "service")
    refused = requests.post(f"{srv.url}/_sim/records/inventoryadjustments", params={"organization_id": ORG_A},
                            json={"line_items": [{"item_id": service["item_id"], "quantity_adjusted": 1}]})
    assert refused.status_code == 400
    unknown = requests.post(f"{srv.url}/_sim/records/inventoryadjustments", params={"organization_id": ORG_A},
                            json={"line_items": [{"item_id": "1", "quantity_adjusted": 1}]})
    assert unknown.status_code == 404 and unknown.json() == {"error": "Item does not exist."}


def test_adjustment_edit_and_delete_move_stock_back(fresh):
    srv, _ = fresh()
    sim = srv.simulator
    item = next(i for i in sim.store.records(ORG_A, "items") if i["item_type"] == "inventory")
    adj = sim.create(ORG_A, "inventoryadjustments", {"line_items": [{"item_id": item["item_id"],
                                                                     "quantity_adjusted": 10}]})
    assert sim.store.get(ORG_A, "items", item["item_id"])["stock_on_hand"] == item["stock_on_hand"] + 10
    lines = adj["line_items"]
    lines[0]["quantity_adjusted"] = 4
    edited = sim.update(ORG_A, "inventoryadjustments", adj["inventory_adjustment_id"], {"line_items": lines})
    assert edited["line_items"][0]["line_item_id"] == adj["line_items"][0]["line_item_id"]
    assert edited["last_modified_time"] > adj["last_modified_time"]
    after = sim.store.get(ORG_A, "items", item["item_id"])
    assert after["stock_on_hand"] == item["stock_on_hand"] + 4
    _stock_holds_together(after, "warehouses")
    sim.delete(ORG_A, "inventoryadjustments", adj["inventory_adjustment_id"])
    gone = sim.store.get(ORG_A, "items", item["item_id"])
    assert gone["stock_on_hand"] == item["stock_on_hand"]
    assert gone["last_modified_time"] > after["last_modified_time"]
