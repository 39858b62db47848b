"""A fixed-rate (open-loop) webhook sender: request *i* is due at ``start + i / rate`` and
its latency counts from that moment, so a stalled server cannot hide its queue (no
coordinated omission). Run pinned to one core by :mod:`bench.load`; prints one JSON line.

    python -m bench.loadgen URL FILE RATE SECONDS
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def main(url: str, path: str, rate: float, seconds: float, threads: int = 24) -> None:
    lines = [line.rstrip("\n").split("\t", 1) for line in open(path, encoding="utf-8")]
    total = min(len(lines), int(rate * seconds))
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lock = threading.Lock()
    state = {"next": 0}
    results: list[tuple[float, float, int, int | None]] = []  # (due, latency, status, event id)
    start = time.time() + 0.2

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= total:
                return
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            sig, body = lines[i]
            try:
                conn.request("POST", target, body=body.encode(), headers={
                    "Content-Type": "application/json", "X-Zoho-Webhook-Signature": sig})
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status, data = 0, b""
            latency = time.time() - due
            event_id = None
            if status == 202:
                try:
                    event_id = json.loads(data).get("event_id")
                except ValueError:
                    pass
            with lock:
                results.append((due, latency, status, event_id))

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps({"sent": total, "results": results}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
