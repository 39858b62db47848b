"""What the simulator counts: calls per endpoint, and the events tests and benchmarks look at."""

from __future__ import annotations

import threading
from collections import Counter

#: Event counts always present in :meth:`Counters.snapshot`.
EVENTS = ("token_refreshes", "webhooks_sent", "webhooks_failed", "faults", "throttled", "faults_429_retry_after",
          "faults_429")


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter = Counter()
        self._events: Counter = Counter()

    def call(self, key: str) -> None:
        with self._lock:
            self._calls[key] += 1

    def event(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._events[key] += n

    def snapshot(self) -> dict:
        """Calls per endpoint (``"GET /inventory/v1/items": 12``), ``api_calls_total`` and the events."""
        with self._lock:
            out = dict(self._calls)
            out["api_calls_total"] = sum(v for k, v in self._calls.items() if not k.startswith("POST /oauth"))
            for key in EVENTS:
                out[key] = self._events[key]
            return out

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._events.clear()
