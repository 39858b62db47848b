"""``tds doctor``: is this installation ready? One line per check, ✔ or ✘ with the fix.

Each check is a small function taking a :class:`Context` and returning its results; the
command runs :data:`CHECKS` in order and exits 1 when any result is ✘. A check that needs
something an earlier one found missing says so instead of failing obscurely. Add a check
by writing one more function and listing it in :data:`CHECKS`.

The Zoho checks are real: a token refresh per organization (one of Zoho's 10 per 10
minutes; the new token is cached for the workers) and one list call of a single record.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests

from tds import registry, services
from tds.config import ConfigError, Settings, mask_url
from tds.ops import status
from tds.ops.status import WorkersReader

CLOCK_TOLERANCE = 60  # seconds; Zoho's times are compared with Zoho's, but beat and leases use ours
SCOPE_PREFIX = {"books": "zohobooks.", "inventory": "zohoinventory.", "crm": "zohocrm."}


@dataclass
class Result:
    ok: bool
    label: str
    fix: str = ""

    def line(self) -> str:
        return f"✔ {self.label}" if self.ok else f"✘ {self.label} — {self.fix}"


@dataclass
class Context:
    settings: Settings
    found: dict = field(default_factory=dict)  # what earlier checks learnt (engine, client, tokens)
    workers: WorkersReader | None = None  # asks the live workers (handed in by the command line)


def check_settings(ctx: Context) -> Iterable[Result]:
    s = ctx.settings
    missing = []
    if not s.database_url:
        missing.append("TDS_DATABASE_URL")
    if not s.zoho_organization_ids:
        missing.append("ZOHO_ORGANIZATION_ID")
    for org in s.zoho_organization_ids:
        missing.extend(env if org_count(s) == 1 else f"{env} (or ZOHO_{org}_{env[5:]})"
                       for env, value in s.org(org).credentials() if not value)
    missing = list(dict.fromkeys(missing))
    if missing:
        yield Result(False, "settings complete", f"set {', '.join(missing)} in .env (see .env.example)")
    else:
        yield Result(True, f"settings complete ({len(s.zoho_organization_ids)} organization(s))")


def org_count(settings: Settings) -> int:
    return len(settings.zoho_organization_ids)


def check_database(ctx: Context) -> Iterable[Result]:
    import sqlalchemy as sa

    from tds import schema
    from tds.db import get_engine

    url = ctx.settings.database_url
    if not url:
        yield Result(False, "database", "set TDS_DATABASE_URL")
        return
    shown = mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    try:
        engine = get_engine(url)
        with engine.connect() as conn:
            ctx.found["db_now"] = conn.execute(sa.text("SELECT CURRENT_TIMESTAMP")).scalar()
        current, head = schema.current_revision(url), schema.head_revision(url)
    except sa.exc.DBAPIError as exc:
        from tds.exit_codes import database_failure

        failure = database_failure(exc, shown)
        yield Result(False, f"database {shown} reachable", failure.fix)
        return
    yield Result(True, f"database {shown} reachable")
    if current == head:
        yield Result(True, f"schema current ({head})")
    else:
        yield Result(False, f"schema current (at {current or 'nothing'}, newest {head})", "run tds db upgrade")


def check_redis(ctx: Context) -> Iterable[Result]:
    import redis as redis_lib

    shown = mask_url(ctx.settings.redis_url)
    client = redis_lib.Redis.from_url(ctx.settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        yield Result(False, f"Redis {shown} reachable", f"start Redis or correct TDS_REDIS_URL ({exc})")
        return
    ctx.found["redis"] = True
    yield Result(True, f"Redis {shown} reachable")
    try:
        policy = (client.config_get("maxmemory-policy") or {}).get("maxmemory-policy")
    except redis_lib.RedisError:
        policy = None
    if policy == "noeviction":
        yield Result(True, "Redis maxmemory-policy is noeviction (a full Redis refuses writes, never drops tasks)")
    else:
        yield Result(False, f"Redis maxmemory-policy is {policy or 'unknown (CONFIG GET refused)'}",
                     "set maxmemory-policy noeviction: any other policy lets Redis evict queued tasks and locks")


def check_zoho(ctx: Context) -> Iterable[Result]:
    from tds.zoho import shared as zoho_shared
    from tds.zoho.errors import ZohoError

    s = ctx.settings
    if not s.zoho_organization_ids:
        yield Result(False, "Zoho organizations", "set ZOHO_ORGANIZATION_ID")
        return
    if not ctx.found.get("redis"):
        yield Result(False, "Zoho checks", "not tried: the token is shared through Redis, which does not answer")
        return
    try:
        client = zoho_shared.zoho_client(s)
    except ConfigError as exc:
        yield Result(False, "Zoho client", str(exc))
        return
    probe = registry.get("customers")  # a list every Books organization answers, one record asked
    for org in s.zoho_organization_ids:
        target = s.org(org)
        if not all(value for _, value in target.credentials()):
            yield Result(False, f"organization {org}: Zoho token", "set its credentials (see settings above)")
            continue
        try:
            client.tokens_for(org).refresh_now()
        except ZohoError as exc:
            yield Result(False, f"organization {org}: Zoho token refresh at {target.accounts_url} ({exc.message})",
                         f"check ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN (or ZOHO_{org}_*) "
                         f"and ZOHO_DC={target.dc}: the client must come from that data centre's API console")
            continue
        yield Result(True, f"organization {org}: Zoho token refreshed at {target.accounts_url}")
        try:
            client.request_json(probe.api, probe.list_path, org, {"page": 1, "per_page": 1})
        except ZohoError as exc:
            yield Result(False, f"organization {org}: {probe.api} {probe.list_path} ({exc.message})",
                         "check the organization id (Settings → Organization profile in Zoho) and the "
                         "client's scopes (docs/zoho-setup.md)")
            continue
        yield Result(True, f"organization {org}: {probe.api} {probe.list_path} answers")


def check_webhooks(ctx: Context) -> Iterable[Result]:
    s = ctx.settings
    if s.zoho_webhook_secret:
        yield Result(True, "ZOHO_WEBHOOK_SECRET set")
    elif s.webhook_allow_unsigned:
        yield Result(False, "ZOHO_WEBHOOK_SECRET not set (TDS_WEBHOOK_ALLOW_UNSIGNED=true)",
                     "set a 12-50 letter-and-digit secret: anyone could post records otherwise")
    else:
        yield Result(False, "ZOHO_WEBHOOK_SECRET set", "set it to 12-50 letters and digits; the receiver refuses "
                                                       "to start without it")
    if s.public_url.startswith("https://"):
        yield Result(True, f"TDS_PUBLIC_URL {s.public_url}")
    else:
        yield Result(False, f"TDS_PUBLIC_URL {s.public_url or 'not set'}",
                     "set it to the public https:// root of the receiver (docs/deploy.md, reverse proxy)")


def check_clock(ctx: Context) -> Iterable[Result]:
    now = dt.datetime.now(dt.timezone.utc)
    url = ctx.settings.org(ctx.settings.zoho_organization_ids[0] if ctx.settings.zoho_organization_ids
                           else None).accounts_url
    try:
        header = requests.head(url, timeout=ctx.settings.zoho_timeout).headers.get("Date")
        theirs = email.utils.parsedate_to_datetime(header) if header else None
    except (requests.RequestException, TypeError, ValueError):
        theirs = None
    if theirs is None:
        yield Result(False, f"clock (could not read the time of {url})", "check the network to Zoho")
        return
    skew = (now - theirs).total_seconds()
    if abs(skew) <= CLOCK_TOLERANCE:
        yield Result(True, f"clock within {abs(skew):.0f}s of {url}")
    else:
        yield Result(False, f"clock {skew:+.0f}s off {url}", "synchronise this host's clock (NTP, timedatectl)")
    db_now = ctx.found.get("db_now")
    if isinstance(db_now, dt.datetime) and db_now.tzinfo is not None:
        db_skew = (now - db_now).total_seconds()
        if abs(db_skew) <= CLOCK_TOLERANCE:
            yield Result(True, f"clock within {abs(db_skew):.0f}s of the database's")
        else:
            yield Result(False, f"clock {db_skew:+.0f}s off the database's", "synchronise both hosts' clocks (NTP)")


def check_running(ctx: Context) -> Iterable[Result]:
    """What a working deployment has running: the scopes cover each enabled entity, a worker
    consumes every queue, one beat holds the schedule lock."""
    if not ctx.found.get("redis"):
        return  # Redis is down: check_redis said so, and none of these can be asked
    answer = ctx.workers(ctx.settings) if ctx.workers else None
    yield scopes_cover_entities(ctx.settings)
    yield workers_consume_every_queue(ctx.settings, answer)
    yield one_beat(ctx.settings)


def scopes_cover_entities(settings: Settings) -> Result:
    """Every enabled entity's API has a scope in ``ZOHO_SCOPES``."""
    if not settings.zoho_scopes:
        return Result(False, "ZOHO_SCOPES is not set, so the scopes cannot be checked",
                      "set ZOHO_SCOPES to the scopes the refresh token was granted")
    granted = [s.lower() for s in settings.zoho_scopes]
    lacking = sorted({e.name for e in registry.enabled(settings)
                      if not any(s.startswith(SCOPE_PREFIX.get(e.api, "~")) for s in granted)})
    if lacking:
        return Result(False, f"no scope covers {', '.join(lacking)}",
                      "grant the missing Zoho scope to the self-client and a new refresh token, or leave those "
                      "entities out with TDS_ENTITIES")
    return Result(True, f"the scopes cover every enabled entity ({len(registry.enabled(settings))})")


