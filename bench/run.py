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
import time
from pathlib import Path

import sqlalchemy as sa

from bench.env import ROOT, Env, load_average, machine
from bench.load import fixed_rate, next_tag, pct, preload_noop, preload_tds, write_bodies, wrk
from bench.processes import free_port, http_ready, process, receiver_cmd, rss_of_tree, worker_cmd

SECTIONS = ("receiver", "worker", "e2e", "memory", "sync", "syncmem")


# ------------------------------------------------------------------ receiver


def inbox_count(env: Env, tag: str) -> int:
    with env.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM tds_inbox_events WHERE zoho_id LIKE :p"),
                            {"p": f"9{tag}%"}).scalar()


def bench_receiver(env: Env, runs: int, seconds: int) -> dict:
    kinds = ("lpush", "floor", "tds")
    results = {k: [] for k in kinds}
    fixed = []
    matched = []
    for run in range(runs):
        for kind in kinds:
            tag = next_tag()
            bodies = write_bodies(env, tag, 4000 * seconds if kind == "lpush" else 1500 * seconds)
            port = free_port()
            with process(env, receiver_cmd(kind, port), ready=http_ready(port)):
                time.sleep(1)
                r = wrk(env, port, bodies, seconds)
                if kind == "tds":
                    stored = inbox_count(env, tag)
                    matched.append((r["accepted"], stored))
                    r["stored"] = stored
                    ftag = next_tag()
                    f = fixed_rate(env, port, write_bodies(env, ftag, 200 * 10), 200, 10)
                    f["missing"] = missing_rows(env, [x[3] for x in f.pop("results") if x[2] == 202])
                    fixed.append(f)
            results[kind].append(r)
            print(f"receiver run {run + 1} {kind}: {r['rate']:.0f}/s p50 {r['p50_ms']:.1f} ms "
                  f"p99 {r['p99_ms']:.1f} ms", flush=True)
    return {"results": results, "fixed": fixed, "matched": matched, "load": load_average(), "seconds": seconds}


def missing_rows(env: Env, ids: list) -> int:
    """How many of the event ids answered with a 202 have no inbox row."""
    if not ids:
        return 0
    with env.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM tds_inbox_events WHERE id = ANY(:ids)"),
                             {"ids": [int(i) for i in ids]}).scalar()
    return len(set(ids)) - found


# ------------------------------------------------------------------ worker


def tds_rate(env: Env, ids: list[int], timeout: float) -> tuple[float, int]:
    deadline = time.time() + timeout
    q = sa.text("SELECT count(*) FILTER (WHERE status = 'done'), min(processed_at), max(processed_at) "
                "FROM tds_inbox_events WHERE id BETWEEN :lo AND :hi")
    while True:
        with env.engine.connect() as conn:
            done, first, last = conn.execute(q, {"lo": min(ids), "hi": max(ids)}).first()
        if done >= len(ids) or time.time() > deadline:
            break
        time.sleep(0.5)
    span = (last - first).total_seconds() if first and last and done > 1 else float("nan")
    return (done - 1) / span if span else float("nan"), done


def noop_rate(env: Env, n: int, timeout: float) -> tuple[float, int]:
    from bench.apps import NOOP_COUNTER

    deadline = time.time() + timeout
    while int(env.redis.get(NOOP_COUNTER) or 0) < n and time.time() < deadline:
        time.sleep(0.2)
    done = int(env.redis.get(NOOP_COUNTER) or 0)
    first, last = (float(env.redis.get(NOOP_COUNTER + k) or 0) for k in (":first", ":last"))
    return ((done - 1) / (last - first) if last > first else float("nan")), done


def bench_worker(env: Env, runs: int, events: int, concurrency: int) -> dict:
    results = {"noop": [], "tds": []}
    for run in range(runs):
        preload_noop(env, events * 3)
        with process(env, worker_cmd("noop", concurrency)):
            rate, done = noop_rate(env, events * 3, timeout=120)
        results["noop"].append({"rate": rate, "done": done, "sent": events * 3})
        ids = preload_tds(env, next_tag(), events)
        with process(env, worker_cmd("tds", concurrency)):
            rate, done = tds_rate(env, ids, timeout=300)
        results["tds"].append({"rate": rate, "done": done, "sent": events})
        print(f"worker -c {concurrency} run {run + 1}: noop {results['noop'][-1]['rate']:.0f}/s, "
              f"tds {rate:.0f}/s ({done}/{events})", flush=True)
    return {"results": results, "load": load_average(), "events": events, "concurrency": concurrency}


# ------------------------------------------------------------------ end to end


def bench_e2e(env: Env, runs: int, rate: int, seconds: int) -> dict:
    out = []
    for run in range(runs):
        port = free_port()
        tag = next_tag()
        bodies = write_bodies(env, tag, rate * seconds)
        with process(env, worker_cmd("tds", 2)), process(env, receiver_cmd("tds", port), ready=http_ready(port)):
            time.sleep(1)
            sent = fixed_rate(env, port, bodies, rate, seconds)
            ids = {r[3]: r[0] for r in sent["results"] if r[3] is not None}
            deadline = time.time() + 120
            while True:
                with env.engine.connect() as conn:
                    rows = conn.execute(sa.text(
                        "SELECT id, extract(epoch FROM processed_at) FROM tds_inbox_events "
                        "WHERE zoho_id LIKE :p AND status = 'done'"), {"p": f"9{tag}%"}).all()
                if len(rows) >= len(ids) or time.time() > deadline:
                    break
                time.sleep(0.5)
        e2e = [(float(done) - ids[eid]) * 1000 for eid, done in rows if eid in ids]
        result = {"sent": sent["sent"], "accepted": sent["accepted"], "done": len(rows),
                  "left": sent["accepted"] - len(rows), "accept_p50_ms": sent["p50_ms"],
                  "accept_p99_ms": sent["p99_ms"], "p50_ms": pct(e2e, 50), "p99_ms": pct(e2e, 99)}
        out.append(result)
        print(f"e2e run {run + 1}: {result}", flush=True)
    return {"results": out, "load": load_average(), "rate": rate, "seconds": seconds}


# ------------------------------------------------------------------ memory


def bench_memory(env: Env, events: int) -> dict:
    chunk = max(1000, events // 20)  # twenty samples, the first after a warm-up chunk
    samples = []
    with process(env, worker_cmd("tds", 2)) as proc:
        for _ in range(max(1, events // chunk)):
            ids = preload_tds(env, next_tag(), chunk)
            tds_rate(env, ids, timeout=300)
            samples.append(rss_of_tree(proc.pid))
            print(f"memory: {len(samples) * chunk} events, worker tree RSS {samples[-1] // 1024} MiB", flush=True)
    return {"samples": samples, "chunk": chunk, "load": load_average()}


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
