"""The report ``make bench`` writes to docs/benchmarks.md: the machine and the run, the goals as
:mod:`bench.judge` judges them, one part per section measured, ``bench/notes.md``, and the
commands that reproduce it.

Every number is min / median / max over the runs (:func:`spread`); a ratio is taken run by run,
each TDS run against the baseline run beside it (:func:`ratios`).
"""

from __future__ import annotations

import statistics

from bench.env import ROOT, load_average, machine
from bench.judge import every_202_stored, goals, like_for_like, median, memory_growth, memory_mib, sync_ratios, verdict


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))} / {fmt.format(max(values))}"


def ratios(mine: list[float], base: list[float]) -> str:
    """Run by run (each TDS run next to its own baseline run): min / median / max ratio."""
    return spread([a / b for a, b in zip(mine, base) if b], "{:.2f}").replace(" / ", "× / ") + "×"


def report(sections: dict, args, started: str) -> str:
    command = args.command
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. Every number is "
        "min / median / max over alternating runs; the ratios (each run against the baseline run next "
        "to it) are what to compare: the machine is shared, and the absolute numbers move with how busy it is.",
        "",
        f"- Machine: {machine()}",
        f"- Run: {started}, `{command}`; load average at the start {sections.get('_load_start', '?')}, "
        f"at the end {load_average()}",
        *([f"- Note: {args.note}"] if args.note else []),
        "- Load generators pinned to core 1 (`taskset -c 1`) so they cannot take both cores from the servers: "
        "`wrk -t1 -c32 --latency -s bench/webhooks.lua` (pre-signed ~1.5 KB item webhooks, distinct ids), and "
        "`bench/loadgen.py` for fixed rates (open loop: latency counts from when a request was due).",
        "",
        "## Goals",
        "",
        "Judged from the numbers below (medians of the runs); \u2014 means not measured in this run, or "
        "measured smaller than the goal says (a spot run), and met there.",
        "",
        "| goal | measured | status |",
        "|---|---|---|",
        *(f"| {goal} | {value} | {verdict(ok)} |" for goal, value, ok in goals(sections)),
        "",
    ]
    if "receiver" in sections:
        lines += report_receiver(sections["receiver"])
    for key in sorted(k for k in sections if k.startswith("worker")):
        lines += report_worker(sections[key])
    if "e2e" in sections:
        lines += report_e2e(sections["e2e"])
    if "memory" in sections:
        lines += report_memory(sections["memory"])
    if "sync" in sections:
        lines += report_sync(sections["sync"])
    if "syncmem" in sections:
        lines += report_syncmem(sections["syncmem"])
    notes = ROOT / "bench" / "notes.md"
    if notes.is_file():  # what the numbers are compared with, what was changed, what is open
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    lines += ["## Commands", "", "```",
              "make bench            # installs .[test,bench] (dlt, py-spy) and wrk, then every section:",
              "python -m bench.run --runs 3",
              "",
              "# this report:",
              command,
              "",
              "# spot runs of one section",
              "python -m bench.run --runs 1 --only receiver --seconds 4",
              "python -m bench.run --runs 1 --only worker --events 600",
              "python -m bench.run --only e2e --e2e-seconds 20",
              "python -m bench.run --only memory --memory-events 6000",
              "python -m bench.run --runs 1 --only sync",
              "python -m bench.run --only syncmem --syncmem-records 20000",
              "```", ""]
    return "\n".join(lines)


