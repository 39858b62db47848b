"""The Zoho OAuth access token, shared by every worker through Redis.

Zoho allows 10 token refreshes per 10 minutes per refresh token and at most 10 live access
tokens, so workers must not refresh on their own. The token lives in one Redis key; a
refresh happens under a Redis lock and is counted in a rolling 10-minute window.

Redis keys (``<ns>`` is ``tds:zoho:oauth:`` + a hash of the credentials: client id, client
secret, refresh token and accounts URL). Because the secret and the refresh token are part
of the name, a wrong ``ZOHO_CLIENT_SECRET`` or ``ZOHO_REFRESH_TOKEN`` never finds the token
cached under the right ones: the next call refreshes, and Zoho's refusal shows at once.
Each organization with its own OAuth client (``ZOHO_<ORGID>_*``) has its own token.

``<ns>:token``          the access token, expiring 120 s before Zoho's ``expires_in``
``<ns>:refresh-lock``   held while one worker refreshes
``<ns>:refreshes``      sorted set of refresh times in the last 10 minutes
``<ns>:refused:<hash>`` a token Zoho refused right after it was fetched (a scope problem)

No secret (access token, refresh token, client secret) is ever logged or put in an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import uuid

import redis as redis_lib
import requests

from tds import hooks
from tds.config import Settings, ZohoOrg

from .classify import parse_json
from .errors import ZohoAuthError, ZohoFatalError, ZohoTokenThrottled, ZohoTransientError

log = logging.getLogger(__name__)

REFRESH_WINDOW = 600  # Zoho: 10 refreshes per 10 minutes per refresh token
MAX_REFRESHES = 9  # keep one in hand
EXPIRY_MARGIN = 120  # drop the cached token this long before Zoho does

_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe for keys and logs."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenManager:
    """Hands out the shared access token, refreshing it at most once for all workers."""

    def __init__(self, settings: Settings, redis: redis_lib.Redis, session: requests.Session | None = None,
                 lock_wait: float | None = None, organization_id: str | None = None) -> None:
        self.settings = settings
        self.org = settings.org(organization_id)
        self.redis = redis
        self.session = session or requests.Session()
        self.token_url = f"{self.org.accounts_url}/oauth/v2/token"
        self.namespace = "tds:zoho:oauth:" + credentials_key(self.org)
        self.token_key = f"{self.namespace}:token"
        self.lock_key = f"{self.namespace}:refresh-lock"
        self.refreshes_key = f"{self.namespace}:refreshes"
        # The lock outlives one token request, so a crashed holder frees it soon after.
        self.lock_timeout = settings.zoho_timeout + 10
        self.lock_wait = lock_wait if lock_wait is not None else settings.zoho_timeout + 15
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)

    def cached_token(self) -> str | None:
        return _text(self.redis.get(self.token_key))

    def get_token(self, cached: str | bytes | None = None) -> str:
        """The shared access token, refreshed under the lock when there is none.

        ``cached`` is the token key's value when the caller already read it (the client reads
        it in the pipeline that admits a call), saving a round trip.

        Race prevented: N workers find the cache empty at once. Each would refresh, burning
        N of Zoho's 10 refreshes per 10 minutes and invalidating older tokens. Under the
        lock only the first refreshes; the others wait, re-read the cache and use its token.
        """
        token = _text(cached) or self.cached_token()
        if token:
            return token
        with self._refresh_lock():
            return self.cached_token() or self._refresh()

    def invalidate(self, token: str) -> bool:
        """Drop the cached token if, and only if, it is still ``token``.

        Race prevented: worker A gets a 401 with token T1 while worker B has already
        replaced T1 by a fresh T2. An unconditional delete by A would throw away T2 and
        force another refresh (and another, for every worker holding T1), spending the
        refresh budget. Compare-and-delete runs atomically in Redis.
        """
        return bool(self._compare_and_delete(keys=[self.token_key], args=[token]))

    def mark_refused(self, token: str) -> None:
        """Remember that Zoho refused ``token`` although it had just been fetched.

        A fresh token that is still refused means a missing scope, not an expired token;
        refreshing again would only spend the refresh budget.
        """
        ttl = self.redis.ttl(self.token_key)
        self.redis.set(f"{self.namespace}:refused:{fingerprint(token)}", 1, ex=ttl if ttl and ttl > 0 else 3600)

    def was_refused(self, token: str) -> bool:
        return bool(self.redis.exists(f"{self.namespace}:refused:{fingerprint(token)}"))

    def refreshes_in_window(self) -> int:
        now = time.time()
        self.redis.zremrangebyscore(self.refreshes_key, 0, now - REFRESH_WINDOW)
        return int(self.redis.zcard(self.refreshes_key))

    def _count_refresh(self) -> None:
        """Record one refresh, refusing the tenth in a rolling 10 minutes (caller holds the lock)."""
        now = time.time()
        if self.refreshes_in_window() >= MAX_REFRESHES:
            oldest = self.redis.zrange(self.refreshes_key, 0, 0, withscores=True)
            retry_after = (oldest[0][1] + REFRESH_WINDOW - now) if oldest else REFRESH_WINDOW
            raise ZohoTokenThrottled(
                f"{MAX_REFRESHES} token refreshes in the last 10 minutes; not asking Zoho for more",
                url=self.token_url, retry_after=max(1.0, retry_after),
            )
        self.redis.zadd(self.refreshes_key, {f"{now}:{uuid.uuid4().hex[:8]}": now})
        self.redis.expire(self.refreshes_key, REFRESH_WINDOW)

    def _refresh(self) -> str:
        self._count_refresh()
        try:
            answer = self._post_refresh()
        except Exception as exc:
            hooks.emit("tds.zoho.token.refresh_failed", settings=self.settings, error=str(exc)[:500])
            raise
        token = answer["access_token"]
        expires_in = int(answer.get("expires_in") or 3600)
        ttl = expires_in - EXPIRY_MARGIN if expires_in > 2 * EXPIRY_MARGIN else max(1, expires_in // 2)
        self.redis.set(self.token_key, token, ex=ttl)
        log.info("Zoho access token refreshed (expires in %ss, cached %ss)", expires_in, ttl)
        hooks.emit("tds.zoho.token.refreshed", settings=self.settings, expires_in=expires_in)
        return token

    def refresh_now(self) -> str:
        """Refresh for real, whatever is cached (``tds doctor``): proves the credentials work."""
        with self._refresh_lock():
            return self._refresh()

    @contextlib.contextmanager
    def _refresh_lock(self):
        """The one lock every refresh of this token is made under (see :meth:`get_token`)."""
        lock = self.redis.lock(self.lock_key, timeout=self.lock_timeout, blocking_timeout=self.lock_wait)
        if not lock.acquire():
            raise ZohoTransientError("timed out waiting for another worker's token refresh", url=self.token_url)
        try:
            yield
        finally:
            try:
                lock.release()
            except redis_lib.exceptions.LockError:
                log.warning("token refresh lock expired before release")

    def _post_refresh(self) -> dict:
        s = self.settings
        form = {
            "client_id": self.org.client_id,
            "client_secret": self.org.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": self.org.refresh_token,
        }
        started = time.monotonic()
        try:
            response = self.session.post(self.token_url, data=form, timeout=s.zoho_timeout)
        except requests.Timeout:
            raise ZohoTransientError("token endpoint timed out", url=self.token_url) from None
        except requests.ConnectionError:
            raise ZohoTransientError("token endpoint unreachable", url=self.token_url) from None
        log.debug("zoho POST /oauth/v2/token -> %s in %dms", response.status_code,
                  (time.monotonic() - started) * 1000)
        return self._token_answer(response)

    def _token_answer(self, response: requests.Response) -> dict:
        """The token endpoint's ladder. Its errors come as HTTP 200 with an ``error`` key."""
        where = {"status": response.status_code, "url": self.token_url}
        if response.status_code >= 500:
            raise ZohoTransientError("token endpoint failed", **where)
        try:
            body = parse_json(response.content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZohoFatalError("token endpoint answered something other than a JSON object", **where)
        error = body.get("error")
        if error and _is_throttle(body):
            raise ZohoTokenThrottled("Zoho throttled token refreshes", code=str(error),
                                     retry_after=REFRESH_WINDOW, **where)
        if error:
            raise ZohoAuthError(f"Zoho refused the refresh token or client: {error}", code=str(error), **where)
        if response.status_code >= 400 or not body.get("access_token"):
            raise ZohoAuthError("token endpoint gave no access token", **where)
        return body


def credentials_key(org: ZohoOrg) -> str:
    """A short hash naming one set of credentials; it changes when any of them changes."""
    material = "|".join((org.client_id, org.client_secret, org.refresh_token, org.accounts_url))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def exchange_grant_code(org: ZohoOrg, code: str, timeout: float = 30,
                        session: requests.Session | None = None) -> dict:
    """Trade a Self Client grant code for a refresh token (``tds zoho token --code``).

    Returns Zoho's answer plus ``dc`` when its ``api_domain`` names a data centre. Zoho
    answers errors as HTTP 200 with ``error``; an expired code (they last 3 to 10 minutes)
    is ``invalid_code``. Neither the code nor the tokens are logged.
    """
    url = f"{org.accounts_url}/oauth/v2/token"
    form = {"grant_type": "authorization_code", "client_id": org.client_id, "client_secret": org.client_secret,
            "code": code.strip()}
    try:
        response = (session or requests.Session()).post(url, data=form, timeout=timeout)
    except requests.RequestException:
        raise ZohoTransientError("token endpoint unreachable", url=url) from None
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ZohoFatalError("token endpoint answered something other than a JSON object",
                             status=response.status_code, url=url)
    if body.get("error"):
        hint = {"invalid_code": "the grant code is wrong or expired (generate a new one; it lasts minutes)",
                "invalid_client": "ZOHO_CLIENT_ID or ZOHO_CLIENT_SECRET is wrong, or ZOHO_DC is not the "
                                  "data centre of the API console used"}.get(str(body["error"]), str(body["error"]))
        raise ZohoAuthError(f"Zoho refused the grant code: {hint}", code=str(body["error"]),
                            status=response.status_code, url=url)
    if not body.get("refresh_token"):
        raise ZohoAuthError("Zoho gave no refresh token (was the code generated with offline access?)",
                            status=response.status_code, url=url)
    domain = str(body.get("api_domain") or "")
    if domain.startswith("https://www.zohoapis."):
        body["dc"] = domain[len("https://www.zohoapis."):].rstrip("/")
    return body


def _is_throttle(body: dict) -> bool:
    text = f"{body.get('error', '')} {body.get('error_description', '')}".lower()
    return "access denied" in text or "too many requests" in text
