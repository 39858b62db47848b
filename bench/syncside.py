"""One side of the sync benchmark, in a process of its own so its time and memory are its own.

    python -m bench.syncside tds ENTITIES          # what ``tds sync --full --entities ENTITIES`` runs
    python -m bench.syncside dlt ENTITIES          # dlt's ``rest_api`` source, merge, same calls

Both read the simulator at ``ZOHO_API_URL`` for ``ZOHO_ORGANIZATION_ID``; TDS writes to
``TDS_DATABASE_URL``, dlt to ``BENCH_DLT_DSN`` (another database on the same server). The
clock starts after the imports and stops when the last record is committed. Prints one JSON
line: ``{"seconds", "records", "peak_rss_kib", ...}`` (``peak_rss_kib``: :func:`peak_rss_kib`).
"""

from __future__ import annotations

import json
import os
import sys
import time

ORG_ENV = "ZOHO_ORGANIZATION_ID"


def peak_rss_kib() -> int:
    """This process's peak RSS: ``VmHWM``, the high-water mark of its own memory since exec.

    Not ``ru_maxrss``: Linux carries that over exec, so a child started by a big parent
    reports the parent's size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def run_tds(entities: list[str]) -> dict:
    from tds import registry, services
    from tds.config import get_settings
    from tds.runs import Mode
    from tds.sync import availability
    from tds.zoho.client import ZohoClient

    settings = get_settings()
    org = os.environ[ORG_ENV]
    client = ZohoClient(settings, redis=services.redis_client(settings), budget_wait=60)
    records, calls, per_entity = 0, 0, {}
    started = time.perf_counter()
    for name in entities:
        result = availability.sync_entity(settings, registry.get(name), org, client, mode=Mode.FULL,
                                          redis=services.redis_client(settings))
        records += result.records_seen
        calls += result.api_calls
        per_entity[name] = {"seen": result.records_seen, "written": result.records_written,
                            "unchanged": result.records_unchanged, "failed": result.records_failed}
    return {"seconds": time.perf_counter() - started, "records": records, "api_calls": calls,
            "entities": per_entity}


def dlt_source(base_url: str, token: str, org: str, entities: list[str]):
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from dlt.sources.rest_api import rest_api_resources

    headers = {"Authorization": f"Zoho-oauthtoken {token}"}

    def pages():
        return PageNumberPaginator(base_page=1, page_param="page", total_path=None,
                                   has_more_path="page_context.has_more_page")

    def listing(name: str, path: str, params: dict, key: str, primary_key: str) -> dict:
        return {"name": name, "selected": False,
                "endpoint": {"path": path, "params": {"organization_id": org, "per_page": 200, **params},
                             "data_selector": key, "paginator": pages()},
                "primary_key": primary_key}

    resources = []
    for kind in ("customer", "vendor"):
        if f"{kind}s" not in entities:
            continue
        resources.append(listing(f"{kind}_list", "books/v3/contacts",
                                 {"contact_type": kind, "filter_by": "Status.All"}, "contacts", "contact_id"))
        # one detail call per contact, as TDS makes: Zoho has no bulk contact endpoint
        resources.append({"name": f"{kind}s", "write_disposition": "merge", "primary_key": "contact_id",
                          "endpoint": {"path": "books/v3/contacts/{resources.%s_list.contact_id}" % kind,
                                       "params": {"organization_id": org}, "data_selector": "contact",
                                       "paginator": "single_page"}})
    if "items" in entities:
        resources.append(listing("item_list", "inventory/v1/items", {"filter_by": "Status.All"}, "items", "item_id"))
    config = {"client": {"base_url": base_url.rstrip("/") + "/", "headers": headers},
              "resource_defaults": {"write_disposition": "merge"}, "resources": resources}
    made = {r.name: r for r in rest_api_resources(config)}
    out = [made[f"{k}s"] for k in ("customer", "vendor") if f"{k}s" in made]
    if "items" in entities:
        # the same bulk detail calls TDS makes: /itemdetails, 100 ids a call, per list page
        client = RESTClient(base_url=base_url.rstrip("/") + "/", headers=headers)

        @dlt.transformer(name="items", data_from=made["item_list"], write_disposition="merge", primary_key="item_id")
        def items(page):
            ids = [str(row["item_id"]) for row in page]
            for start in range(0, len(ids), 100):
                body = client.get("inventory/v1/itemdetails",
                                  params={"organization_id": org, "item_ids": ",".join(ids[start:start + 100])}).json()
                yield body.get("items") or []

        out.append(items)
    return out


def run_dlt(entities: list[str]) -> dict:
    import dlt

    org = os.environ[ORG_ENV]
    dsn = os.environ["BENCH_DLT_DSN"]
    pipeline = dlt.pipeline(pipeline_name=os.environ.get("BENCH_DLT_PIPELINE", "bench_zoho"),
                            pipelines_dir=os.environ.get("BENCH_DLT_DIR"),
                            destination=dlt.destinations.postgres(dsn), dataset_name="zoho")
    started = time.perf_counter()
    info = pipeline.run(dlt_source(os.environ["ZOHO_API_URL"], os.environ["BENCH_ZOHO_TOKEN"], org, entities))
    seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    per_entity = {name: counts.get(name, 0) for name in entities}
    return {"seconds": seconds, "records": sum(per_entity.values()), "entities": per_entity}


def main(argv: list[str]) -> None:
    side, entities = argv[0], argv[1].split(",")
    if os.environ.get("BENCH_TRACEMALLOC"):  # where the memory goes: the biggest holders, on stderr
        import tracemalloc

        tracemalloc.start(int(os.environ["BENCH_TRACEMALLOC"]))
    result = run_tds(entities) if side == "tds" else run_dlt(entities)
    if os.environ.get("BENCH_TRACEMALLOC"):
        current, peak = tracemalloc.get_traced_memory()
        print(f"python heap: {current / 1048576:.1f} MiB now, {peak / 1048576:.1f} MiB at the peak", file=sys.stderr)
        for stat in tracemalloc.take_snapshot().statistics("traceback")[:12]:
            print(f"{stat.size / 1048576:.1f} MiB in {stat.count} blocks", *stat.traceback.format()[-8:],
                  sep="\n  ", file=sys.stderr)
    result["peak_rss_kib"] = peak_rss_kib()
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
