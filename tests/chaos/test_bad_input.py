"""Chaos: a corpus of bad requests, as an attacker or a misconfigured Zoho would send them.

Invariant: every request gets a clear 4xx with a JSON error, or is stored and ends in the
dead letter with the field and the reason, or is stored and applied when it is unusual but
valid (Arabic, emoji, SQL-looking text). Never a 5xx; nothing stored without
authentication; the worker keeps working, and the next good webhook is applied.
"""

from __future__ import annotations

import copy
import time

import simplejson
import sqlalchemy as sa

from tds.models import dead_letters, inbox_events, metadata
from tds.receive import signature as webhook_auth
from tests.chaos import harness
from tests.conftest import WEBHOOK_SECRET
from tests.helpers import wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app

REFUSED, DEAD, APPLIED = "refused", "dead", "applied"


def _post(client, slug, body: bytes, org, *, secret=WEBHOOK_SECRET, content_type="application/json",
          sign_body=None, query=None, headers=None, method="post"):
    params = {"organization_id": org, **(query or {})}
    hdrs = {"Content-Type": content_type}
    if secret is not None:
        hdrs[webhook_auth.SIGNATURE_HEADER] = webhook_auth.sign(secret, body if sign_body is None else sign_body,
                                                                pairs=params.items())
    hdrs.update(headers or {})
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    return getattr(client, method)(f"/api/zoho/webhooks/{slug}?{qs}", data=body, headers=hdrs)


def _j(value) -> bytes:
    return simplejson.dumps(value, use_decimal=True).encode()


