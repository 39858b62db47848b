"""Each goal of ``make bench`` judged from the numbers a run measured.

A goal is met or not met at the median of the runs; it is ``None`` (shown as —) when its section
was not run, or ran smaller than the goal says (a spot run) and met the goal there.
"""

from __future__ import annotations

import statistics

NOT_MEASURED = "not measured in this run"
E2E_GOAL = "end to end at 200 webhooks/s for 60 s: p50 ≤ 100 ms, p99 ≤ 1 s, nothing left behind"
MEMORY_GOAL = "worker RSS across 100,000 events flat within 10 %"
SYNCMEM_GOAL = "a full sync of 100,000 records under 300 MB peak"
RESYNC_GOAL = "re-sync with nothing changed: ahead of dlt"

Goal = tuple[str, str, bool | None]


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def verdict(ok) -> str:
    return "—" if ok is None else ("met" if ok else "**not met**")


def every_202_stored(s: dict) -> bool:
    """Every 202 the receiver answered has its inbox row, saturated and at a fixed rate.

    wrk stops with up to 32 requests in flight: stored, their 202 never counted."""
    return all(a <= b <= a + 32 for a, b in s["matched"]) and not any(x["missing"] for x in s["fixed"])


def memory_mib(s: dict) -> list[float]:
    """The worker tree's RSS after each chunk of the memory section, in MiB."""
    return [x / 1024 for x in s["samples"]]


def memory_growth(mib: list[float]) -> float:
    """From the first chunk to the last, in per cent."""
    return (mib[-1] - mib[0]) / mib[0] * 100 if len(mib) > 1 else 0.0


def sync_ratios(s: dict) -> tuple[list[float], list[float]]:
    """TDS's rate over dlt's, run by run: (first syncs, re-syncs)."""
    r = s["results"]
    first = [a["rate"] / b["rate"] for a, b in zip(r["tds"], r["dlt"]) if b["rate"]]
    again = [a["rate"] / b["rate"] for a, b in zip(r["tds_again"], r["dlt_again"]) if b["rate"]]
    return first, again


def like_for_like(s: dict) -> bool:
    """Both sides read the same records with the same calls, run by run."""
    r = s["results"]
    return all(a["calls"] == b["calls"] and a["records"] == b["records"] == a["stored"] == b["stored"]
               for a, b in zip(r["tds"], r["dlt"]))


def goals(sections: dict) -> list[Goal]:
    """Each goal, what this run measured, and whether it is met (None: not measured), from the numbers."""
    out: list[Goal] = _receiver(sections.get("receiver"))
    for key, c in (("worker2", 2), ("worker4", 4)):
        out.append(_worker(sections.get(key), c))
    out += [_e2e(sections.get("e2e")), _memory(sections.get("memory")), _syncmem(sections.get("syncmem"))]
    return out + _sync(sections.get("sync"))


def _receiver(s: dict | None) -> list[Goal]:
    if not s:
        return [("receiver ≥ 0.7× the durable floor", NOT_MEASURED, None),
                ("receiver accept latency p99 ≤ 25 ms at a fixed 200 webhooks/s", NOT_MEASURED, None)]
    rate = {k: [x["rate"] for x in v] for k, v in s["results"].items()}
    ratio = median([a / b for a, b in zip(rate["tds"], rate["floor"]) if b])
    matched = every_202_stored(s)
    p99 = median([x["p99_ms"] for x in s["fixed"]])
    return [("receiver ≥ 0.7× the durable floor (same workers, saturating load)",
             f"{ratio:.2f}× (median run by run)", ratio >= 0.7),
            ("receiver: every 202 matches an inbox row", "yes" if matched else "no", matched),
            ("receiver accept latency p99 ≤ 25 ms at a fixed 200 webhooks/s", f"{p99:.1f} ms", p99 <= 25)]


def _worker(s: dict | None, concurrency: int) -> Goal:
    goal = f"worker ≥ 0.75× Celery's no-op rate at `-c {concurrency}`"
    if not s:
        return (goal, NOT_MEASURED, None)
    r = s["results"]
    ratio = median([a["rate"] / b["rate"] for a, b in zip(r["tds"], r["noop"]) if b["rate"]])
    return (goal, f"{ratio:.2f}× (median run by run)", ratio >= 0.75)


def _e2e(s: dict | None) -> Goal:
    if not s:
        return (E2E_GOAL, NOT_MEASURED, None)
    r = s["results"]
    p50, p99 = median([x["p50_ms"] for x in r]), median([x["p99_ms"] for x in r])
    left = sum(x["left"] for x in r) + sum(x["sent"] - x["accepted"] for x in r)
    full = s["rate"] >= 200 and s["seconds"] >= 60
    ok = p50 <= 100 and p99 <= 1000 and left == 0
    return (E2E_GOAL, f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, left behind or refused {left} "
                      f"({s['rate']}/s for {s['seconds']} s)", ok if full or not ok else None)


def _memory(s: dict | None) -> Goal:
    if not s or len(s["samples"]) <= 1:
        return (MEMORY_GOAL, NOT_MEASURED, None)
    mib = memory_mib(s)
    growth = memory_growth(mib)
    events = len(mib) * s["chunk"]
    ok = abs(growth) <= 10
    return (MEMORY_GOAL, f"{growth:+.1f} % across {events} events", ok if events >= 100_000 or not ok else None)


def _syncmem(s: dict | None) -> Goal:
    if not s:
        return (SYNCMEM_GOAL, NOT_MEASURED, None)
    peak = s["result"]["peak_rss_kib"] / 1024
    n = s["result"]["records"]
    ok = peak < 300
    return (SYNCMEM_GOAL, f"{peak:.0f} MiB for {n} records", ok if n >= 100_000 or not ok else None)


def _sync(s: dict | None) -> list[Goal]:
    if not s:
        return [("first full sync of items and contacts within 1.2× of dlt's rate", NOT_MEASURED, None),
                (RESYNC_GOAL, NOT_MEASURED, None)]
    first, again = sync_ratios(s)
    same = like_for_like(s)
    f, a = median(first), median(again)
    return [("first full sync of items and contacts within 1.2× of dlt's rate, same calls "
             "(TDS rate ≥ dlt rate / 1.2)",
             f"{f:.2f}× dlt's rate (median run by run; goal ≥ {1 / 1.2:.2f}×); same calls and records: "
             f"{'yes' if same else 'no'}", f >= 1 / 1.2 and same),
            (RESYNC_GOAL, f"{a:.2f}× dlt's rate (median run by run)", a > 1)]
