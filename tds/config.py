"""TDS settings: one object, read from the environment (and a ``.env`` file).

Every option TDS reads is listed here; nothing else in the code reads the environment.
A missing or malformed value raises :class:`ConfigError` with one line naming the variable.

Storage and broker
------------------
``TDS_DATABASE_URL``
    URL of the ERP database, e.g. ``postgresql://tds:PASSWORD@127.0.0.1:5432/erp``. No
    default: every command that opens a database stops with one line saying to set it (the
    demo and the tests bring their own). ``postgres://``, ``postgresql://`` and
    ``postgresql+psycopg2://`` all mean the installed driver, psycopg2; ``sqlite:///FILE``
    works for trials. The URL is shown with its password masked, always.
``TDS_REDIS_URL``
    Redis URL used as the Celery broker and for the shared Zoho budget (token cache, rate
    limit, circuit breaker, locks). Default ``redis://127.0.0.1:6379/0``.
``TDS_BROKER_VISIBILITY_TIMEOUT``
    Seconds before Redis redelivers an unacknowledged task. Default ``3600``. Must be
    larger than ``TDS_TASK_RETRY_BACKOFF_MAX`` so a retry countdown never causes a duplicate
    delivery.

Zoho
----
``ZOHO_CLIENT_ID``, ``ZOHO_CLIENT_SECRET``, ``ZOHO_REFRESH_TOKEN``
    OAuth self-client credentials. Needed for anything that calls Zoho (sync, detail
    fetches); the receiver runs without them.
``ZOHO_ORGANIZATION_ID``
    One organization id, or several separated by commas. Webhooks for an organization not
    listed here are refused.
``ZOHO_DC``
    Data centre: ``com`` (default, US), ``eu``, ``in``, ``com.au``, ``jp``, ``ca``, ``sa``,
    ``uk``, ``com.cn``. Picks the accounts and API hosts.

Several organizations
    Each organization listed in ``ZOHO_ORGANIZATION_ID`` may have its own OAuth client and
    data centre: ``ZOHO_<ORGID>_CLIENT_ID``, ``ZOHO_<ORGID>_CLIENT_SECRET``,
    ``ZOHO_<ORGID>_REFRESH_TOKEN``, ``ZOHO_<ORGID>_DC``, ``ZOHO_<ORGID>_ACCOUNTS_URL``,
    ``ZOHO_<ORGID>_API_URL`` (``<ORGID>`` is the numeric id). Each one not set falls back to
    the unprefixed variable. :meth:`Settings.org` gives an organization's resolved values.
``ZOHO_ACCOUNTS_URL``
    Override of the OAuth server root (``https://accounts.zoho.com``); the token endpoint
    is ``{ZOHO_ACCOUNTS_URL}/oauth/v2/token``.
``ZOHO_API_URL``
    Override of the API root (``https://www.zohoapis.com``). ``/books/v3``,
    ``/inventory/v1`` and ``/crm/v2`` live under it, so TDS can be pointed at any
    Zoho-compatible server such as ``tds simulator``.
``ZOHO_WEBHOOK_SECRET``
    Secret shared with the Zoho webhook (12–50 alphanumerics). Requests must carry
    ``X-Zoho-Webhook-Signature`` (HMAC-SHA256, hex or base64) or the secret itself in
    ``?token=`` or ``X-Webhook-Token``.
``TDS_PUBLIC_URL``
    The public HTTPS root Zoho reaches the receiver at (behind the reverse proxy), e.g.
    ``https://tds.example.com``. ``tds webhooks plan`` and ``install`` build the webhook
    URLs from it.
``TDS_WEBHOOK_ALLOW_UNSIGNED``
    ``true`` lets the receiver start without ``ZOHO_WEBHOOK_SECRET`` and accept unsigned
    requests. Default ``false``: without a secret the receiver refuses to start.
``TDS_WEBHOOK_MAX_BYTES``
    Largest webhook body accepted; larger ones get 413. Default ``1048576``.
``TDS_ZOHO_RATE_LIMIT``
    Requests per minute per organization, shared by all workers. Default ``100`` (Zoho's).
``TDS_ZOHO_DAILY_LIMIT``
    The organization's daily API calls (Zoho's plan: Free 1000, Standard 2000, Professional
    5000, Premium and above 10000). Used to tell what is left of the day when Zoho sends no
    ``X-Rate-Limit-Remaining``; a sync or reconcile whose estimate does not fit refuses to
    start without ``--force``. Default ``10000``.
``TDS_ZOHO_DETAIL_CONCURRENCY``
    Detail calls one sync keeps in flight at once for records Zoho has no bulk detail
    endpoint for (contacts). Default ``4``; ``1`` fetches them one by one. Zoho allows 5
    (Free) or 10 (paid plans) simultaneous calls per organization across every caller:
    keep this times the sync workers' concurrency under that (an answer of code 1070, too
    many in process, is retried like any throttling).
``TDS_ZOHO_TIMEOUT``
    Seconds before an HTTP call to Zoho times out. Default ``30``.
``TDS_ZOHO_MAX_ATTEMPTS``
    Attempts the client makes at one HTTP call on a transient error before it gives the
    error to its caller (a Celery task then retries later). Default ``4``.
``TDS_ZOHO_BREAKER_FAILURES``, ``TDS_ZOHO_BREAKER_RESET``
    The shared circuit breaker opens after this many consecutive failed calls (default
    ``5``) and lets a trial call through after this many seconds (default ``60``).
``TDS_FETCH_DETAIL``
    When a webhook body is applied as it is: ``auto`` (default: fetch the record by id
    when the body lacks what lists also lack, such as line items or per-warehouse stock,
    or a required field), ``always`` (always fetch), ``never`` (only the body).
``TDS_ENTITIES``
    The entities TDS mirrors, by registry name or webhook slug, separated by commas
    (``items,customers,invoices``). Default: every entity the organization answers for;
    an entity whose list Zoho answers "not found", "module not enabled" or with a scope
    error is marked unavailable for that organization and retried on the next full run.
    Syncs, the scheduled ``sync_all`` and the demo run only these; a webhook for an entity
    not listed is answered 404 and nothing is stored.
``TDS_CRM``
    ``on``, ``off`` or ``auto`` (default). The CRM modules (``crm_accounts``,
    ``crm_contacts``) run when ``on``; with ``auto`` they run only when CRM credentials
    are given, that is when ``ZOHO_SCOPES`` names a ``ZohoCRM.*`` scope. ``off`` leaves
    them out even when ``TDS_ENTITIES`` names them.
``ZOHO_SCOPES``
    The OAuth scopes the refresh token was granted, separated by commas, as chosen for
    the self-client (``ZohoBooks.fullaccess.all,ZohoInventory.fullaccess.all,
    ZohoCRM.modules.ALL``). Optional; only used to tell whether CRM credentials are given.
``TDS_VENDOR_NAME_AR_FIELD``
    Label or API name of the vendor custom field holding the Arabic name. Default
    ``cf_vendor_name_ar``.

Tasks
-----
``TDS_TASK_MAX_RETRIES``
    Retries of a transient failure before the event goes to the dead letter. Default ``8``.
``TDS_TASK_RETRY_BACKOFF_MAX``
    Longest retry countdown in seconds (exponential backoff with jitter). Default ``300``.
``TDS_INBOX_SWEEP_AFTER``
    Seconds after which a RECEIVED inbox event (stored, never picked up) is enqueued again
    by the sweeper. Default ``300``. When Redis comes back empty (restarted without its
    data, or flushed) the next sweep re-sends every unfinished event at once instead.
``TDS_PROCESSING_LEASE``
    Seconds an attempt holds a PROCESSING event; past that the sweeper sends it again (its
    worker was killed). Also the grace before a lost retry or a due WAITING event is sent
    again. Default ``60``. Make it longer than the slowest attempt you expect (a Zoho call
    times out after ``TDS_ZOHO_TIMEOUT``): a slow attempt re-driven is done twice, harmlessly.
``TDS_WORKER_SWEEP_AFTER``
    A worker runs the sweep itself (one worker at a time, under a Redis lock) when no sweep
    has run for this many seconds, so healing does not depend on beat. Default ``180``;
    ``0`` turns it off (the test suite's in-process worker).
``TDS_WORKER_BATCH``
    How many webhook events of one entity and organization a worker applies together, in
    one transaction (PostgreSQL). A task whose event needs no Zoho fetch also claims up to
    this many minus one other due RECEIVED webhook events of its entity (``FOR UPDATE SKIP
    LOCKED``: workers take disjoint batches) and writes them all at once, each row still
    under the stale-write guard and each change logged with its own event; their own
    messages then find them held or done and cost one round trip. Events that need a fetch,
    fail to map or were retried before are applied alone. Default ``50``; ``1`` applies
    every event in its own task. See docs/reliability.md.
``TDS_COALESCE_SECONDS``
    How long the receiver holds back the task of a webhook whose body must be completed by
    a Zoho fetch (it lacks what Zoho's lists lack, a required field, or Zoho's time; see
    ``TDS_FETCH_DETAIL``), so a burst of such webhooks for one record within that time
    costs one fetch, of its newest version (the older events are finished as superseded).
    A body complete in itself costs no Zoho call and is sent at once. Default ``2``; ``0``
    sends every task at once.

Beat
----
``TDS_BEAT_LOCK_TIMEOUT``
    Seconds the RedBeat lock lives without renewal; a standby ``tds beat`` takes over at
    most this long (plus one ``TDS_BEAT_LOOP_INTERVAL``) after the active one died.
    Default ``60``. Beat renews it every ``TDS_BEAT_LOOP_INTERVAL``.
``TDS_BEAT_LOOP_INTERVAL``
    Longest sleep between two beat ticks (lock renewal, schedule check) and the poll of a
    standby beat waiting for the lock. Default ``5``; must be below a third of
    ``TDS_BEAT_LOCK_TIMEOUT``.

Odoo (an optional second destination for products)
--------------------------------------------------
``ODOO_URL``
    Root of the Odoo server, e.g. ``https://erp.example.com``. Empty (default): Odoo is off,
    no Odoo task is scheduled or sent. TDS speaks Odoo's external XML-RPC API
    (``{ODOO_URL}/xmlrpc/2/common`` and ``/xmlrpc/2/object``).
``ODOO_DB``, ``ODOO_USERNAME``
    The Odoo database and the login of the user TDS acts as. Needed when ``ODOO_URL`` is set.
``ODOO_PASSWORD`` or ``ODOO_API_KEY``
    That user's password, or an API key (Preferences → Account Security); the key is used
    when both are set.
``ODOO_TIMEOUT``
    Seconds before an XML-RPC call to Odoo times out. Default ``30``.
``ODOO_SYNC_PERIOD``
    Seconds between two scheduled pushes of changed products to Odoo. Default ``300``.
``ODOO_FIELD_MAP``
    Which ``products`` column goes into which ``product.template`` field, as
    ``column=field`` pairs separated by commas. Default
    ``name=name,unit_price=list_price,purchase_price=standard_price,description=description_sale,sku=default_code``.
    Price columns (``unit_price``, ``purchase_price``) are converted to ``ODOO_CURRENCY``.
``ODOO_PRODUCT_DEFAULTS``
    Values every product gets when TDS creates it, as ``field=value`` pairs (``true`` and
    ``false`` are booleans). Default ``type=product,sale_ok=true,purchase_ok=true`` (a
    storable product that can be sold and purchased; Odoo 18 and later want
    ``type=consu,is_storable=true``).
``ODOO_CURRENCY``
    Currency of prices in Odoo. Default ``IQD``.
``ODOO_ZOHO_CURRENCY``
    Currency of Zoho's prices when the item does not name one (its ``currency_code``).
    Default ``IQD``.
``ODOO_CURRENCY_RATES``
    Units of ``ODOO_CURRENCY`` per unit of another currency, as ``CODE=rate`` pairs
    separated by commas. Default ``USD=1500``. A price in a currency with no rate here is
    an error for that product (logged and counted, the others go on).
``ODOO_USD_BELOW``
    The old rule "a price under 100 is in USD", off unless set: a price without a currency
    on its item that is below this number is taken as USD. Default ``0`` (off); the old
    behaviour is ``100``.
``ODOO_PRICE_DIGITS``
    Decimals prices are rounded to before they are sent and compared. Default ``2``.

Sync, reconciliation and the schedule
-------------------------------------
``TDS_SYNC_LOOKBACK``
    Seconds an incremental sync reads back before its cursor, so records that share the
    cursor's second (Zoho's times have one-second resolution) are never missed. Default
    ``300``.
``TDS_RECONCILE_ALERT_PERCENT``
    A reconcile exits 1 (and reports "unhealthy") when any entity's mismatch is above this
    share. Default ``1``.
``TDS_RECONCILE_MAX_DELETE_PERCENT``
    A repair that would soft-delete more than this share of an entity deletes nothing for
    that entity and says why. Default ``5``.
``TDS_SCHEDULE_INCREMENTAL``, ``TDS_SCHEDULE_RECONCILE``, ``TDS_SCHEDULE_FULL``
    Seconds between scheduled incremental syncs (default ``300``, entities staggered over
    the period), reconciles with repair (default ``21600``: every 6 hours) and full syncs
    (default ``0``: off; the reconcile finds what a full sync would). ``0`` turns one off.
``TDS_SCHEDULE_RECONCILE_REPAIR``
    Whether the scheduled reconcile repairs what it finds. Default ``true``.
``TDS_SCHEDULE_SWEEP``, ``TDS_SCHEDULE_CLEANUP``
    Seconds between the inbox sweeps beat sends (default ``30``; see ``TDS_PROCESSING_LEASE``
    and ``TDS_WORKER_SWEEP_AFTER``) and cleanups (default ``86400``: finished
    inbox events past their retention, and runs left ``running`` by a process that died).
``TDS_INBOX_RETENTION_DAYS``
    Finished inbox events older than this are deleted by the cleanup. Default ``30``.
``TDS_RUN_STALE_AFTER``
    Seconds without a heartbeat after which a run still marked ``running`` is taken for
    dead (its process was killed) and marked ``aborted``. Default ``1800``.
``TDS_ADMIN_TOKEN``
    Bearer token of the admin API (``/api/zoho/bulk-sync/…``, ``/api/zoho/reconcile/…``);
    separate from the webhook secret. Unset: the admin API answers 403.

Product images
--------------
``TDS_IMAGE_DIR``
    Folder that holds the product images, as ``products/{zoho_item_id}.{jpg|png|webp}``;
    the receiver serves them at ``/product-images/{file}``. Default ``images``. The
    workers, the CLI and the receiver must see the same folder.
``TDS_IMAGE_BUDGET_SHARE``
    Share (above 0, at most 1) of the per-minute Zoho budget image downloads may use; an
    image task that finds less of the window free gives its slot back and retries later,
    so images never starve webhook processing. Default ``0.5``.
``TDS_IMAGE_MAX_BYTES``
    Largest image accepted; a larger body is refused with the reason. Default ``10485760``.
``TDS_SCHEDULE_IMAGES``
    Seconds between sweeps that send what is still missing or stale. Default ``3600``.

Operations: status, alerts, events, change log, metrics
-------------------------------------------------------
``TDS_SCHEDULE_ALERTS``
    Seconds between alert checks (the ``tds.check_alerts`` beat task). Default ``60``.
``TDS_ALERT_WEBHOOK_URL``
    Where alerts are posted as Slack-compatible JSON (``{"text": …}``) when they open,
    repeat and clear; a Slack incoming-webhook URL works as it is. Unset: log and status
    page only. Treated as a secret.
``TDS_ALERT_PENDING_WARNING``, ``TDS_ALERT_PENDING_CRITICAL``
    Inbox events of one entity waiting (pending, retrying or parked) above which an alert
    is a warning (default ``50``) or critical (default ``200``).
``TDS_ALERT_LAG_WARNING``, ``TDS_ALERT_LAG_CRITICAL``
    Seconds since an entity's last successful sync above which an alert is a warning
    (default ``1800``) or critical (default ``7200``).
``TDS_ALERT_QUOTA_PERCENT``
    A warning when the day's Zoho calls left fall under this share of
    ``TDS_ZOHO_DAILY_LIMIT`` (critical at none left). Default ``10``.
``TDS_ALERT_REPEAT``
    Seconds between repeats of an alert that stays open. Default ``3600``.
``TDS_EVENT_RETENTION_DAYS``, ``TDS_CHANGE_LOG_RETENTION_DAYS``
    Named events (``tds_events``) and change-log rows (``tds_change_log``) older than
    this are deleted by the daily cleanup, in batches. Default ``30`` each.
``TDS_METRICS_DIR``
    A folder shared by the receiver's gunicorn workers and the Celery workers (prefork
    children) on one host: ``tds receiver``, ``tds worker`` and ``tds beat`` export it as
    ``PROMETHEUS_MULTIPROC_DIR`` so ``/metrics`` adds up every process's counts (empty it
    when they all start afresh; TDS never cleans a folder you name). Unset: ``tds receiver``
    still runs in multiprocess mode, in a folder of its own under ``TDS_RUNTIME_DIR``
    (``metrics/receiver-<port>``, emptied at start), so its gunicorn workers' counters add
    up and only go up; the Celery workers then count for themselves.
``TDS_RUNTIME_DIR``
    Where TDS keeps files that live as long as its processes (the receiver's metrics).
    Default: ``$RUNTIME_DIRECTORY`` (systemd's ``RuntimeDirectory=``), else
    ``$XDG_RUNTIME_DIR/tds``, else ``<temp dir>/tds-<uid>``.
``TDS_FLOWER_BASIC_AUTH``
    ``user:password`` that ``tds flower`` requires on every page of Flower, ``/metrics``
    and ``/healthcheck`` included. Without it ``tds flower`` refuses to start unless given
    ``--insecure``.

The status page (``tds status-page``) and ``/api/status`` want ``TDS_ADMIN_TOKEN``, as a
Bearer token or as the password of HTTP basic auth (any user name).

Logging
-------
``TDS_LOG_LEVEL``
    ``DEBUG``, ``INFO`` (default), ``WARNING`` or ``ERROR``, in any case.
``TDS_LOG_FORMAT``
    ``text`` (default: one line per record) or ``json`` (one JSON object per line, for a
    log shipper). Either way every line names the component (``receiver``, ``worker``,
    ``beat``, ``cli``…) and, when there is one, the inbox event id or sync run id.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


ZOHO_DATA_CENTRES = ("com", "eu", "in", "com.au", "jp", "ca", "sa", "uk", "com.cn")
_ACCOUNTS_HOSTS = {"ca": "https://accounts.zohocloud.ca"}

#: what a database URL's scheme becomes: psycopg2 is the driver TDS installs
_DB_SCHEMES = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "postgresql+psycopg2": "postgresql+psycopg2",
    "sqlite": "sqlite",
}

_PASSWORD_IN_URL = re.compile(r"(?P<keep>(?:^|[\s'\"(/=])[^\s:/@'\"]*:)(?!/)[^@\s'\"]+@")


def mask_url(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password replaced by ``***``.

    Works on malformed URLs too: it is a pattern, not a parser, so an error message that
    echoes what the user typed never carries the password.
    """
    return _PASSWORD_IN_URL.sub(r"\g<keep>***@", text)


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _int(low: int | None = None) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if low is not None and value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}")
        return value

    return parse