def workers_consume_every_queue(settings: Settings, workers: dict | None) -> Result:
    """``workers``: the live workers' answer (:func:`tds.ops.status.snapshot` says whose), None
    when they could not be asked."""
    if workers is None:
        return Result(False, "the workers could not be asked (broker unreachable)",
                      "start Redis and check TDS_REDIS_URL")
    consumed = {q for qs in workers.values() for q in qs}
    missing = [q for q in status.queue_names(settings) if q not in consumed]
    if missing:
        return Result(False, f"no worker consumes {', '.join(missing)}",
                      "start a worker for them: tds worker (or tds worker --queues webhooks / sync / maintenance / "
                      "images)")
    return Result(True, f"{len(workers)} worker(s) consume every queue")


def one_beat(settings: Settings) -> Result:
    """RedBeat's lock is held (by construction by one beat at most)."""
    if not status.beat_running(services.redis_client(settings)):
        return Result(False, "no beat holds the schedule lock", "start exactly one: tds beat")
    return Result(True, "one beat holds the schedule lock")


CHECKS: list[Callable[[Context], Iterable[Result]]] = [
    check_settings,
    check_database,
    check_redis,
    check_zoho,
    check_webhooks,
    check_clock,
    check_running,
]


def run_checks(settings: Settings, echo: Callable[[str], None] = print, workers: WorkersReader | None = None) -> bool:
    """Run every check, printing one line each; True when none failed. ``workers`` asks the
    live workers (see :func:`tds.ops.status.snapshot`)."""
    ctx = Context(settings, workers=workers)
    ok = True
    for check in CHECKS:
        for result in check(ctx):
            echo(mask_url(result.line()))
            ok = ok and result.ok
    return ok
