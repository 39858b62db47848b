"""The sync benchmark's machinery, at a tiny scale: both sides read the same records with the
same calls, and the report says so. No timing is asserted."""

from __future__ import annotations

import os
import types
import uuid

import pytest

pytest.importorskip("dlt", reason="the bench extra (pip install -e '.[bench]') brings dlt")

from bench import syncbench  # noqa: E402
from bench.env import ROOT  # noqa: E402
from bench.judge import like_for_like  # noqa: E402
from bench.report import report_sync  # noqa: E402


@pytest.fixture
def bench_env(redis_url, tmp_path):
    """What :class:`bench.syncbench.SyncSide` needs of :class:`bench.env.Env`, on the test's Redis db."""
    return types.SimpleNamespace(
        db=f"tds_benchtest_{os.getpid()}_{uuid.uuid4().hex[:4]}", tmp=tmp_path,
        vars={**os.environ, "TDS_REDIS_URL": redis_url, "TDS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
              "ZOHO_WEBHOOK_SECRET": "BenchWebhookSecret123"})


def test_both_sides_load_the_same_records_with_the_same_calls(bench_env):
    counts = {"items": 210, "customers": 4, "vendors": 2}  # two list pages of items, four detail calls
    section = syncbench.bench_sync(bench_env, 1, counts)
    r = section["results"]
    tds, dlt, tds_again, dlt_again = r["tds"][0], r["dlt"][0], r["tds_again"][0], r["dlt_again"][0]

    assert tds["records"] == dlt["records"] == tds["stored"] == dlt["stored"] == 216
    assert tds["calls"] == dlt["calls"] == {
        "GET /inventory/v1/items": 2, "GET /inventory/v1/itemdetails": 3, "GET /books/v3/contacts": 2,
        "GET /books/v3/contacts/<id>": 6, "total": 13}
    # nothing changed: TDS reads the lists only, dlt reads everything again
    assert tds_again["calls"] == {"GET /inventory/v1/items": 2, "GET /books/v3/contacts": 2, "total": 4}
    assert dlt_again["calls"] == dlt["calls"]
    assert tds_again["entities"]["items"]["unchanged"] == 210 and tds_again["stored"] == 216
    assert dlt_again["stored"] == 216  # merged on the Zoho ids, not appended
    assert like_for_like(section)

    text = "\n".join(report_sync(section))
    assert "## Full sync against dlt" in text and "Calls and records were the same on both sides" in text
