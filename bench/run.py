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

This module is the command line: it runs the sections asked for and writes the report. The
rest of ``bench/``, from the ground up: :mod:`bench.env` (the Redis db and the database the
bench claims, the machine), :mod:`bench.processes` (the servers and workers under test),
:mod:`bench.load` (webhooks, ``wrk``, the fixed-rate sender, a preloaded inbox),
:mod:`bench.webhookbench` and :mod:`bench.syncbench` (the sections), :mod:`bench.judge` (the
goals) and :mod:`bench.report` (docs/benchmarks.md).

    python -m bench.run [--runs 3] [--only receiver,worker,e2e,memory,sync,syncmem] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

from bench.env import ROOT, Env, load_average, machine
from bench.report import report
from bench.syncbench import bench_sync, bench_syncmem
from bench.webhookbench import bench_e2e, bench_memory, bench_receiver, bench_worker

SECTIONS = ("receiver", "worker", "e2e", "memory", "sync", "syncmem")


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
            sections["sync"] = bench_sync(env, args.runs, {"items": args.sync_items, "customers": args.sync_customers,
                                                           "vendors": args.sync_vendors})
        if "syncmem" in wanted:
            sections["syncmem"] = bench_syncmem(env, args.syncmem_records)
    text = report(sections, args, started)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
