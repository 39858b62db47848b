"""The webhook sections of ``make bench``: the receiver, the worker (``-c 2`` and ``-c 4``), end
to end, and the worker's memory, each against its baseline run beside it (the sync sections
are :mod:`bench.syncbench`). Each returns its numbers for :mod:`bench.judge` and
:mod:`bench.report`.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from bench.env import Env, load_average
from bench.load import fixed_rate, next_tag, pct, preload_noop, preload_tds, write_bodies, wrk
from bench.processes import free_port, http_ready, process, receiver_cmd, rss_of_tree, worker_cmd


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
