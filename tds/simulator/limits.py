"""Zoho's per-organization budgets: calls per minute (code 44), per day (45), in progress (1070).

Every Books/Inventory response carries ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and
``X-Rate-Limit-Reset`` (seconds until the organization's midnight); without a daily limit the
limit shown is :data:`UNLIMITED_DAILY`. A limit of 0 is off.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from datetime import datetime, timedelta, timezone

from .config import SimulatorConfig
from .counters import Counters

#: Shown in ``X-Rate-Limit-Limit`` while no daily limit is configured.
UNLIMITED_DAILY = 1_000_000

MSG_44 = ("For security reasons your organization has been blocked as it have exceeded the maximum number of "
          "requests per minute that can originate from an organization.")
MSG_1070 = "You have reached the maximum number of in process requests allowed. Kindly try again after some time."


class Limits:
    def __init__(self, config: SimulatorConfig, counters: Counters, tz: timezone):
        self.config = config
        self.counters = counters
        self.tz = tz
        self._lock = threading.Lock()
        self._inflight: Counter = Counter()
        self._minute: dict[str, deque] = {}
        self._daily: Counter = Counter()
        self._day: str | None = None

    def admit(self, org_id: str) -> tuple[int, dict] | None:
        """Take one call from the organization's budgets, or (status, body) of the limit that refuses it.

        An admitted call holds a concurrency slot until :meth:`release`.
        """
        now = time.time()
        with self._lock:
            day = datetime.now(self.tz).strftime("%Y-%m-%d")
            if day != self._day:
                self._day = day
                self._daily.clear()
            refused = self._refusal(org_id, now)
            if refused is not None:
                self.counters.event("throttled")
                return refused
            self._inflight[org_id] += 1
            self._minute.setdefault(org_id, deque()).append(now)
            self._daily[org_id] += 1
            return None

    def _refusal(self, org_id: str, now: float) -> tuple[int, dict] | None:
        cfg = self.config
        if cfg.concurrency_limit and self._inflight[org_id] >= cfg.concurrency_limit:
            return 429, {"code": 1070, "message": MSG_1070}
        if cfg.rate_limit_per_minute:
            window = self._minute.setdefault(org_id, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= cfg.rate_limit_per_minute:
                return 429, {"code": 44, "message": MSG_44}
        if cfg.daily_limit and self._daily[org_id] >= cfg.daily_limit:
            return 429, {"code": 45, "message": "The API call for this organization has exceeded the maximum "
                                                f"call rate limit of {cfg.daily_limit}."}
        return None

    def release(self, org_id: str) -> None:
        with self._lock:
            self._inflight[org_id] -= 1

    def headers(self, org_id: str | None) -> dict:
        limit = self.config.daily_limit or UNLIMITED_DAILY
        with self._lock:
            used = self._daily[org_id] if org_id else 0
        now = datetime.now(self.tz)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, limit - used)),
                "X-Rate-Limit-Reset": str(int((midnight - now).total_seconds()))}