def _number(zero_allowed: bool) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < 0 or (value == 0 and not zero_allowed):
            raise ConfigError(f"{name} must be {'at least' if zero_allowed else 'greater than'} 0, got {value}")
        return value

    return parse


_float = _number(zero_allowed=False)
_non_negative = _number(zero_allowed=True)


def _percent(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise ConfigError(f"{name} must be from 0 to 100, got {value}")
    return value


def _share(name: str, raw: str) -> float:
    value = _float(name, raw)
    if value > 1:
        raise ConfigError(f"{name} must be a share between 0 and 1, got {value}")
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(*choices: str, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
        return value

    return parse


def _org_ids(name: str, raw: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in raw.split(",") if part.strip())
    for org in ids:
        if not org.isdigit():
            raise ConfigError(f"{name} must be numeric organization ids separated by commas, got {org!r}")
    return ids


def _url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {raw!r}")
    return value


def normalise_database_url(raw: str, name: str = "TDS_DATABASE_URL") -> str:
    """``postgres://`` and ``postgresql://`` → ``postgresql+psycopg2://`` (the installed driver).

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which TDS does not install.
    """
    value = raw.strip()
    scheme, sep, rest = value.partition("://")
    if not sep or not (rest or scheme.lower() == "sqlite"):  # sqlite:// is an in-memory database
        raise ConfigError(f"{name} must be a database URL such as postgresql://user:password@host:5432/db, "
                          f"got {mask_url(value)!r}")
    target = _DB_SCHEMES.get(scheme.lower())
    if target is None:
        raise ConfigError(f"{name} must start with postgresql:// (psycopg2 is the installed driver) or sqlite:///, "
                          f"got {mask_url(value)!r}")
    return f"{target}://{rest}"


def _db_url(name: str, raw: str) -> str:
    return normalise_database_url(raw, name) if raw.strip() else ""


def _redis_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must be a redis:// URL, got {mask_url(value)!r}")
    return value


def _secret(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not (value.isalnum() and 12 <= len(value) <= 50):
        raise ConfigError(f"{name} must be 12 to 50 letters and digits (Zoho's rule)")
    return value


DEFAULT_ODOO_FIELD_MAP = ("name=name,unit_price=list_price,purchase_price=standard_price,"
                          "description=description_sale,sku=default_code")


def _pairs(value: Callable[[str], object], key: Callable[[str], str] = str.strip):
    """``a=1,b=2`` → ``(("a", 1), ("b", 2))`` (a tuple, so Settings stays hashable)."""

    def parse(name: str, raw: str) -> tuple:
        pairs = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            k, sep, v = part.partition("=")
            if not sep or not k.strip() or not v.strip():
                raise ConfigError(f"{name} must be name=value pairs separated by commas, got {part!r}")
            try:
                pairs.append((key(k.strip()), value(v.strip())))
            except ValueError as exc:
                raise ConfigError(f"{name}: {part!r}: {exc}") from None
        return tuple(pairs)

    return parse


def _plain_value(raw: str):
    return {"true": True, "false": False}.get(raw.lower(), raw)


def _rate(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("a rate must be greater than 0")
    return value


def _currency(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if not (len(value) == 3 and value.isalpha()):
        raise ConfigError(f"{name} must be a three-letter currency code, got {raw!r}")
    return value


def _names(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated names (checked against the registry by :func:`tds.registry.enabled`)."""
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _flower_auth(name: str, raw: str) -> str:
    value = raw.strip()
    if value and (":" not in value or not value.split(":", 1)[0] or not value.split(":", 1)[1]):
        raise ConfigError(f"{name} must be user:password")
    return value


def _setting(env: str, default: str, parse: Callable[[str, str], object], secret: bool = False):
    return field(default=None, metadata={"env": env, "default": default, "parse": parse, "secret": secret})


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting("TDS_DATABASE_URL", "", _db_url)
    redis_url: str = _setting("TDS_REDIS_URL", "redis://127.0.0.1:6379/0", _redis_url)
    broker_visibility_timeout: int = _setting("TDS_BROKER_VISIBILITY_TIMEOUT", "3600", _int(60))

    zoho_client_id: str = _setting("ZOHO_CLIENT_ID", "", _text)
    zoho_client_secret: str = _setting("ZOHO_CLIENT_SECRET", "", _text, secret=True)
    zoho_refresh_token: str = _setting("ZOHO_REFRESH_TOKEN", "", _text, secret=True)
    zoho_organization_ids: tuple = _setting("ZOHO_ORGANIZATION_ID", "", _org_ids)
    zoho_dc: str = _setting("ZOHO_DC", "com", _choice(*ZOHO_DATA_CENTRES))
    zoho_accounts_url_override: str = _setting("ZOHO_ACCOUNTS_URL", "", _url)
    zoho_api_url_override: str = _setting("ZOHO_API_URL", "", _url)
    zoho_webhook_secret: str = _setting("ZOHO_WEBHOOK_SECRET", "", _secret, secret=True)
    public_url: str = _setting("TDS_PUBLIC_URL", "", _url)
    webhook_allow_unsigned: bool = _setting("TDS_WEBHOOK_ALLOW_UNSIGNED", "false", _bool)
    webhook_max_bytes: int = _setting("TDS_WEBHOOK_MAX_BYTES", "1048576", _int(1024))

    zoho_rate_limit: int = _setting("TDS_ZOHO_RATE_LIMIT", "100", _int(1))
    zoho_detail_concurrency: int = _setting("TDS_ZOHO_DETAIL_CONCURRENCY", "4", _int(1))
    zoho_daily_limit: int = _setting("TDS_ZOHO_DAILY_LIMIT", "10000", _int(1))
    zoho_timeout: float = _setting("TDS_ZOHO_TIMEOUT", "30", _float)
    zoho_max_attempts: int = _setting("TDS_ZOHO_MAX_ATTEMPTS", "4", _int(1))
    zoho_breaker_failures: int = _setting("TDS_ZOHO_BREAKER_FAILURES", "5", _int(1))
    zoho_breaker_reset: int = _setting("TDS_ZOHO_BREAKER_RESET", "60", _int(1))
    fetch_detail: str = _setting("TDS_FETCH_DETAIL", "auto", _choice("auto", "always", "never"))
    vendor_name_ar_field: str = _setting("TDS_VENDOR_NAME_AR_FIELD", "cf_vendor_name_ar", _text)
    entities: tuple = _setting("TDS_ENTITIES", "", _names)
    crm: str = _setting("TDS_CRM", "auto", _choice("on", "off", "auto"))
    zoho_scopes: tuple = _setting("ZOHO_SCOPES", "", _names)

    task_max_retries: int = _setting("TDS_TASK_MAX_RETRIES", "8", _int(0))
    task_retry_backoff_max: int = _setting("TDS_TASK_RETRY_BACKOFF_MAX", "300", _int(1))
    inbox_sweep_after: int = _setting("TDS_INBOX_SWEEP_AFTER", "300", _int(1))
    processing_lease: int = _setting("TDS_PROCESSING_LEASE", "60", _int(1))
    worker_sweep_after: float = _setting("TDS_WORKER_SWEEP_AFTER", "180", _non_negative)
    coalesce_seconds: float = _setting("TDS_COALESCE_SECONDS", "2", _non_negative)
    worker_batch: int = _setting("TDS_WORKER_BATCH", "50", _int(1))
    beat_lock_timeout: int = _setting("TDS_BEAT_LOCK_TIMEOUT", "60", _int(3))
    beat_loop_interval: float = _setting("TDS_BEAT_LOOP_INTERVAL", "5", _float)
    sync_lookback: int = _setting("TDS_SYNC_LOOKBACK", "300", _int(0))
    reconcile_alert_percent: float = _setting("TDS_RECONCILE_ALERT_PERCENT", "1", _percent)
    reconcile_max_delete_percent: float = _setting("TDS_RECONCILE_MAX_DELETE_PERCENT", "5", _percent)
    schedule_incremental: int = _setting("TDS_SCHEDULE_INCREMENTAL", "300", _int(0))
    schedule_reconcile: int = _setting("TDS_SCHEDULE_RECONCILE", "21600", _int(0))
    schedule_full: int = _setting("TDS_SCHEDULE_FULL", "0", _int(0))
    schedule_reconcile_repair: bool = _setting("TDS_SCHEDULE_RECONCILE_REPAIR", "true", _bool)
    schedule_sweep: int = _setting("TDS_SCHEDULE_SWEEP", "30", _int(0))
    schedule_cleanup: int = _setting("TDS_SCHEDULE_CLEANUP", "86400", _int(0))
    inbox_retention_days: int = _setting("TDS_INBOX_RETENTION_DAYS", "30", _int(1))
    run_stale_after: int = _setting("TDS_RUN_STALE_AFTER", "1800", _int(60))
    admin_token: str = _setting("TDS_ADMIN_TOKEN", "", _text, secret=True)
    image_dir: str = _setting("TDS_IMAGE_DIR", "images", _text)
    image_budget_share: float = _setting("TDS_IMAGE_BUDGET_SHARE", "0.5", _share)
    image_max_bytes: int = _setting("TDS_IMAGE_MAX_BYTES", "10485760", _int(1024))
    schedule_images: int = _setting("TDS_SCHEDULE_IMAGES", "3600", _int(0))
    schedule_alerts: int = _setting("TDS_SCHEDULE_ALERTS", "60", _int(0))
    alert_webhook_url: str = _setting("TDS_ALERT_WEBHOOK_URL", "", _url, secret=True)
    alert_pending_warning: int = _setting("TDS_ALERT_PENDING_WARNING", "50", _int(0))
    alert_pending_critical: int = _setting("TDS_ALERT_PENDING_CRITICAL", "200", _int(0))
    alert_lag_warning: int = _setting("TDS_ALERT_LAG_WARNING", "1800", _int(1))
    alert_lag_critical: int = _setting("TDS_ALERT_LAG_CRITICAL", "7200", _int(1))
    alert_quota_percent: float = _setting("TDS_ALERT_QUOTA_PERCENT", "10", _percent)
    alert_repeat: int = _setting("TDS_ALERT_REPEAT", "3600", _int(60))
    event_retention_days: int = _setting("TDS_EVENT_RETENTION_DAYS", "30", _int(1))
    change_log_retention_days: int = _setting("TDS_CHANGE_LOG_RETENTION_DAYS", "30", _int(1))
    metrics_dir: str = _setting("TDS_METRICS_DIR", "", _text)
    runtime_dir_setting: str = _setting("TDS_RUNTIME_DIR", "", _text)
    flower_basic_auth: str = _setting("TDS_FLOWER_BASIC_AUTH", "", _flower_auth, secret=True)
    log_level: str = _setting("TDS_LOG_LEVEL", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True))
    log_format: str = _setting("TDS_LOG_FORMAT", "text", _choice("text", "json"))
    #: per-organization overrides from ``ZOHO_<ORGID>_*``: ``((org, ((key, value), ...)), ...)``
    org_overrides: tuple = field(default=(), metadata={"env": None, "secret": True})

    odoo_url: str = _setting("ODOO_URL", "", _url)
    odoo_db: str = _setting("ODOO_DB", "", _text)
    odoo_username: str = _setting("ODOO_USERNAME", "", _text)
    odoo_password: str = _setting("ODOO_PASSWORD", "", _text, secret=True)
    odoo_api_key: str = _setting("ODOO_API_KEY", "", _text, secret=True)
    odoo_timeout: float = _setting("ODOO_TIMEOUT", "30", _float)
    odoo_sync_period: int = _setting("ODOO_SYNC_PERIOD", "300", _int(10))
    odoo_field_map: tuple = _setting("ODOO_FIELD_MAP", DEFAULT_ODOO_FIELD_MAP, _pairs(str))
    odoo_product_defaults: tuple = _setting("ODOO_PRODUCT_DEFAULTS", "type=product,sale_ok=true,purchase_ok=true",
                                            _pairs(_plain_value))
    odoo_currency: str = _setting("ODOO_CURRENCY", "IQD", _currency)
    odoo_zoho_currency: str = _setting("ODOO_ZOHO_CURRENCY", "IQD", _currency)
    odoo_currency_rates: tuple = _setting("ODOO_CURRENCY_RATES", "USD=1500", _pairs(_rate, key=str.upper))
    odoo_usd_below: float = _setting("ODOO_USD_BELOW", "0", _non_negative)
    odoo_price_digits: int = _setting("ODOO_PRICE_DIGITS", "2", _int(0))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> "Settings":
        """Read every option from ``environ`` (default: the process environment over ``.env``)."""
        if environ is None:
            merged: dict[str, str] = {}
            if env_file and os.path.exists(env_file):
                merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
            merged.update(os.environ)
            environ = merged
        values = {}
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta["env"] is None:
                continue
            raw = environ.get(meta["env"])
            if raw is None or raw.strip() == "":
                raw = meta["default"]
            values[f.name] = meta["parse"](meta["env"], raw)
        values["org_overrides"] = _org_overrides(environ, values["zoho_organization_ids"])
        settings = cls(**values)
        if settings.task_retry_backoff_max >= settings.broker_visibility_timeout:
            raise ConfigError(
                "TDS_TASK_RETRY_BACKOFF_MAX must be smaller than TDS_BROKER_VISIBILITY_TIMEOUT "
                f"({settings.task_retry_backoff_max} >= {settings.broker_visibility_timeout})"
            )
        if settings.beat_loop_interval * 3 > settings.beat_lock_timeout:
            raise ConfigError(
                "TDS_BEAT_LOOP_INTERVAL must be at most a third of TDS_BEAT_LOCK_TIMEOUT "
                f"({settings.beat_loop_interval} * 3 > {settings.beat_lock_timeout})"
            )
        return settings

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    @property
    def zoho_accounts_url(self) -> str:
        return self.zoho_accounts_url_override or accounts_url_for(self.zoho_dc)

    @property
    def zoho_api_url(self) -> str:
        return self.zoho_api_url_override or api_url_for(self.zoho_dc)

    def org(self, organization_id: str | None) -> "ZohoOrg":
        """The OAuth client, data centre and hosts of one organization (``None``: the defaults)."""
        own = dict(dict(self.org_overrides or ()).get(str(organization_id), ())) if organization_id else {}
        dc = own.get("dc") or self.zoho_dc
        dc_changed = "dc" in own
        return ZohoOrg(
            organization_id=str(organization_id) if organization_id else None,
            client_id=own.get("client_id") or self.zoho_client_id,
            client_secret=own.get("client_secret") or self.zoho_client_secret,
            refresh_token=own.get("refresh_token") or self.zoho_refresh_token,
            dc=dc,
            accounts_url=own.get("accounts_url")
            or (accounts_url_for(dc) if dc_changed else self.zoho_accounts_url),
            api_url=own.get("api_url") or (api_url_for(dc) if dc_changed else self.zoho_api_url),
        )

    def require_database(self) -> str:
        """The database URL, or ConfigError saying what to set."""
        if not self.database_url:
            raise ConfigError("TDS_DATABASE_URL is not set; set it in .env or the environment to your PostgreSQL "
                              "database, e.g. TDS_DATABASE_URL=postgresql://tds:PASSWORD@127.0.0.1:5432/erp")
        return self.database_url

    @property
    def crm_enabled(self) -> bool:
        """CRM runs when ``TDS_CRM=on``, or with ``auto`` when ``ZOHO_SCOPES`` has a CRM scope."""
        if self.crm != "auto":
            return self.crm == "on"
        return any(scope.lower().startswith("zohocrm.") for scope in self.zoho_scopes)

    @property
    def runtime_dir(self) -> str:
        """``TDS_RUNTIME_DIR``, else systemd's ``$RUNTIME_DIRECTORY``, ``$XDG_RUNTIME_DIR/tds``, or
        ``<temp dir>/tds-<uid>``."""
        import tempfile

        if self.runtime_dir_setting:
            return self.runtime_dir_setting
        if os.environ.get("RUNTIME_DIRECTORY"):
            return os.environ["RUNTIME_DIRECTORY"].split(":")[0]
        if os.environ.get("XDG_RUNTIME_DIR"):
            return os.path.join(os.environ["XDG_RUNTIME_DIR"], "tds")
        return os.path.join(tempfile.gettempdir(), f"tds-{os.getuid()}")

    def require_zoho_credentials(self) -> None:
        """Raise ConfigError naming the first credential a Zoho call needs and lacks."""
        if not self.zoho_organization_ids:
            raise ConfigError("ZOHO_ORGANIZATION_ID is not set; it is needed to call Zoho")
        for org in self.zoho_organization_ids:
            for env, value in self.org(org).credentials():
                if not value and len(self.zoho_organization_ids) == 1 and not self.org_overrides:
                    raise ConfigError(f"{env} is not set; it is needed to call Zoho")
                if not value:
                    raise ConfigError(f"{env} is not set (nor ZOHO_{org}_{env[5:]}); it is needed to call Zoho "
                                      f"for organization {org}")

    @property
    def odoo_enabled(self) -> bool:
        return bool(self.odoo_url)

    def require_odoo_credentials(self) -> None:
        """Raise ConfigError naming the first Odoo setting a call to Odoo needs and lacks."""
        for env, value in (("ODOO_URL", self.odoo_url), ("ODOO_DB", self.odoo_db),
                           ("ODOO_USERNAME", self.odoo_username),
                           ("ODOO_PASSWORD or ODOO_API_KEY", self.odoo_api_key or self.odoo_password)):
            if not value:
                raise ConfigError(f"{env} is not set; it is needed to reach Odoo")

    def __repr__(self) -> str:  # secrets never reach a log line
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value:
                value = "***"
            elif f.metadata["secret"] and f.name == "org_overrides":
                value = [org for org, _ in value or ()]
            elif f.name in ("database_url", "redis_url"):
                value = _hide_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _hide_password(url: str) -> str:
    """``postgresql://tds:secret@db/erp`` → ``postgresql://tds:***@db/erp``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return mask_url(url)
    if not password:
        return mask_url(url)
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def accounts_url_for(dc: str) -> str:
    return _ACCOUNTS_HOSTS.get(dc, f"https://accounts.zoho.{dc}")


def api_url_for(dc: str) -> str:
    return f"https://www.zohoapis.{dc}"


@dataclass(frozen=True)
class ZohoOrg:
    """One organization's OAuth client and hosts, after its ``ZOHO_<ORGID>_*`` overrides."""

    organization_id: str | None
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    dc: str
    accounts_url: str
    api_url: str

    def credentials(self) -> tuple[tuple[str, str], ...]:
        return (("ZOHO_CLIENT_ID", self.client_id), ("ZOHO_CLIENT_SECRET", self.client_secret),
                ("ZOHO_REFRESH_TOKEN", self.refresh_token))


_ORG_KEYS = {
    "CLIENT_ID": ("client_id", _text),
    "CLIENT_SECRET": ("client_secret", _text),
    "REFRESH_TOKEN": ("refresh_token", _text),
    "DC": ("dc", _choice(*ZOHO_DATA_CENTRES)),
    "ACCOUNTS_URL": ("accounts_url", _url),
    "API_URL": ("api_url", _url),
}


def _org_overrides(environ: Mapping[str, str], orgs: tuple[str, ...]) -> tuple:
    found: dict[str, dict[str, str]] = {}
    for org in orgs:
        for suffix, (key, parse) in _ORG_KEYS.items():
            env = f"ZOHO_{org}_{suffix}"
            raw = environ.get(env)
            if raw is not None and raw.strip():
                found.setdefault(org, {})[key] = parse(env, raw)
    return tuple((org, tuple(sorted(values.items()))) for org, values in found.items())


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read once."""
    global _cached
    if _cached is None:
        _cached = Settings.from_env()
    return _cached


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (the CLI and tests use this)."""
    global _cached
    _cached = settings
