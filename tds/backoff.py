"""The one backoff schedule TDS uses, for HTTP retries inside the Zoho client and for
Celery task retries alike."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter for the ``attempt``-th retry (1, 2, …).

    The ceiling doubles from ``base`` (never above ``cap``); the wait is half the ceiling
    plus a random share of the other half, so workers retrying together spread out while
    no retry comes back at once.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
