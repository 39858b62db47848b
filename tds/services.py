"""Process-wide shared clients: one Redis connection pool per process (and the caches of other
shared clients, such as :func:`tds.zoho.shared.zoho_client`, which :func:`reset` empties too)."""

from __future__ import annotations

import threading

import redis as redis_lib

from tds.config import Settings

_lock = threading.Lock()
_redis: dict[str, redis_lib.Redis] = {}
_caches: list[dict] = []


def redis_client(settings: Settings) -> redis_lib.Redis:
    with _lock:
        client = _redis.get(settings.redis_url)
        if client is None:
            client = _redis[settings.redis_url] = redis_lib.Redis.from_url(settings.redis_url)
        return client


def shared_cache() -> dict:
    """A cache of shared clients that :func:`reset` empties with the Redis clients."""
    cache: dict = {}
    _caches.append(cache)
    return cache


def reset() -> None:
    """Forget the shared clients (after the settings they were built from change)."""
    with _lock:
        _redis.clear()
        for cache in _caches:
            cache.clear()