def _corpus(items: list[dict], invoices: list[dict], org: str):
    """(name, send(client) -> response, expected outcome, words the error must contain).

    Every case that is stored uses a record of its own: versions of one record would be
    coalesced into the newest (the older ones finish as superseded), which is right, but
    would hide what each case does."""
    item = items[0]
    pool = iter(items[1:])
    invoice_pool = iter(invoices)
    def with_item(_record=None, **changes):
        rec = copy.deepcopy(_record or next(pool))
        for k, v in changes.items():
            if v is _DROP:
                rec.pop(k, None)
            else:
                rec[k] = v
        return _j({"item": rec})

    def with_invoice(**changes):
        rec = copy.deepcopy(next(invoice_pool))
        rec.update(changes)
        return _j({"invoice": rec})

    good = _j({"item": item})
    cases = [
        # authentication: nothing may be stored
        ("no signature", lambda c: _post(c, "items", good, org, secret=None), REFUSED, "signature"),
        ("signed with another secret", lambda c: _post(c, "items", good, org, secret="AnotherSecret999"),
         REFUSED, "signature"),
        ("signature of another body", lambda c: _post(c, "items", good, org, sign_body=b"{}"), REFUSED, "signature"),
        ("garbage signature", lambda c: _post(c, "items", good, org, secret=None,
                                              headers={webhook_auth.SIGNATURE_HEADER: "zz!!"}), REFUSED, "signature"),
        ("empty signature", lambda c: _post(c, "items", good, org, secret=None,
                                            headers={webhook_auth.SIGNATURE_HEADER: ""}), REFUSED, "signature"),
        ("wrong token", lambda c: _post(c, "items", good, org, secret=None, query={"token": "WrongToken12345"}),
         REFUSED, "signature"),
        ("wrong token header", lambda c: _post(c, "items", good, org, secret=None,
                                               headers={webhook_auth.TOKEN_HEADER: "WrongToken12345"}),
         REFUSED, "signature"),
        ("old signature replayed on a changed body",
         lambda c: _post(c, "items", with_item(name="changed"), org, sign_body=good), REFUSED, "signature"),
        ("unsigned bad JSON", lambda c: _post(c, "items", b"{", org, secret=None), REFUSED, "signature"),
        ("unsigned huge nesting", lambda c: _post(c, "items", b"[" * 50000, org, secret=None), REFUSED, "signature"),
        # bodies
        ("malformed JSON", lambda c: _post(c, "items", b'{"item": ', org), REFUSED, "json"),
        ("empty body", lambda c: _post(c, "items", b"", org), REFUSED, "empty"),
        ("JSON array", lambda c: _post(c, "items", b"[1, 2]", org), REFUSED, "object"),
        ("JSON string", lambda c: _post(c, "items", b'"item"', org), REFUSED, "object"),
        ("not UTF-8", lambda c: _post(c, "items", b'{"item": {"name": "\xff\xfe"}}', org), REFUSED, "utf-8"),
        ("raw NUL byte", lambda c: _post(c, "items", good.replace(b'"name"', b'"na\x00me"'), org), REFUSED, "nul"),
        ("escaped NUL in a name", lambda c: _post(c, "items", with_item(name="a\u0000b"), org), REFUSED, "nul"),
        ("NUL in the id", lambda c: _post(c, "items", with_item(item_id="\u0000" + item["item_id"]), org),
         REFUSED, "nul"),
        ("10 MB body", lambda c: _post(c, "items", b'{"item": "' + b"x" * (10 * 1024 * 1024) + b'"}', org),
         REFUSED, "larger"),
        ("50,000 nested [", lambda c: _post(c, "items", b"[" * 50000, org), REFUSED, "nested"),
        ("50,000 nested objects", lambda c: _post(c, "items", b'{"a":' * 50000, org), REFUSED, "nested"),
        ("bare NaN", lambda c: _post(c, "items", good.replace(b"{", b'{"rate": NaN, ', 1), org), REFUSED, "nan"),
        ("bare Infinity", lambda c: _post(c, "items", good.replace(b"{", b'{"x": -Infinity, ', 1), org),
         REFUSED, "infinity"),
        ("form body, broken JSONString", lambda c: _post(c, "items", b"JSONString=%7Bbad", org,
                                                         content_type="application/x-www-form-urlencoded", **_BY_TOKEN),
         REFUSED, "json"),
        ("form body without a record", lambda c: _post(c, "items", b"a=1&b=2", org,
                                                       content_type="application/x-www-form-urlencoded", **_BY_TOKEN),
         REFUSED, "item_id"),
        ("form body with URL-encoded NUL", lambda c: _post(c, "items", b"JSONString=%00", org,
                                                           content_type="application/x-www-form-urlencoded", **_BY_TOKEN),
         REFUSED, "nul"),
        ("Content-Type of 200 characters", lambda c: _post(c, "items", good, org,
                                                           content_type="application/json; x=" + "a" * 200),
         REFUSED, "content-type"),
        # paths
        ("unknown entity", lambda c: _post(c, "widgets", good, org), REFUSED, "widgets"),
        ("path traversal", lambda c: _post(c, "..%2F..%2Fetc%2Fpasswd", good, org), REFUSED, ""),
        ("dot dot path", lambda c: c.post("/api/zoho/webhooks/../items", data=good), REFUSED, ""),
        ("slug of 5,000 characters", lambda c: _post(c, "x" * 5000, good, org), REFUSED, ""),
        ("GET on a webhook path", lambda c: c.get("/api/zoho/webhooks/items"), REFUSED, ""),
        # ids
        ("no id", lambda c: _post(c, "items", with_item(item_id=_DROP), org), REFUSED, "item_id"),
        ("empty id", lambda c: _post(c, "items", with_item(item_id=""), org), REFUSED, "item_id"),
        ("blank id", lambda c: _post(c, "items", with_item(item_id="   "), org), REFUSED, "item_id"),
        ("id is an object", lambda c: _post(c, "items", with_item(item_id={"id": 1}), org), REFUSED, "digits"),
        ("id is a list", lambda c: _post(c, "items", with_item(item_id=[1]), org), REFUSED, "digits"),
        ("id is a boolean", lambda c: _post(c, "items", with_item(item_id=True), org), REFUSED, "digits"),
        ("id is a float", lambda c: _post(c, "items", good.replace(f'"{item["item_id"]}"'.encode(), b"1.5e3"), org),
         REFUSED, "digits"),
        ("id of 65 digits", lambda c: _post(c, "items", with_item(item_id="9" * 65), org), REFUSED, "digits"),
        ("id of letters", lambda c: _post(c, "items", with_item(item_id="abc"), org), REFUSED, "digits"),
        ("SQL in the id", lambda c: _post(c, "items", with_item(item_id="1; DROP TABLE products"), org),
         REFUSED, "digits"),
        ("Arabic digits in the id", lambda c: _post(c, "items", with_item(item_id="١٢٣"), org), REFUSED, "digits"),
        # organizations
        ("organization not configured", lambda c: _post(c, "items", good, "60009999999"), REFUSED, "not configured"),
        ("organization not digits", lambda c: _post(c, "items", good, "org'--"), REFUSED, "organization_id"),
        # times
        ("time 9999-12-31T23:59:59-1200", lambda c: _post(c, "items", with_item(
            last_modified_time="9999-12-31T23:59:59-1200"), org), REFUSED, "range"),
        ("time in 2999", lambda c: _post(c, "items", with_item(last_modified_time="2999-01-01T00:00:00+0000"), org),
         REFUSED, "window"),
        ("time in 1970", lambda c: _post(c, "items", with_item(last_modified_time="1970-01-01T00:00:00+0000"), org),
         REFUSED, "window"),
        ("time without an offset", lambda c: _post(c, "items", with_item(last_modified_time="2025-01-09T10:00:00"),
                                                   org), REFUSED, "offset"),
        ("time as a word", lambda c: _post(c, "items", with_item(last_modified_time="yesterday"), org),
         REFUSED, "zoho time"),
        ("time as a number", lambda c: _post(c, "items", with_item(last_modified_time=1736400000), org),
         REFUSED, "zoho time"),
        # values: stored, then dead-lettered with the field and the reason
        ("rate NaN", lambda c: _post(c, "items", with_item(rate="NaN"), org), DEAD, "rate"),
        ("rate sNaN", lambda c: _post(c, "items", with_item(rate="sNaN"), org), DEAD, "rate"),
        ("rate Infinity", lambda c: _post(c, "items", with_item(rate="Infinity"), org), DEAD, "rate"),
        ("rate is a word", lambda c: _post(c, "items", with_item(rate="cheap"), org), DEAD, "rate"),
        ("rate is a boolean", lambda c: _post(c, "items", with_item(rate=True), org), DEAD, "rate"),
        ("name is an object", lambda c: _post(c, "items", with_item(name={"en": "x"}), org), DEAD, "expected text"),
        ("no name: completed by a fetch", lambda c: _post(c, "items", with_item(name=_DROP), org), APPLIED, ""),
        ("invoice date with garbage", lambda c: _post(c, "invoices", with_invoice(date="2025-01-09garbage"), org),
         DEAD, "date"),
        ("invoice date day first", lambda c: _post(c, "invoices", with_invoice(date="09/01/2025"), org), DEAD, "date"),
        ("invoice total sNaN", lambda c: _post(c, "invoices", with_invoice(total="sNaN"), org), DEAD, "total"),
        # unusual but valid: applied
        ("Arabic name", lambda c: _post(c, "items", with_item(name="صابون زيت الزيتون"), org), APPLIED, ""),
        ("emoji name", lambda c: _post(c, "items", with_item(name="Soap 🧼✨"), org), APPLIED, ""),
        ("SQL-looking name", lambda c: _post(c, "items", with_item(name="'; DROP TABLE products; --"), org),
         APPLIED, ""),
        ("negative stock", lambda c: _post(c, "items", with_item(stock_on_hand="-5"), org), APPLIED, ""),
        ("huge rate", lambda c: _post(c, "items", with_item(rate="123456789012.99"), org), APPLIED, ""),
        ("unknown extra fields", lambda c: _post(c, "items", with_item(cf_new_field={"deep": [1, 2]}), org),
         APPLIED, ""),
        ("id with spaces", lambda c: _post(c, "items", with_item(item, item_id=f" {item['item_id']} ", name="Spaced"),
                                          org), APPLIED, ""),
    ]
    return cases


