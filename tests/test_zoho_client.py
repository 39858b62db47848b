"""The Zoho client: HTTP through ``responses``, shared state in the real Redis (db 15)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
import redis as redis_lib
import requests
import responses

from tds.registry import Entity
from tds.registry import get as get_entity
from tds.zoho.auth import TokenManager
from tds.zoho.client import ZohoClient
from tds.zoho.errors import (
    ZohoAuthError,
    ZohoCircuitOpen,
    ZohoError,
    ZohoFatalError,
    ZohoNotFound,
    ZohoQuotaExceeded,
    ZohoRateLimited,
    ZohoTokenThrottled,
    ZohoTransientError,
)
from tds.zoho.ratelimit import QUOTA_PREFIX

TOKEN_URL = "https://accounts.zoho.com/oauth/v2/token"
INV = "https://www.zohoapis.com/inventory/v1"
BOOKS = "https://www.zohoapis.com/books/v3"
CRM = "https://www.zohoapis.com/crm/v2"
ORG = "60001234567"
SECRETS = ("testsecret", "1000.refresh.test")

ITEMS = get_entity("items")
CUSTOMERS = get_entity("customers")
CRM_LEADS = Entity(
    name="crm_leads", api="crm", list_path="/Leads", list_key="data", id_field="id",
    table="crm_leads", mapper="x:y", zoho_module=None, simulated=("crm_leads", 0), detail_path="/Leads/{id}",
    pagination="crm_info",
)


class FakeSleep:
    def __init__(self, action=None):
        self.calls: list[float] = []
        self.action = action

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.action:
            self.action()


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def zoho_settings(base_settings, redis_client):  # redis_client: start from a clean Redis
    return base_settings.replace(zoho_max_attempts=3, zoho_breaker_failures=5, zoho_rate_limit=1000)


@pytest.fixture
def sleep():
    return FakeSleep()


@pytest.fixture
def client(zoho_settings, redis_client, sleep):
    return ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)


def token_ok(rsps, token="1000.access.one", expires_in=3600):
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": token, "expires_in": expires_in,
                                              "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"})


def calls_to(rsps, prefix):
    return [c for c in rsps.calls if c.request.url.startswith(prefix)]


def query_of(call):
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


ITEM_OK = {"code": 0, "message": "success", "item": {"item_id": "1", "name": "Filter", "rate": 85.00}}


# -- OAuth ------------------------------------------------------------------------------

def test_token_is_fetched_once_and_shared_by_two_clients(mocked, zoho_settings, redis_client, sleep):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    first = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    second = ZohoClient(zoho_settings, redis=redis_lib.Redis.from_url(zoho_settings.redis_url), sleep=sleep)

    first.request_json("inventory", "/items/1", ORG)
    second.request_json("inventory", "/items/1", ORG)

    assert len(calls_to(mocked, TOKEN_URL)) == 1
    api_calls = calls_to(mocked, INV)
    assert [c.request.headers["Authorization"] for c in api_calls] == ["Zoho-oauthtoken 1000.access.one"] * 2
    assert 3300 < redis_client.ttl(first.tokens.token_key) <= 3480  # expires_in - 120
    form = parse_qs(calls_to(mocked, TOKEN_URL)[0].request.body)
    assert form["grant_type"] == ["refresh_token"] and form["client_id"] == ["1000.TESTCLIENT"]


def test_concurrent_refresh_from_many_threads_makes_one_request(mocked, zoho_settings):
    def slow_token(request):
        time.sleep(0.3)  # every other thread arrives while this refresh is in flight
        return 200, {}, '{"access_token": "1000.access.shared", "expires_in": 3600}'

    mocked.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    results, errors = [], []
    start = threading.Barrier(8)

    def worker():
        manager = TokenManager(zoho_settings, redis_lib.Redis.from_url(zoho_settings.redis_url))
        start.wait()
        try:
            results.append(manager.get_token())
        except ZohoError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert errors == []
    assert results == ["1000.access.shared"] * 8
    assert len(calls_to(mocked, TOKEN_URL)) == 1


def test_token_error_under_http_200_is_auth_error_without_secrets(mocked, client):
    mocked.add(responses.POST, TOKEN_URL, json={"error": "invalid_code"})
    with pytest.raises(ZohoAuthError) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.transient is False
    assert info.value.code == "invalid_code"
    for secret in SECRETS:
        assert secret not in str(info.value) and secret not in repr(info.value.args)
    assert calls_to(mocked, INV) == []


def test_token_endpoint_throttle_body_raises_token_throttled(mocked, client, sleep):
    mocked.add(responses.POST, TOKEN_URL, status=400, json={
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied", "status": "failure"})
    with pytest.raises(ZohoTokenThrottled) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.transient is True and info.value.retry_after >= 60
    assert len(calls_to(mocked, TOKEN_URL)) == 1  # not hammered by in-process retries
    assert sleep.calls == []


def test_refresh_budget_refuses_the_tenth_refresh_in_ten_minutes(mocked, zoho_settings, redis_client):
    manager = TokenManager(zoho_settings, redis_client)
    for n in range(9):
        token_ok(mocked, token=f"1000.access.{n}")
        manager.get_token()
        redis_client.delete(manager.token_key)
    with pytest.raises(ZohoTokenThrottled) as info:
        manager.get_token()
    assert len(calls_to(mocked, TOKEN_URL)) == 9
    assert 0 < info.value.retry_after <= 600


def test_invalidate_drops_only_the_token_it_names(mocked, zoho_settings, redis_client):
    manager = TokenManager(zoho_settings, redis_client)
    token_ok(mocked, token="1000.access.new")
    manager.get_token()
    assert manager.invalidate("1000.access.old") is False  # another worker's stale token
    assert manager.cached_token() == "1000.access.new"
    assert manager.invalidate("1000.access.new") is True
    assert manager.cached_token() is None


def test_401_code_57_refreshes_once_and_retries(mocked, client):
    token_ok(mocked, token="1000.access.dead")
    token_ok(mocked, token="1000.access.fresh")
    mocked.add(responses.GET, f"{INV}/items/1", status=401,
               json={"code": 57, "message": "You are not authorized to perform this operation"})
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)

    body = client.request_json("inventory", "/items/1", ORG)

    assert body["item"]["item_id"] == "1"
    assert len(calls_to(mocked, TOKEN_URL)) == 2
    assert [c.request.headers["Authorization"] for c in calls_to(mocked, INV)] == [
        "Zoho-oauthtoken 1000.access.dead", "Zoho-oauthtoken 1000.access.fresh"]


def test_401_that_persists_after_a_refresh_is_auth_error_and_not_refreshed_again(mocked, client):
    token_ok(mocked, token="1000.access.a")
    token_ok(mocked, token="1000.access.b")
    mocked.add(responses.GET, f"{INV}/items/1", status=401,
               json={"code": 57, "message": "You are not authorized to perform this operation"})
    with pytest.raises(ZohoAuthError) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.status == 401 and info.value.code == 57
    assert len(calls_to(mocked, TOKEN_URL)) == 2

    with pytest.raises(ZohoAuthError):  # a scope problem: the refresh budget is not spent again
        client.request_json("inventory", "/items/1", ORG)
    assert len(calls_to(mocked, TOKEN_URL)) == 2


# -- error ladder -----------------------------------------------------------------------

def test_429_code_44_is_retried_then_succeeds(mocked, client, sleep):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=429, json={"code": 44, "message": "blocked per minute"})
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    assert client.request_json("inventory", "/items/1", ORG)["item"]["name"] == "Filter"
    assert len(calls_to(mocked, INV)) == 2
    assert len(sleep.calls) == 1 and 0 <= sleep.calls[0] <= 0.5


def test_429_code_1070_is_transient_after_max_attempts(mocked, client, sleep, zoho_settings):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=429,
               json={"code": 1070, "message": "maximum number of in process requests"})
    with pytest.raises(ZohoRateLimited) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.transient is True and info.value.code == 1070
    assert len(calls_to(mocked, INV)) == zoho_settings.zoho_max_attempts
    assert len(sleep.calls) == zoho_settings.zoho_max_attempts - 1
    assert all(0 <= s <= 8.0 for s in sleep.calls)


@pytest.mark.parametrize("status", [429, 200])
def test_code_45_is_quota_exceeded_and_blocks_the_org_without_http(mocked, client, status, redis_client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=status,
               headers={"X-Rate-Limit-Reset": "34881"},
               json={"code": 45, "message": "exceeded the maximum call rate limit of 1000."})
    with pytest.raises(ZohoQuotaExceeded) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.transient is False and info.value.retry_after == 34881
    assert len(calls_to(mocked, INV)) == 1

    with pytest.raises(ZohoQuotaExceeded) as again:
        client.request_json("inventory", "/items", ORG)
    assert len(calls_to(mocked, INV)) == 1  # refused before the network
    assert 34000 < again.value.retry_after <= 34881
    assert redis_client.ttl(QUOTA_PREFIX + ORG) > 34000


def test_quota_without_reset_header_lasts_until_utc_midnight(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=429, json={"code": 45, "message": "quota"})
    with pytest.raises(ZohoQuotaExceeded) as info:
        client.request_json("inventory", "/items/1", ORG)
    now = dt.datetime.now(dt.timezone.utc)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(info.value.retry_after - (midnight - now).total_seconds()) < 5


def test_remaining_zero_in_the_rate_limit_headers_blocks_the_org(mocked, client, redis_client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK, headers={
        "X-Rate-Limit-Limit": "7500", "X-Rate-Limit-Remaining": "6775", "X-Rate-Limit-Reset": "34881"})
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK, headers={
        "X-Rate-Limit-Limit": "7500", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "120"})

    client.request_json("inventory", "/items/1", ORG)
    assert not redis_client.exists(QUOTA_PREFIX + ORG)

    client.request_json("inventory", "/items/1", ORG)  # this answer is still good
    with pytest.raises(ZohoQuotaExceeded) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert 100 < info.value.retry_after <= 120
    assert len(calls_to(mocked, INV)) == 2
    assert not redis_client.exists(QUOTA_PREFIX + "999")  # other orgs unaffected


def test_nonzero_code_under_200_is_fatal_and_not_retried(mocked, client, sleep):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/contacts", json={"code": 2, "message": "Invalid value passed for organization_id"})
    with pytest.raises(ZohoFatalError) as info:
        client.request_json("books", "/contacts", ORG)
    assert info.value.transient is False and info.value.code == 2 and info.value.status == 200
    assert "Invalid value passed" in str(info.value)
    assert len(calls_to(mocked, BOOKS)) == 1 and sleep.calls == []


def test_malformed_json_under_200_is_fatal(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/contacts", body="{not json", content_type="application/json")
    with pytest.raises(ZohoFatalError):
        client.request_json("books", "/contacts", ORG)


def test_404_code_1002_is_not_found(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/invoices/9", status=404, json={"code": 1002, "message": "Invoice does not exist."})
    with pytest.raises(ZohoNotFound) as info:
        client.request_json("books", "/invoices/9", ORG)
    assert isinstance(info.value, ZohoFatalError) and info.value.code == 1002
    assert info.value.url.startswith(f"{BOOKS}/invoices/9")


def test_503_with_html_body_is_transient_and_retried(mocked, client, sleep, zoho_settings):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=503, body="<html><body>Service Unavailable</body></html>",
               content_type="text/html")
    with pytest.raises(ZohoTransientError) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.status == 503 and info.value.transient is True
    assert len(calls_to(mocked, INV)) == zoho_settings.zoho_max_attempts


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.Timeout("slow")])
def test_connection_error_and_timeout_are_transient(mocked, client, failure, zoho_settings):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", body=failure)
    with pytest.raises(ZohoTransientError) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.status is None
    assert len(calls_to(mocked, INV)) == zoho_settings.zoho_max_attempts


def test_transient_failure_then_success_returns_the_answer(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", body=requests.ConnectionError("reset"))
    mocked.add(responses.GET, f"{INV}/items/1", status=502, body="<html>Bad gateway</html>")
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    assert client.request_json("inventory", "/items/1", ORG)["item"]["item_id"] == "1"


# -- requests and bodies ----------------------------------------------------------------

def test_decimals_keep_every_digit(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/3850050000000077005", content_type="application/json",
               body='{"code":0,"message":"success","item":{"item_id":"3850050000000077005",'
                    '"rate":85.00,"stock_on_hand":1.000000,"tax_percentage":0}}')
    item = client.get_record(ITEMS, ORG, "3850050000000077005")
    assert item["rate"] == Decimal("85.00") and str(item["rate"]) == "85.00"
    assert str(item["stock_on_hand"]) == "1.000000"
    assert item["tax_percentage"] == 0 and item["item_id"] == "3850050000000077005"


def test_books_and_inventory_send_organization_id_crm_does_not(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    mocked.add(responses.GET, f"{CRM}/Leads/7", json={"data": [{"id": "7", "Last_Name": "Doe"}]})

    client.request_json("inventory", "/items/1", ORG, params={"preview": "true"})
    lead = client.get_record(CRM_LEADS, ORG, "7")

    inv_call, crm_call = calls_to(mocked, INV)[0], calls_to(mocked, CRM)[0]
    assert query_of(inv_call) == {"organization_id": ORG, "preview": "true"}
    assert "organization_id" not in query_of(crm_call)
    assert lead == {"id": "7", "Last_Name": "Doe"}


def test_get_record_unwraps_detail_key_and_missing_record_is_not_found(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/contacts/5", json={"code": 0, "contact": {"contact_id": "5"}})
    mocked.add(responses.GET, f"{BOOKS}/contacts/6", json={"code": 0, "message": "success"})
    mocked.add(responses.GET, f"{CRM}/Leads/8", status=204)
    assert client.get_record(CUSTOMERS, ORG, "5") == {"contact_id": "5"}
    with pytest.raises(ZohoNotFound):
        client.get_record(CUSTOMERS, ORG, "6")
    with pytest.raises(ZohoNotFound):
        client.get_record(CRM_LEADS, ORG, "8")


# -- pagination and bulk details --------------------------------------------------------

def test_iter_pages_follows_has_more_page_and_stops_at_null_context(mocked, client):
    token_ok(mocked)
    ctx = {"per_page": 2, "report_name": "Items"}
    mocked.add(responses.GET, f"{INV}/items", json={"code": 0, "items": [{"item_id": "1"}, {"item_id": "2"}],
                                                    "page_context": {**ctx, "page": 1, "has_more_page": True}})
    mocked.add(responses.GET, f"{INV}/items", json={"code": 0, "items": [{"item_id": "3"}, {"item_id": "4"}],
                                                    "page_context": {**ctx, "page": 2, "has_more_page": True}})
    mocked.add(responses.GET, f"{INV}/items", json={"code": 0, "items": [{"item_id": "5"}], "page_context": None})

    pages = list(client.iter_pages(ITEMS, ORG, params={"last_modified_time": "2024-01-09T14:30:01+0000"},
                                   per_page=2))

    assert [[r["item_id"] for r in page] for page in pages] == [["1", "2"], ["3", "4"], ["5"]]
    queries = [query_of(c) for c in calls_to(mocked, INV)]
    assert [q["page"] for q in queries] == ["1", "2", "3"]
    assert all(q["per_page"] == "2" and q["filter_by"] == "Status.All" and q["organization_id"] == ORG
               and q["last_modified_time"] == "2024-01-09T14:30:01+0000" for q in queries)


def test_iter_pages_without_page_context_is_one_page(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/contacts", json={"code": 0, "contacts": [{"contact_id": "1"}]})
    assert list(client.iter_pages(CUSTOMERS, ORG)) == [[{"contact_id": "1"}]]
    assert query_of(calls_to(mocked, BOOKS)[0])["contact_type"] == "customer"


def test_crm_pagination_follows_more_records(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{CRM}/Leads", json={"data": [{"id": "1"}], "info": {"more_records": True, "page": 1}})
    mocked.add(responses.GET, f"{CRM}/Leads", json={"data": [{"id": "2"}], "info": {"more_records": False, "page": 2}})
    pages = list(client.iter_pages(CRM_LEADS, ORG, per_page=1))
    assert pages == [[{"id": "1"}], [{"id": "2"}]]
    queries = [query_of(c) for c in calls_to(mocked, CRM)]
    assert [(q["page"], q["per_page"]) for q in queries] == [("1", "1"), ("2", "1")]
    assert all("organization_id" not in q for q in queries)


def test_bulk_details_are_fetched_in_chunks(mocked, client):
    token_ok(mocked)

    def itemdetails(request):
        ids = parse_qs(urlparse(request.url).query)["item_ids"][0].split(",")
        return 200, {}, json.dumps({"code": 0, "items": [{"item_id": i} for i in ids]})

    mocked.add_callback(responses.GET, f"{INV}/itemdetails", callback=itemdetails)
    ids = [str(1000 + n) for n in range(250)]

    records = client.get_bulk_details(ITEMS, ORG, ids)

    calls = calls_to(mocked, INV)
    assert [len(query_of(c)["item_ids"].split(",")) for c in calls] == [100, 100, 50]
    assert [r["item_id"] for r in records] == ids


def test_bulk_details_fall_back_to_one_call_per_id(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/contacts/1", json={"code": 0, "contact": {"contact_id": "1"}})
    mocked.add(responses.GET, f"{BOOKS}/contacts/2", status=404, json={"code": 1002, "message": "does not exist"})
    mocked.add(responses.GET, f"{BOOKS}/contacts/3", json={"code": 0, "contact": {"contact_id": "3"}})
    records = client.get_bulk_details(CUSTOMERS, ORG, ["1", "2", "3", "1"])
    assert [r["contact_id"] for r in records] == ["1", "3"]
    assert len(calls_to(mocked, BOOKS)) == 3


def test_details_without_a_bulk_endpoint_are_fetched_several_at_a_time(mocked, client):
    token_ok(mocked)
    together = threading.Barrier(2, timeout=5)  # one call at a time never gets past it

    def contact(request):
        together.wait()
        zid = urlparse(request.url).path.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"code": 0, "contact": {"contact_id": zid}})

    for zid in ("1", "2", "3", "4"):
        mocked.add_callback(responses.GET, f"{BOOKS}/contacts/{zid}", callback=contact)
    records = client.get_bulk_details(CUSTOMERS, ORG, ["1", "2", "3", "4"])
    assert [r["contact_id"] for r in records] == ["1", "2", "3", "4"]  # in the order asked
    assert len(calls_to(mocked, BOOKS)) == 4


def test_detail_concurrency_comes_from_the_setting(zoho_settings, redis_client):
    one = zoho_settings.replace(zoho_detail_concurrency=1)
    assert ZohoClient(one, redis=redis_client).detail_workers == 1
    assert ZohoClient(zoho_settings, redis=redis_client).detail_workers == 4


@pytest.fixture
def round_trips(monkeypatch):
    """Counts what is sent to Redis: one per command, one per pipeline."""
    sent = []
    real = redis_lib.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(1)
        return real(self, command, check_health)

    monkeypatch.setattr(redis_lib.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def test_a_zoho_call_costs_three_redis_round_trips(mocked, client, round_trips):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    client.request_json("inventory", "/items/1", ORG)  # the token is fetched, the breaker's keys made
    round_trips.clear()
    for _ in range(5):
        client.request_json("inventory", "/items/1", ORG)
    # admission (quota marker, breaker state, token) in one pipeline, the rate limit's slot,
    # then the day's count and the breaker's success in one pipeline
    assert len(round_trips) == 5 * 3
    assert client.quota.calls_today(ORG) == 6


def test_the_pipelined_success_resets_a_failure_count(mocked, zoho_settings, redis_client, sleep):
    zoho_settings = zoho_settings.replace(zoho_max_attempts=1, zoho_breaker_failures=3)
    client = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=500, body="<html>oops</html>")
    mocked.add(responses.GET, f"{INV}/items/1", status=500, body="<html>oops</html>")
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    for _ in range(2):
        with pytest.raises(ZohoTransientError):
            client.request_json("inventory", "/items/1", ORG)
    key = f"tds:zoho:breaker:{INV}:pybreaker:fail_counter"
    assert int(redis_client.get(key)) == 2
    client.request_json("inventory", "/items/1", ORG)
    assert int(redis_client.get(key)) == 0  # two more failures do not open it
    mocked.replace(responses.GET, f"{INV}/items/1", status=500, body="<html>oops</html>")
    for _ in range(2):
        with pytest.raises(ZohoTransientError) as info:
            client.request_json("inventory", "/items/1", ORG)
        assert not isinstance(info.value, ZohoCircuitOpen)
    assert client._breaker("inventory").state == "closed"


# -- circuit breaker --------------------------------------------------------------------

def test_breaker_opens_after_n_transient_failures_and_is_shared(mocked, zoho_settings, redis_client, sleep):
    zoho_settings = zoho_settings.replace(zoho_max_attempts=1, zoho_breaker_failures=3)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=500, body="<html>oops</html>")
    first = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    for _ in range(3):
        with pytest.raises(ZohoTransientError) as info:
            first.request_json("inventory", "/items/1", ORG)
        assert not isinstance(info.value, ZohoCircuitOpen)
    assert len(calls_to(mocked, INV)) == 3

    second = ZohoClient(zoho_settings, redis=redis_lib.Redis.from_url(zoho_settings.redis_url, decode_responses=True),
                        sleep=sleep)
    with pytest.raises(ZohoCircuitOpen) as info:
        second.request_json("inventory", "/items/1", ORG)
    assert info.value.transient is True and 0 < info.value.retry_after <= zoho_settings.zoho_breaker_reset
    assert len(calls_to(mocked, INV)) == 3  # nobody called Zoho

    mocked.add(responses.GET, f"{BOOKS}/contacts", json={"code": 0, "contacts": []})
    assert second.request_json("books", "/contacts", ORG)["contacts"] == []  # one breaker per API root


def test_breaker_half_opens_after_reset_and_closes_on_success(mocked, zoho_settings, redis_client, sleep):
    zoho_settings = zoho_settings.replace(zoho_max_attempts=1, zoho_breaker_failures=2)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=503, body="down")
    mocked.add(responses.GET, f"{INV}/items/1", status=503, body="down")
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    client = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    for _ in range(2):
        with pytest.raises(ZohoTransientError):
            client.request_json("inventory", "/items/1", ORG)
    with pytest.raises(ZohoCircuitOpen):
        client.request_json("inventory", "/items/1", ORG)

    key = f"tds:zoho:breaker:{INV}:pybreaker:opened_at"
    redis_client.set(key, int(time.time()) - zoho_settings.zoho_breaker_reset - 1)  # the reset time has passed

    assert client.request_json("inventory", "/items/1", ORG)["item"]["item_id"] == "1"
    assert client._breaker("inventory").state == "closed"


def test_fatal_4xx_do_not_trip_the_breaker(mocked, zoho_settings, redis_client, sleep):
    zoho_settings = zoho_settings.replace(zoho_max_attempts=1, zoho_breaker_failures=2)
    token_ok(mocked)
    mocked.add(responses.GET, f"{BOOKS}/invoices/9", status=404, json={"code": 1002, "message": "Invoice does not exist."})
    mocked.add(responses.GET, f"{BOOKS}/invoices", status=400, json={"code": 5, "message": "Invalid URL Passed"})
    client = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    for _ in range(3):
        with pytest.raises(ZohoNotFound):
            client.request_json("books", "/invoices/9", ORG)
        with pytest.raises(ZohoFatalError):
            client.request_json("books", "/invoices", ORG)
    assert client._breaker("books").state == "closed"
    assert len(calls_to(mocked, BOOKS)) == 6


# -- shared rate limit ------------------------------------------------------------------

def test_a_full_rate_limit_gives_the_task_slot_back_instead_of_sleeping(mocked, zoho_settings, redis_client, sleep):
    """A worker's call never waits for the window: it gets "retry in N s", which the task's
    retry policy turns into a countdown of N seconds that does not use up its retries."""
    from tds.inbox.decisions import Action
    from tds.process import failures

    zoho_settings = zoho_settings.replace(zoho_rate_limit=2)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    client = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep)
    for _ in range(2):
        client.request_json("inventory", "/items/1", ORG)
    with pytest.raises(ZohoRateLimited) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert sleep.calls == [] and len(calls_to(mocked, INV)) == 2
    assert 55 < info.value.retry_after <= 60
    decision = failures.decide(zoho_settings, info.value, retries=zoho_settings.task_max_retries)
    assert decision.action is Action.RETRY and info.value.retry_after <= decision.countdown <= 61


def test_a_command_line_client_may_wait_for_the_window(mocked, zoho_settings, redis_client):
    zoho_settings = zoho_settings.replace(zoho_rate_limit=2)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    holder = {}
    sleep = FakeSleep(action=lambda: holder["client"].limiter.clear(ORG))  # the minute passes
    client = holder["client"] = ZohoClient(zoho_settings, redis=redis_client, sleep=sleep, budget_wait=60)

    for _ in range(3):
        client.request_json("inventory", "/items/1", ORG)

    assert len(sleep.calls) == 1 and 0 < sleep.calls[0] <= 60
    assert len(calls_to(mocked, INV)) == 3


def test_rate_limiter_raises_past_max_wait_and_is_shared(mocked, zoho_settings, redis_client, sleep):
    zoho_settings = zoho_settings.replace(zoho_rate_limit=1)
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    ZohoClient(zoho_settings, redis=redis_client, sleep=sleep).request_json("inventory", "/items/1", ORG)

    other_worker = ZohoClient(zoho_settings, redis=redis_lib.Redis.from_url(zoho_settings.redis_url), sleep=sleep)
    with pytest.raises(ZohoRateLimited) as info:
        other_worker.limiter.acquire(ORG, max_wait=5)
    assert sleep.calls == [] and 55 < info.value.retry_after <= 60

    with pytest.raises(ZohoRateLimited):
        other_worker.request_json("inventory", "/items/1", ORG)
    assert sleep.calls == []
    assert len(calls_to(mocked, INV)) == 1
    other_worker.limiter.acquire("60009999999", max_wait=0)  # another organization has its own window


# -- secrets ----------------------------------------------------------------------------

def test_no_secret_reaches_the_log(mocked, client, caplog):
    caplog.set_level(logging.DEBUG)
    token_ok(mocked, token="1000.access.secretvalue")
    mocked.add(responses.GET, f"{INV}/items/1", status=401, json={"code": 57, "message": "not authorized"})
    mocked.add(responses.GET, f"{INV}/items/1", status=429, json={"code": 44, "message": "slow down"})
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    client.request_json("inventory", "/items/1", ORG)
    assert "zoho GET /inventory/v1/items/1 -> 200" in caplog.text
    for secret in (*SECRETS, "1000.access.secretvalue"):
        assert secret not in caplog.text


def test_missing_scope_under_400_is_auth_error_without_refresh(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", status=400,
               json={"code": 57, "message": "You are not authorized to perform this operation"})
    with pytest.raises(ZohoAuthError) as info:
        client.request_json("inventory", "/items/1", ORG)
    assert info.value.status == 400 and info.value.transient is False
    assert len(calls_to(mocked, TOKEN_URL)) == 1 and len(calls_to(mocked, INV)) == 1


# -- credentials in the cache key, per-organization clients, the one write ----------------

def test_a_changed_secret_or_refresh_token_does_not_reuse_the_cached_token(mocked, zoho_settings, redis_client,
                                                                          sleep):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    ZohoClient(zoho_settings, redis=redis_client, sleep=sleep).request_json("inventory", "/items/1", ORG)
    assert len(calls_to(mocked, TOKEN_URL)) == 1

    for wrong in ({"zoho_client_secret": "wrongsecret"}, {"zoho_refresh_token": "1000.revoked"}):
        mocked.replace(responses.POST, TOKEN_URL, json={"error": "invalid_client"})
        before = len(calls_to(mocked, TOKEN_URL))
        other = ZohoClient(zoho_settings.replace(**wrong), redis=redis_client, sleep=sleep)
        assert other.tokens.namespace != TokenManager(zoho_settings, redis_client).namespace
        with pytest.raises(ZohoAuthError):
            other.request_json("inventory", "/items/1", ORG)
        assert len(calls_to(mocked, TOKEN_URL)) == before + 1  # asked Zoho, which refused at once
    for secret in ("wrongsecret", "1000.revoked", *SECRETS):
        assert not any(secret.encode() in k for k in redis_client.scan_iter("tds:zoho:oauth:*"))


def test_each_organization_has_its_own_token_host_and_budget(mocked, redis_client, sleep):
    from tds.config import Settings

    settings = Settings.from_env({
        "TDS_REDIS_URL": zoho_redis_url(redis_client),
        "ZOHO_CLIENT_ID": "1000.A", "ZOHO_CLIENT_SECRET": "sa", "ZOHO_REFRESH_TOKEN": "ra",
        "ZOHO_ORGANIZATION_ID": f"{ORG},222", "ZOHO_222_CLIENT_ID": "1000.B", "ZOHO_222_CLIENT_SECRET": "sb",
        "ZOHO_222_REFRESH_TOKEN": "rb", "ZOHO_222_DC": "eu", "TDS_ZOHO_RATE_LIMIT": "1000"}, env_file=None)
    token_ok(mocked, "1000.us.token")
    mocked.add(responses.POST, "https://accounts.zoho.eu/oauth/v2/token",
               json={"access_token": "1000.eu.token", "expires_in": 3600})
    mocked.add(responses.GET, f"{INV}/items/1", json=ITEM_OK)
    mocked.add(responses.GET, "https://www.zohoapis.eu/inventory/v1/items/1", json=ITEM_OK)
    client = ZohoClient(settings, redis=redis_client, sleep=sleep)

    client.request_json("inventory", "/items/1", ORG)
    client.request_json("inventory", "/items/1", "222")

    eu_token_call = calls_to(mocked, "https://accounts.zoho.eu")[0]
    assert parse_qs(eu_token_call.request.body)["client_id"] == ["1000.B"]
    eu_call = calls_to(mocked, "https://www.zohoapis.eu")[0]
    assert eu_call.request.headers["Authorization"] == "Zoho-oauthtoken 1000.eu.token"
    assert calls_to(mocked, INV)[0].request.headers["Authorization"] == "Zoho-oauthtoken 1000.us.token"
    assert client.tokens_for("222").namespace != client.tokens_for(ORG).namespace


def zoho_redis_url(redis_client) -> str:
    kwargs = redis_client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def test_the_only_write_is_to_webhook_and_workflow_settings(mocked, client):
    with pytest.raises(ValueError):
        client.create_setting("books", "/invoices", ORG, {"x": 1})
    with pytest.raises(ValueError):
        client.create_setting("crm", "/settings/webhooks", ORG, {"x": 1})
    token_ok(mocked)
    mocked.add(responses.POST, f"{BOOKS}/settings/webhooks", json={"code": 0, "webhook": {"webhook_id": "9"}},
               status=201)
    assert client.create_setting("books", "/settings/webhooks", ORG, {"webhook_name": "TDS x"})["webhook"] == {
        "webhook_id": "9"}
    sent = calls_to(mocked, f"{BOOKS}/settings/webhooks")[0]
    assert sent.request.method == "POST" and b'"webhook_name": "TDS x"' in sent.request.body


def test_grant_code_exchange(mocked, zoho_settings):
    from tds.zoho.auth import exchange_grant_code

    mocked.add(responses.POST, TOKEN_URL, json={"access_token": "1000.a", "refresh_token": "1000.new.refresh",
                                                "api_domain": "https://www.zohoapis.eu", "expires_in": 3600})
    answer = exchange_grant_code(zoho_settings.org(None), " 1000.grant ")
    assert answer["refresh_token"] == "1000.new.refresh" and answer["dc"] == "eu"
    form = parse_qs(mocked.calls[-1].request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["1000.grant"]
    mocked.replace(responses.POST, TOKEN_URL, json={"error": "invalid_code"})
    with pytest.raises(ZohoAuthError, match="expired"):
        exchange_grant_code(zoho_settings.org(None), "1000.old")


# -- binary answers (item images) -------------------------------------------------------

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_request_bytes_returns_content_and_type_under_the_shared_budget(mocked, client, redis_client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1/image", body=PNG_BYTES, content_type="image/png")

    content, content_type = client.request_bytes("inventory", "/items/1/image", ORG)

    assert content == PNG_BYTES and content_type == "image/png"
    call = calls_to(mocked, INV)[0]
    assert query_of(call) == {"organization_id": ORG}
    assert call.request.headers["Authorization"] == "Zoho-oauthtoken 1000.access.one"
    assert client.limiter.limiter.get_window_stats(client.limiter.item, "zoho", ORG)[1] == 999


def test_request_bytes_error_envelope_raises_the_classified_error(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1/image", json={"code": 1002, "message": "Image does not exist."},
               status=404)
    mocked.add(responses.GET, f"{INV}/items/2/image", json={"code": 57, "message": "not authorized"}, status=200)
    mocked.add(responses.GET, f"{INV}/items/3/image", json={"code": 0, "message": "success"})

    with pytest.raises(ZohoNotFound):
        client.request_bytes("inventory", "/items/1/image", ORG)
    with pytest.raises(ZohoFatalError):
        client.request_bytes("inventory", "/items/2/image", ORG)
    with pytest.raises(ZohoFatalError, match="got a JSON object"):
        client.request_bytes("inventory", "/items/3/image", ORG)


def test_request_bytes_html_page_is_transient_and_retried_then_content(mocked, client, sleep):
    token_ok(mocked)
    html = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
    mocked.add(responses.GET, f"{INV}/items/1/image", body=html, status=502, content_type="text/html")
    mocked.add(responses.GET, f"{INV}/items/1/image", body=html, status=200, content_type="text/html")
    mocked.add(responses.GET, f"{INV}/items/1/image", body=PNG_BYTES, content_type="image/png")

    content, _ = client.request_bytes("inventory", "/items/1/image", ORG)

    assert content == PNG_BYTES
    assert len(calls_to(mocked, INV)) == 3 and len(sleep.calls) == 2


def test_request_bytes_html_under_200_exhausts_to_a_transient_error(mocked, client):
    token_ok(mocked)
    mocked.add(responses.GET, f"{INV}/items/1/image", body=b"<!DOCTYPE html><html>login</html>",
               content_type="text/html")
    with pytest.raises(ZohoTransientError, match="HTML page"):
        client.request_bytes("inventory", "/items/1/image", ORG)
    assert len(calls_to(mocked, INV)) == 3  # zoho_max_attempts




def test_a_tasks_client_sleeps_a_moment_at_most_between_tries(mocked, zoho_settings, redis_client):
    from tds import services
    from tds.zoho import shared as zoho_shared

    services.reset()
    task_client = zoho_shared.zoho_client(zoho_settings)  # no budget_wait: a task's client
    command_line = zoho_shared.zoho_client(zoho_settings, budget_wait=30)
    try:
        assert task_client.backoff_max == zoho_shared.IN_PLACE_WAIT_MAX <= 1.0  # longer waits: the task's countdown
        assert command_line.backoff_max == 8.0
    finally:
        services.reset()