def report_receiver(s: dict) -> list[str]:
    r = s["results"]
    rate = {k: [x["rate"] for x in v] for k, v in r.items()}
    lines = [
        "## Receiver",
        "",
        f"gunicorn, 2 workers each (sync workers for the baselines; `tds receiver` its own gthread workers, 8 "
        f"threads each), saturated by wrk for {s['seconds']} s per run; load average "
        f"after: {s['load']}.",
        "",
        "| app | accepted/s | p50 ms | p99 ms | ratio to durable floor, run by run |",
        "|---|---|---|---|---|",
    ]
    for kind, label in (("lpush", "bare LPUSH (Flask + Redis)"),
                        ("floor", "durable floor (psycopg2 INSERT + COMMIT, one LPUSH)"),
                        ("tds", "`tds receiver`")):
        lines.append(f"| {label} | {spread(rate[kind])} | {spread([x['p50_ms'] for x in r[kind]], '{:.1f}')} | "
                     f"{spread([x['p99_ms'] for x in r[kind]], '{:.1f}')} | "
                     f"{ratios(rate[kind], rate['floor'])} |")
    return lines + [
        "",
        f"Every 202 matches an inbox row: {'yes' if every_202_stored(s) else 'NO'} (saturated: "
        f"{', '.join(f'{a} accepted / {b} stored' for a, b in s['matched'])}, the difference being requests "
        "in flight when wrk stopped; fixed rate: every event id answered has its row, missing "
        f"{', '.join(str(x['missing']) for x in s['fixed'])}).",
        "",
        "Fixed 200 webhooks/s for 10 s against `tds receiver` (no worker running): accept latency p50 "
        f"{spread([x['p50_ms'] for x in s['fixed']], '{:.1f}')} ms, p99 "
        f"{spread([x['p99_ms'] for x in s['fixed']], '{:.1f}')} ms; accepted "
        f"{', '.join(str(x['accepted']) + '/' + str(x['sent']) for x in s['fixed'])}.",
        "",
    ]


def report_worker(s: dict) -> list[str]:
    r = s["results"]
    return [
        f"## Worker, `-c {s['concurrency']}`",
        "",
        f"{s['events']} item webhooks preloaded in the inbox and their messages in Redis, then one worker "
        f"(`celery -A tasks worker -E -Q tds.items -c {s['concurrency']}`) started; the rate is from the first "
        "to the last `processed_at`. Baseline: Celery no-op tasks (each one pipelined Redis round trip to "
        f"count itself), same Redis, same settings, 3× as many; load average after: {s['load']}.",
        "",
        "| worker | events/s | ratio to no-op, run by run |",
        "|---|---|---|",
        f"| Celery no-op | {spread([x['rate'] for x in r['noop']])} | 1.00× |",
        f"| TDS item events | {spread([x['rate'] for x in r['tds']])} | "
        f"{ratios([x['rate'] for x in r['tds']], [x['rate'] for x in r['noop']])} |",
        "",
        f"All applied: {', '.join(str(x['done']) + '/' + str(x['sent']) for x in r['tds'])}.",
        "",
    ]


def report_e2e(s: dict) -> list[str]:
    r = s["results"]
    return [
        "## End to end",
        "",
        f"`tds receiver` (2 workers) and `tds` worker `-c 2` together, {s['rate']} webhooks/s for "
        f"{s['seconds']} s; latency from when a webhook was due to its `processed_at`; load average after: "
        f"{s['load']}.",
        "",
        "| measure | min / median / max |",
        "|---|---|",
        f"| accepted of sent | {', '.join(str(x['accepted']) + '/' + str(x['sent']) for x in r)} |",
        f"| left behind (accepted, not done 120 s later) | {', '.join(str(x['left']) for x in r)} |",
        f"| accept p50 ms | {spread([x['accept_p50_ms'] for x in r], '{:.1f}')} |",
        f"| accept p99 ms | {spread([x['accept_p99_ms'] for x in r], '{:.1f}')} |",
        f"| end to end p50 ms | {spread([x['p50_ms'] for x in r], '{:.0f}')} |",
        f"| end to end p99 ms | {spread([x['p99_ms'] for x in r], '{:.0f}')} |",
        "",
    ]


def report_memory(s: dict) -> list[str]:
    mib = memory_mib(s)
    return [
        "## Worker memory",
        "",
        f"One worker `-c 2` (main process and its pool), {len(mib) * s['chunk']} item events in chunks of "
        f"{s['chunk']}, RSS of the process tree after each chunk: "
        f"{', '.join(f'{x:.0f}' for x in mib)} MiB; from the first chunk to the last: {memory_growth(mib):+.1f} %.",
        "",
    ]


def _fmt_ratios(values: list[float]) -> str:
    if not values:
        return "n/a"
    return " / ".join(f"{v:.2f}×" for v in (min(values), median(values), max(values))) + " (min / median / max)"


