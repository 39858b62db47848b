"""The Zoho client each process shares: one per set of credentials, built on first use."""

from __future__ import annotations

import threading

from tds.config import Settings
from tds.services import redis_client, shared_cache
from tds.zoho.auth import credentials_key
from tds.zoho.client import ZohoClient

_lock = threading.Lock()
_zoho = shared_cache()


def zoho_client(settings: Settings, budget_wait: float = 0.0):
    """The Zoho client for these settings; credentials are checked when it is first needed.

    ``budget_wait``: seconds a call may sleep for the shared rate limit. Tasks keep the
    default 0 (they are retried after a countdown instead); the command line may wait.
    """
    key = (settings.zoho_api_url, credentials_key(settings.org(None)), settings.org_overrides, settings.redis_url,
           budget_wait)
    with _lock:
        client = _zoho.get(key)
        if client is None:
            client = _zoho[key] = _LazyZohoClient(settings, budget_wait)
        return client


#: seconds a task's Zoho client sleeps in place between retries of one call, at the most
IN_PLACE_WAIT_MAX = 1.0


class _LazyZohoClient:
    """Builds the real client on first use, so a missing credential fails the one call
    that needs it (with a clear ConfigError) instead of every task that merely could."""

    def __init__(self, settings: Settings, budget_wait: float):
        self._settings = settings
        self._budget_wait = budget_wait
        self._client = None

    def __getattr__(self, name):
        if self._client is None:
            self._settings.require_zoho_credentials()
            # a client that may not wait for the budget is a task's: its retries of a transient
            # failure sleep a moment at most, and a longer wait goes back to the task's countdown
            # (a worker slot is never held for it)
            backoff = {} if self._budget_wait else {"backoff_max": IN_PLACE_WAIT_MAX}
            self._client = ZohoClient(self._settings, redis=redis_client(self._settings),
                                      budget_wait=self._budget_wait, **backoff)
        return getattr(self._client, name)
