"""``make bench``: TDS side by side with its baselines, on loopback, bounded, written to
``docs/benchmarks.md``.

Every section alternates TDS and its baseline run by run (three runs each by default) and
reports min / median / max and the ratio of the medians. Ratios are what is compared;
absolute numbers depend on the machine and how busy it is (the load average is written
with every section). The load generators run pinned to one core (``taskset -c 1``, one
``wrk`` thread) so they cannot take both cores from the servers.

Sections: ``receiver``, ``worker`` (``-c 2`` and ``-c 4``), ``e2e``, ``memory`` (the worker's),
``sync`` (TDS's full sync against dlt's ``rest_api`` source, :mod:`bench.syncbench`) and
``syncmem`` (the peak RSS of a large full sync). The report starts with the goals, each
judged from the numbers measured.

    python -m bench.run [--runs 3] [--only receiver,worker,e2e,memory,sync,syncmem] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
from pathlib import Path

from bench.env import ROOT, Env, load_average, machine
from bench.webhookbench import bench_e2e, bench_memory, bench_receiver, bench_worker

SECTIONS = ("receiver", "worker", "e2e", "memory", "sync", "syncmem")


# ------------------------------------------------------------------ the report


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))} / {fmt.format(max(values))}"


def ratios(mine: list[float], base: list[float]) -> str:
    """Run by run (each TDS run next to its own baseline run): min / median / max ratio."""
    return spread([a / b for a, b in zip(mine, base) if b], "{:.2f}").replace(" / ", "× / ") + "×"


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


NOT_MEASURED = "not measured in this run"


def _verdict(ok) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def goals(sections: dict) -> list[tuple[str, str, bool | None]]:
    """Each goal, what this run measured, and whether it is met (None: not measured), from the numbers."""
    from bench.syncbench import like_for_like, sync_ratios

    out: list[tuple[str, str, bool | None]] = []
    s = sections.get("receiver")
    if s:
        rate = {k: [x["rate"] for x in v] for k, v in s["results"].items()}
        ratio = median([a / b for a, b in zip(rate["tds"], rate["floor"]) if b])
        out.append(("receiver ≥ 0.7× the durable floor (same workers, saturating load)",
                    f"{ratio:.2f}× (median run by run)", ratio >= 0.7))
        matched = all(a <= b <= a + 32 for a, b in s["matched"]) and not any(x["missing"] for x in s["fixed"])
        out.append(("receiver: every 202 matches an inbox row", "yes" if matched else "no", matched))
        p99 = median([x["p99_ms"] for x in s["fixed"]])
        out.append(("receiver accept latency p99 ≤ 25 ms at a fixed 200 webhooks/s", f"{p99:.1f} ms", p99 <= 25))
    else:
        out += [("receiver ≥ 0.7× the durable floor", NOT_MEASURED, None),
                ("receiver accept latency p99 ≤ 25 ms at a fixed 200 webhooks/s", NOT_MEASURED, None)]
    for key, c in (("worker2", 2), ("worker4", 4)):
        s = sections.get(key)
        if s:
            r = s["results"]
            ratio = median([a["rate"] / b["rate"] for a, b in zip(r["tds"], r["noop"]) if b["rate"]])
            out.append((f"worker ≥ 0.75× Celery's no-op rate at `-c {c}`", f"{ratio:.2f}× (median run by run)",
                        ratio >= 0.75))
        else:
            out.append((f"worker ≥ 0.75× Celery's no-op rate at `-c {c}`", NOT_MEASURED, None))
    s = sections.get("e2e")
    if s:
        r = s["results"]
        p50, p99 = median([x["p50_ms"] for x in r]), median([x["p99_ms"] for x in r])
        left = sum(x["left"] for x in r) + sum(x["sent"] - x["accepted"] for x in r)
        full = s["rate"] >= 200 and s["seconds"] >= 60
        ok = p50 <= 100 and p99 <= 1000 and left == 0
        out.append(("end to end at 200 webhooks/s for 60 s: p50 ≤ 100 ms, p99 ≤ 1 s, nothing left behind",
                    f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, left behind or refused {left} "
                    f"({s['rate']}/s for {s['seconds']} s)", ok if full or not ok else None))
    else:
        out.append(("end to end at 200 webhooks/s for 60 s: p50 ≤ 100 ms, p99 ≤ 1 s, nothing left behind",
                    NOT_MEASURED, None))
    s = sections.get("memory")
    if s and len(s["samples"]) > 1:
        mib = [x / 1024 for x in s["samples"]]
        growth = (mib[-1] - mib[0]) / mib[0] * 100
        events = len(mib) * s["chunk"]
        ok = abs(growth) <= 10
        out.append(("worker RSS across 100,000 events flat within 10 %",
                    f"{growth:+.1f} % across {events} events", ok if events >= 100_000 or not ok else None))
    else:
        out.append(("worker RSS across 100,000 events flat within 10 %", NOT_MEASURED, None))
    s = sections.get("syncmem")
    if s:
        peak = s["result"]["peak_rss_kib"] / 1024
        n = s["result"]["records"]
        ok = peak < 300
        out.append(("a full sync of 100,000 records under 300 MB peak", f"{peak:.0f} MiB for {n} records",
                    ok if n >= 100_000 or not ok else None))
    else:
        out.append(("a full sync of 100,000 records under 300 MB peak", NOT_MEASURED, None))
    s = sections.get("sync")
    if s:
        first, again = sync_ratios(s)
        same = like_for_like(s)
        f, a = median(first), median(again)
        out.append(("first full sync of items and contacts within 1.2× of dlt's rate, same calls "
                    "(TDS rate ≥ dlt rate / 1.2)",
                    f"{f:.2f}× dlt's rate (median run by run; goal ≥ {1 / 1.2:.2f}×); same calls and records: "
                    f"{'yes' if same else 'no'}", f >= 1 / 1.2 and same))
        out.append(("re-sync with nothing changed: ahead of dlt", f"{a:.2f}× dlt's rate (median run by run)", a > 1))
    else:
        out += [("first full sync of items and contacts within 1.2× of dlt's rate", NOT_MEASURED, None),
                ("re-sync with nothing changed: ahead of dlt", NOT_MEASURED, None)]
    return out


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
        *(f"| {goal} | {value} | {_verdict(ok)} |" for goal, value, ok in goals(sections)),
        "",
    ]
    if "receiver" in sections:
        s = sections["receiver"]
        r = s["results"]
        rate = {k: [x["rate"] for x in v] for k, v in r.items()}
        lines += [
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
        # wrk stops with up to 32 requests in flight: stored, their 202 never counted
        matched = all(a <= b <= a + 32 for a, b in s["matched"]) and not any(x["missing"] for x in s["fixed"])
        lines += [
            "",
            f"Every 202 matches an inbox row: {'yes' if matched else 'NO'} (saturated: "
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
    for key in sorted(k for k in sections if k.startswith("worker")):
        s = sections[key]
        r = s["results"]
        lines += [
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
    if "e2e" in sections:
        s = sections["e2e"]
        r = s["results"]
        lines += [
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
    if "memory" in sections:
        s = sections["memory"]
        mib = [x / 1024 for x in s["samples"]]
        growth = (mib[-1] - mib[0]) / mib[0] * 100 if len(mib) > 1 else 0.0
        lines += [
            "## Worker memory",
            "",
            f"One worker `-c 2` (main process and its pool), {len(mib) * s['chunk']} item events in chunks of "
            f"{s['chunk']}, RSS of the process tree after each chunk: "
            f"{', '.join(f'{x:.0f}' for x in mib)} MiB; from the first chunk to the last: {growth:+.1f} %.",
            "",
        ]
    if "sync" in sections:
        from bench.syncbench import report_sync

        lines += report_sync(sections["sync"], spread, ratios)
    if "syncmem" in sections:
        from bench.syncbench import report_syncmem

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(SECTIONS))
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per receiver run")
    parser.add_argument("--events", type=int, default=1500, help="item events per worker run")
    parser.add_argument("--e2e-seconds", type=int, default=60)
    parser.add_argument("--e2e-runs", type=int, default=1)
    parser.add_argument("--memory-events", type=int, default=100_000, help="item events for the memory section")
    parser.add_argument("--sync-items", type=int, default=2218, help="items in the simulator for the sync section")
    parser.add_argument("--sync-customers", type=int, default=500)
    parser.add_argument("--sync-vendors", type=int, default=100)
    parser.add_argument("--syncmem-records", type=int, default=100_000, help="items synced by the syncmem section")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--note", default="", help="a line for the report (what else loaded the machine)")
    args = parser.parse_args(argv)
    given = [a for a in (sys.argv[1:] if argv is None else argv)]
    skip = {"--out", "--note"}
    shown = [a for i, a in enumerate(given) if a not in skip and (i == 0 or given[i - 1] not in skip)
             and not a.startswith(("--out=", "--note="))]
    args.command = " ".join(["python -m bench.run", *shown])
    wanted = set(filter(None, args.only.split(","))) or set(SECTIONS)
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    if "receiver" in wanted and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk (make bench does)")
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"bench: {machine()}; load average {load_average()}", flush=True)
    sections = {"_load_start": load_average()}
    with Env() as env:
        if "receiver" in wanted:
            sections["receiver"] = bench_receiver(env, args.runs, args.seconds)
        if "worker" in wanted:
            sections["worker2"] = bench_worker(env, args.runs, args.events, 2)
            sections["worker4"] = bench_worker(env, args.runs, args.events, 4)
        if "e2e" in wanted:
            sections["e2e"] = bench_e2e(env, args.e2e_runs, 200, args.e2e_seconds)
        if "memory" in wanted:
            sections["memory"] = bench_memory(env, args.memory_events)
        if "sync" in wanted:
            from bench.syncbench import bench_sync

            sections["sync"] = bench_sync(env, args.runs, {"items": args.sync_items, "customers": args.sync_customers,
                                                           "vendors": args.sync_vendors})
        if "syncmem" in wanted:
            from bench.syncbench import bench_syncmem

            sections["syncmem"] = bench_syncmem(env, args.syncmem_records)
    text = report(sections, args, started)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
