"""A full sync reads the next list page while it writes this one, and stops reading when the
writing stops."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tds import registry
from tds.models import sync_runs
from tds.sync import synchronizer as sync

WAREHOUSES = registry.get("warehouses")  # no detail calls: the list page is what is written
ORG = "60001234567"


class PagedClient:
    """A Zoho client with ``pages`` list pages of one warehouse each; says which it was asked for."""

    def __init__(self, pages: int):
        self.pages = pages
        self.asked: list[int] = []
        self.second_asked = threading.Event()

    def iter_pages(self, entity, organization_id, params=None, per_page=200):
        for n in range(1, self.pages + 1):
            self.asked.append(n)
            if n == 2:
                self.second_asked.set()
            yield [{"warehouse_id": f"9{n:05d}", "warehouse_name": f"W{n}", "status": "active"}]


def _last_run(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc())).first()


def test_the_next_page_is_read_while_this_one_is_written(engine, settings, redis_client, monkeypatch):
    client = PagedClient(3)
    real_write = sync.sql_sink.write
    overlapped = []

    def write(conn, mapped, origin=None):
        if not overlapped:  # the first page's transaction: page 2 is asked for meanwhile
            overlapped.append(client.second_asked.wait(timeout=10))
        return real_write(conn, mapped, origin)

    monkeypatch.setattr(sync.sql_sink, "write", write)
    result = sync.full_sync(settings, WAREHOUSES, ORG, client, redis=redis_client)
    assert overlapped == [True]
    assert result.records_written == 3 and result.pages == 3


def test_a_failed_write_stops_the_reader(engine, settings, redis_client, monkeypatch):
    client = PagedClient(50)

    def write(conn, mapped, origin=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sync.sql_sink, "write", write)
    with pytest.raises(RuntimeError, match="disk full"):
        sync.full_sync(settings, WAREHOUSES, ORG, client, redis=redis_client)
    # the page written, the one waiting, the one the reader held when it was told to stop
    assert len(client.asked) <= 2 + sync.PAGES_AHEAD
    assert _last_run(engine).status == "failed"