def report_sync(s: dict) -> list[str]:
    r = s["results"]
    counts = s["counts"]
    first, again = sync_ratios(s)

    def row(label, key):
        runs = r[key]
        return (f"| {label} | {spread([x['rate'] for x in runs])} | {spread([x['seconds'] for x in runs], '{:.2f}')} | "
                f"{', '.join(str(x['records']) for x in runs)} | {', '.join(str(x['calls']['total']) for x in runs)} | "
                f"{spread([x['peak_rss_kib'] / 1024 for x in runs])} |")

    calls = r["tds"][0]["calls"] if r["tds"] else {}
    again_calls = r["tds_again"][0]["calls"] if r["tds_again"] else {}
    dlt_again_calls = r["dlt_again"][0]["calls"] if r["dlt_again"] else {}
    per_endpoint = ", ".join(f"`{key.split(' ', 1)[1]}` {n}" for key, n in calls.items() if key != "total")
    return [
        "## Full sync against dlt",
        "",
        f"Items, customers and vendors from the simulator ({counts.get('items')} items, {counts.get('customers')} "
        f"customers, {counts.get('vendors')} vendors; one organization; no rate limit, no faults, no webhooks), "
        "each side in a process of its own, against a fresh database on the same PostgreSQL server, TDS and dlt "
        "alternating which goes first; the clock runs from after the imports to the last commit. Load average "
        f"after: {s['load']}.",
        "",
        "- **TDS**: what `tds sync --full --entities items,customers,vendors` runs (`tds.availability.sync_entity`, "
        "full mode, the CLI's Zoho client), into TDS's own tables, with the change log. The two warehouses items "
        "refer to are synced before the clock starts, as a deployment has them.",
        "- **dlt** 1.31 `rest_api` source, `write_disposition=merge` on the Zoho ids, into the `zoho` schema of "
        "a database of its own, with the simulator's access token as its `Authorization: Zoho-oauthtoken` "
        "header (no OAuth). The same lists (`/inventory/v1/items`, `/books/v3/contacts` per contact type, 200 a "
        "page, the same `page_context.has_more_page` stop) and the same detail calls: a child resource "
        "resolving `{contact_id}` from each contact list row (`/books/v3/contacts/{id}`, one call per contact, "
        "as TDS makes; Zoho has no bulk contact endpoint), and for items a transformer on each list page calling "
        "`/inventory/v1/itemdetails` with 100 ids a call, as TDS does. dlt loads only the detail records "
        "(the list resources are not selected), as TDS writes them.",
        "- **Like for like**: the simulator counts every call per endpoint for each run; the records are "
        "counted in each side's tables after the run. "
        + ("Calls and records were the same on both sides in every run: "
           f"{per_endpoint}."
           if like_for_like(s) else "**Calls or records differed in some run: see the table.**"),
        "- **Re-sync, nothing changed**: TDS runs the same full sync again: it reads the list pages, finds every "
        "record stored at the Zoho time and with the fields its list row shows, and fetches no details "
        f"({again_calls.get('total', '?')} calls). dlt runs its pipeline again and re-reads every list and every "
        f"detail ({dlt_again_calls.get('total', '?')} calls), merging rows that did not change.",
        "",
        "| run | records/s | seconds | records | API calls | peak RSS MiB |",
        "|---|---|---|---|---|---|",
        row("TDS first sync", "tds"),
        row("dlt first sync", "dlt"),
        row("TDS re-sync, nothing changed", "tds_again"),
        row("dlt re-sync, nothing changed", "dlt_again"),
        "",
        f"TDS's rate over dlt's, run by run: first sync {_fmt_ratios(first)}; re-sync {_fmt_ratios(again)}.",
        "",
    ]


def report_syncmem(s: dict) -> list[str]:
    r = s["result"]
    sampled = max((x[1] for x in r.get("rss_samples", ())), default=0)
    return [
        "## Sync memory",
        "",
        f"One full sync of {s['records']} items (with their details, 100 ids a call) from the simulator, in a "
        "process of its own (`python -m bench.syncside tds items`, what `tds sync --full --entities items` runs); "
        f"peak RSS of that process: **{r['peak_rss_kib'] / 1024:.0f} MiB** (`VmHWM`; sampled from `/proc` "
        f"every half second, the highest was {sampled:.0f} MiB); "
        f"{r['records']} records in {r['seconds']:.0f} s ({r['rate']:.0f}/s), {r['calls']['total']} API calls, "
        f"{r['stored']} rows stored. Load average after: {s['load']}.",
        "",
    ]