_BY_TOKEN = {"secret": None, "headers": {webhook_auth.TOKEN_HEADER: WEBHOOK_SECRET}}  # forms: the shared token


class _Drop:
    pass


_DROP = _Drop()


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_bad_input_corpus(worker, engine, database_url, redis_url, simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_WEBHOOK_MAX_BYTES="1048576"))
    client = create_app(settings).test_client()
    items = sim.simulator.store.records(org, "items")
    item, other = items[0], items[-1]
    cases = _corpus(items[:-1], sim.simulator.store.records(org, "invoices"), org)
    assert len(cases) >= 60

    outcomes = {}
    for name, send, expected, words in cases:
        before = _count(engine, inbox_events)
        resp = send(client)
        assert resp.status_code < 500, (name, resp.status_code, resp.get_data()[:300])
        if expected == REFUSED:
            assert 400 <= resp.status_code < 500, (name, resp.status_code)
            if resp.is_json:
                assert words.lower() in resp.get_json()["error"].lower(), (name, resp.get_json())
            else:
                assert resp.status_code in (404, 405), (name, resp.status_code)  # routing, before the app
            assert _count(engine, inbox_events) == before, f"{name}: stored although refused"
        else:
            assert resp.status_code == 202, (name, resp.status_code, resp.get_json())
            outcomes[resp.get_json()["event_id"]] = (name, expected, words)

    def finished():
        with engine.connect() as conn:
            rows = conn.execute(sa.select(inbox_events.c.id, inbox_events.c.status)
                                .where(inbox_events.c.id.in_(outcomes))).fetchall()
        return len(rows) == len(outcomes) and all(r.status in ("done", "dead") for r in rows) and rows

    rows = wait_for(finished, timeout=60, what="every stored bad input finished")
    with engine.connect() as conn:
        letters = {r.inbox_event_id: r for r in conn.execute(sa.select(dead_letters))}
    for row in rows:
        name, expected, words = outcomes[row.id]
        if expected == DEAD:
            assert row.status == "dead", name
            assert words.lower() in letters[row.id].error.lower(), (name, letters[row.id].error)
        else:
            assert row.status == "done", (name, letters.get(row.id) and letters[row.id].error)
    assert set(letters) == {eid for eid, (_, exp, _) in outcomes.items() if exp == DEAD}

    products = metadata.tables["products"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(products.c.zoho_item_id, products.c.name)
                              .where(products.c.zoho_item_id.like(f"%{item['item_id']}%"))).fetchall()
    assert len(stored) == 1 and stored[0].zoho_item_id == item["item_id"]  # spaces: the same record, one row

    start = time.monotonic()
    resp = _post(client, "items", _j({"item": other}), org)
    assert resp.status_code == 202
    wait_for(lambda: _status(engine, resp.get_json()["event_id"]) == "done", timeout=30, what="the next good webhook")
    harness.Report("bad-input corpus", sent=len(cases) + 1, dead_letters=len(letters),
                   converged_s=round(time.monotonic() - start, 1),
                   notes={"refused": sum(1 for c in cases if c[2] == REFUSED), "applied":
                          sum(1 for c in cases if c[2] == APPLIED)}).emit()


def _status(engine, event_id):
    with engine.connect() as conn:
        return conn.execute(sa.select(inbox_events.c.status).where(inbox_events.c.id == event_id)).scalar()
