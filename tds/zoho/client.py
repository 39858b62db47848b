"""The Zoho Books / Inventory / CRM read client.

Every call walks the same ladder, and every rung is shared by all workers through Redis:

1. daily quota marker — spent quota fails at once (:class:`ZohoQuotaExceeded`);
2. circuit breaker of the API — open means :class:`ZohoCircuitOpen`;
3. per-organization rate limit — :class:`ZohoRateLimited` with the seconds until a slot
   frees (a task is retried then; only ``budget_wait`` lets a command-line process sleep);
4. the shared access token — refreshed once for everybody;
5. HTTP, then :func:`tds.zoho.classify.error_for` (binary answers:
   :func:`tds.zoho.classify.binary_error_for`, so an error envelope or an HTML page is never
   taken for an image).

The shared state costs three Redis round trips a call, not one per rung: the quota marker,
the breaker's state and the cached token are read in one pipeline, the limiter takes its
slot in a second (only once the quota and the breaker let the call through), and the day's
count with a closed breaker's success are written in a third (see :meth:`ZohoClient._admit`
and :meth:`ZohoClient._send`).

Transient failures are retried here, a few times with exponential backoff and full jitter,
and then handed to the caller (a Celery task retries later). A task's client
(:func:`tds.zoho.shared.zoho_client` without ``budget_wait``) sleeps at most a second between
those tries; anything longer is the task's retry countdown, which frees the worker meanwhile. A 401 drops the token, which
is refreshed once before the request is repeated.

Each organization has its own token (its own OAuth client when ``ZOHO_<ORGID>_*`` says so),
its own API host (its data centre), rate limit and daily quota. CRM calls carry no
organization and use the default credentials.

The client reads. Its one write, :meth:`ZohoClient.create_setting`, is for
``tds webhooks install`` only and refuses any path but ``/settings/webhooks`` and
``/settings/workflows``.

One client per process (Celery prefork); the Redis state makes many processes behave as
one. Nothing secret is logged: DEBUG lines carry method, path, status and milliseconds.
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import redis as redis_lib
import requests

from tds import metrics
from tds.backoff import backoff
from tds.config import Settings
from tds.registry import Entity
from tds.runs import Cancel

from .auth import TokenManager, credentials_key
from .breaker import ApiBreaker, Seen
from .classify import binary_error_for, body_of, error_for
from .errors import (
    ZohoAuthError,
    ZohoCircuitOpen,
    ZohoError,
    ZohoNotFound,
    ZohoQuotaExceeded,
    ZohoTransientError,
)
from .ratelimit import DailyQuota, OrgRateLimiter

log = logging.getLogger(__name__)

API_PATHS = {"books": "/books/v3", "inventory": "/inventory/v1", "crm": "/crm/v2"}
SETTINGS_WRITABLE = ("/settings/webhooks", "/settings/workflows")
CRM_BUDGET = "crm"  # CRM calls carry no organization_id; they share one budget of their own


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class ZohoClient:
    def __init__(
        self,
        settings: Settings,
        redis: redis_lib.Redis | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        budget_wait: float = 0.0,
        detail_workers: int | None = None,
        cancel: Cancel | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis if redis is not None else redis_lib.Redis.from_url(settings.redis_url)
        self.session = session or requests.Session()
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.budget_wait = budget_wait  # seconds a call may sleep for the rate limit (0 in tasks)
        self.tokens = TokenManager(settings, self.redis, session=self.session)
        self._tokens = {credentials_key(settings.org(None)): self.tokens}
        self.limiter = OrgRateLimiter(self.redis, settings.redis_url, settings.zoho_rate_limit, sleep=sleep)
        self.quota = DailyQuota(self.redis, settings.zoho_daily_limit)
        self._breakers: dict[str, ApiBreaker] = {}
        self._random = random.Random()
        # detail calls in flight at once, where Zoho has no bulk endpoint (TDS_ZOHO_DETAIL_CONCURRENCY)
        self.detail_workers = settings.zoho_detail_concurrency if detail_workers is None else detail_workers
        self._pool: ThreadPoolExecutor | None = None
        self.cancel = cancel  # Ctrl-C at the command line: no call leaves after it

    def close(self) -> None:
        """Drop the detail calls not started yet; those in flight end with their request."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- public calls -------------------------------------------------------------------

    def request_json(self, api: str, path: str, organization_id: str | None = None,
                     params: dict | None = None) -> dict:
        """GET ``path`` under ``api``'s root and return the JSON body (floats as Decimal)."""
        body = self._request(api, path, organization_id, params)
        return body if body is not None else {}

    def request_bytes(self, api: str, path: str, organization_id: str | None = None,
                      params: dict | None = None) -> tuple[bytes, str]:
        """GET a binary body (an item image) through the same ladder: ``(content, content type)``.

        A JSON error envelope or an HTML page raises the error it stands for; what the bytes
        are is for the caller to check (:mod:`tds.sync.images` refuses anything not an image).
        """
        response = self._request(api, path, organization_id, params, binary=True)
        return response.content, response.headers.get("Content-Type", "application/octet-stream")

    def iter_pages(self, entity: Entity, organization_id: str, params: dict | None = None,
                   per_page: int = 200) -> Iterator[list[dict]]:
        """Yield the records of ``entity``'s list, one page at a time.

        Stops when Zoho says there is no more (``page_context`` missing or null,
        ``has_more_page`` false, CRM ``info.more_records`` false) or a page comes back empty,
        which guards against a server that keeps saying there is more.
        """
        query = dict(entity.list_params)
        query.update(params or {})
        page = 1
        while True:
            body = self.request_json(entity.api, entity.list_path, organization_id,
                                     {**query, "page": page, "per_page": per_page})
            records = body.get(entity.list_key) or []
            if records:
                yield records
            if not records or not self._has_more(entity, body):
                return
            page += 1

    def get_record(self, entity: Entity, organization_id: str, zoho_id: str) -> dict:
        """One record by id, unwrapped from ``entity.detail_key`` (CRM: ``data[0]``)."""
        body = self.request_json(entity.api, entity.detail_url_path(zoho_id), organization_id)
        key = entity.detail_key or ("data" if entity.api == "crm" else entity.list_key)
        found = body.get(key)
        if isinstance(found, list):
            found = found[0] if found else None
        if not isinstance(found, dict):
            raise ZohoNotFound(f"{entity.name} {zoho_id} not in the answer", code=body.get("code"),
                               url=self._url(entity.api, entity.detail_url_path(zoho_id)))
        return found

    def get_bulk_details(self, entity: Entity, organization_id: str, ids: Iterable[str]) -> list[dict]:
        """Details of many records: ``entity.bulk_detail`` chunks, else one call per id.

        One call per id (contacts: Zoho has no bulk endpoint for them) runs up to
        ``detail_workers`` calls at a time, each through the whole ladder (quota, breaker,
        rate limit), so the rate limit holds however many are in flight; the records come
        back in the order of ``ids``. Ids Zoho does not know are left out, as the bulk
        endpoint itself does.
        """
        wanted = list(dict.fromkeys(str(i) for i in ids))
        if entity.bulk_detail is None:
            return [r for r in self._records_or_none(entity, organization_id, wanted) if r]
        path, param, size = entity.bulk_detail
        records: list[dict] = []
        for chunk in _chunks(wanted, size):
            body = self.request_json(entity.api, path, organization_id, {param: ",".join(chunk)})
            records.extend(body.get(entity.list_key) or [])
        return records

    def create_setting(self, api: str, path: str, organization_id: str, body: dict) -> dict:
        """POST ``body`` to a webhook or workflow settings path: TDS's only write to Zoho."""
        if api not in ("books", "inventory") or not path.startswith(SETTINGS_WRITABLE):
            raise ValueError(f"TDS writes to Zoho only under {', '.join(SETTINGS_WRITABLE)}, not {api} {path}")
        return self._request(api, path, organization_id, None, json_body=body) or {}

    def tokens_for(self, organization_id: str | None) -> TokenManager:
        """The token manager of the organization's credentials (shared when they are the same)."""
        key = credentials_key(self.settings.org(organization_id))
        manager = self._tokens.get(key)
        if manager is None:
            manager = self._tokens[key] = TokenManager(self.settings, self.redis, session=self.session,
                                                       organization_id=organization_id)
        return manager

    # -- the ladder ---------------------------------------------------------------------

    def _request(self, api: str, path: str, organization_id: str | None, params: dict | None,
                 binary: bool = False, json_body: dict | None = None):
        """Admit the call, exchange it, retry transient failures with backoff, then give up.

        Admission refusals (quota spent, rate-limit wait too long, circuit open) go straight
        to the caller; so does a transient error that says it will last longer than our
        longest backoff (a throttled token endpoint).
        """
        try:
            return self._ladder(api, path, organization_id, params, binary, json_body)
        except (ZohoNotFound, ZohoCircuitOpen, ZohoQuotaExceeded):
            raise  # an answer, or a call that never left (the budget refused it): not a failure
        except ZohoError as exc:
            from tds import hooks

            hooks.emit("tds.zoho.api.failed", settings=self.settings, organization_id=organization_id,
                       api=api, path=path, error=str(exc)[:500], error_class=exc.__class__.__name__)
            raise

    def _ladder(self, api: str, path: str, organization_id: str | None, params: dict | None, binary: bool,
                json_body: dict | None):
        org = self._organization(api, organization_id)
        budget = org or CRM_BUDGET
        breaker = self._breaker(api, org)
        tokens = self.tokens_for(org)
        attempt = 1
        while True:
            token, seen = self._admit(budget, breaker, tokens)
            try:
                return self._exchange(api, path, org, params, budget, breaker, tokens, token, seen, binary,
                                      json_body)
            except ZohoTransientError as exc:
                if attempt >= self.settings.zoho_max_attempts or (exc.retry_after or 0) > self.backoff_max:
                    raise
                delay = backoff(attempt, self.backoff_base, self.backoff_max, self._random)
                log.debug("zoho %s%s: %s; attempt %d, retrying in %.2fs", api, path, exc.message, attempt, delay)
                self.sleep(delay)
                attempt += 1

    def _admit(self, budget: str, breaker: ApiBreaker, tokens: TokenManager) -> tuple[str | None, Seen]:
        """The shared budget rungs: daily quota, circuit breaker, per-minute limit.

        The quota marker, the breaker's state and the cached token are read in one pipelined
        round trip; the limiter takes its slot in a second one, only once the quota and the
        breaker have let the call through, so that a call bound to be refused neither takes
        a slot from the window nor sleeps waiting for one. Returns the cached token (None:
        none yet) and the breaker state seen.
        """
        if self.cancel is not None:
            self.cancel.check()
        pipe = self.redis.pipeline(transaction=False)
        self.quota.queue_check(pipe, budget)
        breaker.queue_read(pipe)
        pipe.get(tokens.token_key)
        ttl, state, failures, opened_at, token = pipe.execute()
        self.quota.check_ttl(budget, ttl)
        seen = breaker.check_read(state, failures, opened_at)
        self.limiter.acquire(budget, self.budget_wait)
        return token, seen

    def _exchange(self, api: str, path: str, org: str | None, params: dict | None, budget: str,
                  breaker: ApiBreaker, tokens: TokenManager, cached_token, seen: Seen | None,
                  binary: bool = False, json_body: dict | None = None):
        """One request with the shared token; a 401 drops that token and retries once with a fresh one."""
        token = tokens.get_token(cached_token)
        try:
            return self._send(api, path, org, params, token, budget, breaker, seen, binary, json_body)
        except ZohoAuthError as exc:
            if exc.status != 401 or tokens.was_refused(token):
                raise
        tokens.invalidate(token)
        fresh = tokens.get_token()
        self.limiter.acquire(budget, self.budget_wait)  # the repeat is one more request against the budget
        try:
            return self._send(api, path, org, params, fresh, budget, breaker, seen, binary, json_body)
        except ZohoAuthError as exc:
            if exc.status == 401:
                tokens.mark_refused(fresh)
            raise

    def _send(self, api: str, path: str, org: str | None, params: dict | None, token: str, budget: str,
              breaker: ApiBreaker, seen: Seen | None = None, binary: bool = False, json_body: dict | None = None):
        """The JSON body, or for ``binary`` the response itself, once it is known not to be an error.

        The call is counted against the day and, when the breaker was closed at admission and
        Zoho answered (an error that is not transient shows Zoho is up), its success recorded,
        in one pipelined round trip; other breaker outcomes take pybreaker's own path.
        """
        response = self._http_get(api, path, org, params, token, breaker, json_body)
        body = body_of(response)
        error = binary_error_for(response, body) if binary else error_for(response, body)
        metrics.API_CALLS.labels(api, "ok" if error is None else "error").inc()
        pipe = self.redis.pipeline(transaction=False)
        spent = self.quota.queue_record(pipe, budget, response.headers)
        answered = error is None or not error.transient
        recorded = answered and breaker.queue_success(pipe, seen)
        pipe.execute()
        self.quota.after_record(budget, spent)
        if not recorded:
            if answered:
                breaker.record_success()
            else:
                breaker.record_failure()
        if error is None:
            return response if binary else body
        if isinstance(error, ZohoQuotaExceeded):
            self.quota.exhaust(budget, error.retry_after or 60)
        raise error

    def _http_get(self, api: str, path: str, org: str | None, params: dict | None, token: str,
                  breaker: ApiBreaker, json_body: dict | None = None) -> requests.Response:
        url = self._url(api, path, org)
        query = {"organization_id": org} if org else {}
        query.update(params or {})
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        started = time.monotonic()
        try:
            if json_body is not None:
                response = self.session.post(url, params=query, json=json_body, headers=headers,
                                             timeout=self.settings.zoho_timeout)
            else:
                response = self.session.get(url, params=query, headers=headers, timeout=self.settings.zoho_timeout)
        except requests.Timeout:
            breaker.record_failure()
            raise ZohoTransientError("request timed out", url=url) from None
        except requests.ConnectionError:
            breaker.record_failure()
            raise ZohoTransientError("connection failed", url=url) from None
        log.debug("zoho %s %s%s -> %s in %dms", "POST" if json_body is not None else "GET", API_PATHS[api], path,
                  response.status_code,
                  (time.monotonic() - started) * 1000)
        return response

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _has_more(entity: Entity, body: dict) -> bool:
        if entity.pagination == "crm_info":
            return bool((body.get("info") or {}).get("more_records"))
        context = body.get("page_context")
        if isinstance(context, list):  # some spec examples type it as an array
            context = context[0] if context else None
        return bool((context or {}).get("has_more_page"))

    def _records_or_none(self, entity: Entity, organization_id: str, ids: list[str]) -> list[dict | None]:
        """:meth:`_record_or_none` for every id, ``detail_workers`` at a time; the first error
        raised stops the rest (calls already in flight finish)."""
        if self.detail_workers <= 1 or len(ids) <= 1:
            return [self._record_or_none(entity, organization_id, i) for i in ids]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.detail_workers, thread_name_prefix="tds-zoho-detail")
        # each call runs in the caller's context (its log fields: run id, event id)
        futures = [self._pool.submit(contextvars.copy_context().run, self._record_or_none, entity, organization_id, i)
                   for i in ids]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def _record_or_none(self, entity: Entity, organization_id: str, zoho_id: str) -> dict | None:
        try:
            return self.get_record(entity, organization_id, zoho_id)
        except ZohoNotFound:
            log.debug("%s %s not found; left out of bulk details", entity.name, zoho_id)
            return None

    def _organization(self, api: str, organization_id: str | None) -> str | None:
        if api not in API_PATHS:
            raise ValueError(f"unknown Zoho API {api!r}; known: {', '.join(API_PATHS)}")
        if api == "crm":
            return None
        if organization_id:
            return str(organization_id)
        if self.settings.zoho_organization_ids:
            return self.settings.zoho_organization_ids[0]
        raise ValueError(f"{api} calls need an organization_id and ZOHO_ORGANIZATION_ID is not set")

    def _url(self, api: str, path: str, org: str | None = None) -> str:
        return f"{self.settings.org(org).api_url}{API_PATHS[api]}{path}"

    def _breaker(self, api: str, org: str | None = None) -> ApiBreaker:
        root = f"{self.settings.org(org).api_url}{API_PATHS[api]}"
        breaker = self._breakers.get(root)
        if breaker is None:
            breaker = ApiBreaker(self.redis, root, self.settings.zoho_breaker_failures,
                                 self.settings.zoho_breaker_reset)
            self._breakers[root] = breaker
        return breaker
