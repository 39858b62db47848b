"""Zoho's OAuth refresh flow: HTTP-200 errors, a refresh throttle, and a bounded set of live tokens.

``POST /oauth/v2/token`` with ``grant_type=refresh_token`` answers HTTP 200 even for a wrong
client (``invalid_client``) or refresh token (``invalid_code``). ``grant_type=authorization_code``
trades the configured ``grant_code`` (once, as Zoho's grant codes are single-use) for the
refresh token, as a Self Client's "Generate Code" does. More than
``token_refresh_limit`` refreshes in 10 minutes get HTTP 400 "Access Denied". At most
:data:`MAX_ACTIVE_TOKENS` access tokens live at once; the oldest is revoked first.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque

from .config import SimulatorConfig
from .counters import Counters

#: Zoho keeps at most this many live access tokens per refresh token; the oldest is revoked.
MAX_ACTIVE_TOKENS = 10
TOKEN_WINDOW_SECONDS = 600

MSG_THROTTLED_TOKEN = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}


class Tokens:
    def __init__(self, config: SimulatorConfig, counters: Counters):
        self.config = config
        self.counters = counters
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, float] = OrderedDict()
        self._refresh_times: deque[float] = deque()
        self._used_codes: set[str] = set()

    def refresh(self, params, api_domain: str) -> tuple[int, dict]:
        """``POST /oauth/v2/token`` with ``grant_type=refresh_token``: (HTTP status, body)."""
        cfg = self.config
        if params.get("grant_type") == "authorization_code":
            return self.exchange_code(params, api_domain)
        if params.get("grant_type") != "refresh_token":
            return 200, {"error": "unsupported_grant_type"}
        if params.get("client_id") != cfg.client_id or params.get("client_secret") != cfg.client_secret:
            return 200, {"error": "invalid_client"}
        if params.get("refresh_token") != cfg.refresh_token:
            return 200, {"error": "invalid_code"}
        now = time.time()
        with self._lock:
            while self._refresh_times and self._refresh_times[0] <= now - TOKEN_WINDOW_SECONDS:
                self._refresh_times.popleft()
            if cfg.token_refresh_limit and len(self._refresh_times) >= cfg.token_refresh_limit:
                self.counters.event("throttled")
                return 400, dict(MSG_THROTTLED_TOKEN)
            self._refresh_times.append(now)
        self.counters.event("token_refreshes")
        return 200, {"access_token": self.mint(), "expires_in": cfg.token_lifetime, "api_domain": api_domain,
                     "token_type": "Bearer"}

    def exchange_code(self, params, api_domain: str) -> tuple[int, dict]:
        """``grant_type=authorization_code``: the grant code, once, for the refresh token."""
        cfg = self.config
        if params.get("client_id") != cfg.client_id or params.get("client_secret") != cfg.client_secret:
            return 200, {"error": "invalid_client"}
        code = params.get("code") or ""
        with self._lock:
            if code != cfg.grant_code or code in self._used_codes:
                return 200, {"error": "invalid_code"}
            self._used_codes.add(code)
        return 200, {"access_token": self.mint(), "refresh_token": cfg.refresh_token, "expires_in": cfg.token_lifetime,
                     "api_domain": api_domain, "token_type": "Bearer",
                     "scope": "ZohoBooks.fullaccess.READ ZohoInventory.fullaccess.READ"}

    def mint(self) -> str:
        """A new live access token (no refresh quota used)."""
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = time.time() + self.config.token_lifetime
            while len(self._tokens) > MAX_ACTIVE_TOKENS:
                self._tokens.popitem(last=False)
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if expiry <= time.time():
                del self._tokens[token]
                return False
            return True
