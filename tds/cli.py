"""The ``tds`` command: database, sync, simulator, receiver, worker, beat, the demo and Odoo."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import signal
import sys

import click

from tds import registry
from tds.config import ConfigError, get_settings, mask_url
from tds.exit_codes import ExitCode, Failure, database_failure, first_line, redis_failure


def _setup_logging(settings, debug: bool) -> None:
    """TDS's one log format (``TDS_LOG_FORMAT``) as component ``cli``; plain lines when the
    settings themselves are broken (the command that needs them says so)."""
    if settings is not None:
        from tds import logs

        logs.setup(settings, "cli")
        if debug:
            logging.getLogger().setLevel(logging.DEBUG)
    else:
        logging.basicConfig(level="DEBUG" if debug else "INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug:  # Alembic says "Context impl ..." on every command otherwise
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _metrics_env(settings) -> None:
    """``TDS_METRICS_DIR`` → ``PROMETHEUS_MULTIPROC_DIR`` for the process about to be exec'd."""
    if settings.metrics_dir:
        os.makedirs(settings.metrics_dir, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir


def _gunicorn(bind: str, workers: int, app: str, threads: int = 4, access_log: bool = True) -> None:
    settings = get_settings()
    _metrics_env(settings)
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", *gunicorn_args(bind, workers, threads, access_log),
                               "--config", "python:webhook_receiver.gunicorn_conf", app])


def _version() -> str:
    try:
        return importlib.metadata.version("tds")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), "--version", prog_name="tds", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def cli(debug: bool) -> None:
    """TDS keeps an ERP database in step with Zoho Books, Inventory and CRM.

    Settings come from the environment and .env (see .env.example). Exit codes: 0 done,
    1 a problem found, 2 usage or configuration, 3 already running, 4 over the Zoho quota,
    5 database, 6 Redis, 7 Zoho, 8 refused, 130 interrupted (docs/operations.md).
    """


def _database(settings, check_schema: bool = True):
    """Say which database this command opens (first line, stderr), connect, and check the schema."""
    import sqlalchemy as sa

    from tds import schema
    from tds.db import get_engine

    url = settings.require_database()
    shown = mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    click.echo(f"database: {shown}", err=True)
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        if check_schema:
            current, head = schema.current_revision(url), schema.head_revision(url)
            if current != head:
                raise Failure(f"database {shown} schema is at {current or 'nothing'}, newest is {head}",
                              "run tds db upgrade", ExitCode.DATABASE)
    except sa.exc.DBAPIError as exc:
        raise database_failure(exc, shown) from exc
    return engine


def _redis(settings) -> None:
    """Stop with one line when Redis does not answer (rather than Celery retrying forever)."""
    import redis as redis_lib

    try:
        redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis_lib.RedisError as exc:
        raise redis_failure(exc, mask_url(settings.redis_url)) from exc


def _entity(name: str):
    return registry.get(name)  # UnknownEntity names the valid ones


# ------------------------------------------------------------------ database


@cli.group()
def db() -> None:
    """Schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to migrate to.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema at TDS_DATABASE_URL."""
    import sqlalchemy as sa

    from tds import schema

    settings = get_settings()
    _database(settings, check_schema=False)
    try:
        schema.upgrade(settings.database_url, revision)
    except sa.exc.DBAPIError as exc:
        raise database_failure(exc, mask_url(settings.database_url)) from exc
    click.echo(f"database at revision {schema.current_revision(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision; exit 1 when a migration is pending."""
    from tds import schema

    settings = get_settings()
    _database(settings, check_schema=False)
    url = settings.database_url
    current, head = schema.current_revision(url), schema.head_revision(url)
    click.echo(f"current: {current or '(empty database)'}; newest: {head}")
    if current != head:
        sys.exit(1)


# ------------------------------------------------------------------ sync and reconcile

EXIT_FAILED = ExitCode.PROBLEM
EXIT_ALREADY_RUNNING = ExitCode.ALREADY_RUNNING
EXIT_OVER_BUDGET = ExitCode.OVER_BUDGET
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def _choose(settings, names, orgs):
    chosen = [_entity(n) for n in names] if names else list(registry.enabled(settings))
    return chosen, list(orgs) or list(settings.zoho_organization_ids)


def _plan_or_refuse(settings, client, chosen, org_ids, mode, show: bool, force: bool) -> bool:
    """Print the plan when asked; refuse (exit 4) when it does not fit today's quota. True: go on."""
    from tds.db import get_engine
    from tds.sync import plan

    engine = get_engine(settings.database_url)
    estimates = [plan.estimate(engine, e, org, mode, client) for org in org_ids for e in chosen]
    remaining = client.quota.remaining
    if show:
        click.echo(f"{mode} plan:")
        for line in plan.describe(estimates, settings.zoho_rate_limit, remaining):
            click.echo(line)
        return False
    short = plan.over_budget(estimates, remaining)
    if short and not force:
        for org, needed, left in short:
            click.echo(f"refused: the {mode} needs about {needed:,} Zoho calls for organization {org} and "
                       f"{left:,} are left today; run fewer entities, wait for the quota to reset, or add --force",
                       err=True)
        sys.exit(EXIT_OVER_BUDGET)
    return True


def _zoho_client(settings, progress):
    from tds import services
    from tds.zoho.client import ZohoClient

    settings.require_zoho_credentials()
    # a process of its own may wait for the shared rate limit; a task never does
    return ZohoClient(settings, redis=services.redis_client(settings), sleep=progress.sleep, budget_wait=60)


@contextlib.contextmanager
def _interruptible():
    """Ctrl-C or SIGTERM stops the run: it is marked aborted with its counts and frees its lock."""
    from tds.runs import RunInterrupted

    def on_term(signum, frame):
        raise RunInterrupted()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except (KeyboardInterrupt, RunInterrupted) as exc:
        click.echo("interrupted: the run is marked aborted with its counts so far, and its lock is released",
                   err=True)
        sys.exit(EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.TERMINATED)
    finally:
        signal.signal(signal.SIGTERM, previous)


@cli.command("sync")
@click.option("--full", "mode", flag_value="full", default=True, help="Page through every record (default).")
@click.option("--incremental", "mode", flag_value="incremental",
              help="Only what changed since the cursor (a full read when there is none yet).")
@click.option("--entities", "-e", multiple=True, help="Entities to sync (names or webhook slugs); default the enabled ones (TDS_ENTITIES).")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--since", default=None, help="Incremental from this time (ISO 8601) instead of the cursor.")
@click.option("--celery", "via_celery", is_flag=True, help="Send the syncs to the sync workers instead.")
@click.option("--refetch", is_flag=True,
              help="Fetch the details of records stored at the same Zoho time too (a repair run).")
@click.option("--plan", "show_plan", is_flag=True, help="Print the API calls and time it will take; sync nothing.")
@click.option("--force", is_flag=True, help="Start even when the estimate exceeds today's Zoho quota.")
@click.argument("more_entities", nargs=-1)
def sync_command(mode: str, entities, orgs, since, via_celery: bool, refetch: bool, show_plan: bool, force: bool,
                 more_entities) -> None:
    """Sync ENTITIES from Zoho: full (default) or incremental.

    Example: tds sync --incremental --entities items customers

    Default: the enabled entities (TDS_ENTITIES, TDS_CRM). An entity the organization does
    not have is reported unavailable, one line each, and does not fail the run.
    """
    import datetime as dt

    from tds.runs import Mode
    from tds.sync.progress import Progress

    settings = get_settings()
    chosen, org_ids = _choose(settings, list(entities) + list(more_entities), orgs)
    settings.require_zoho_credentials()
    _database(settings)
    _redis(settings)
    mode = Mode(mode)
    since_at = dt.datetime.fromisoformat(since) if since else None
    if since_at is not None and since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=dt.timezone.utc)
    if via_celery:
        from tasks import send_sync

        for org in org_ids:
            for entity in chosen:
                send_sync(entity.name, org, refetch, mode=mode, since=since_at.isoformat() if since_at else None)
                click.echo(f"queued {mode} sync of {entity.name} for {org}")
        return
    progress = Progress()
    client = _zoho_client(settings, progress)
    if not _plan_or_refuse(settings, client, chosen, org_ids, mode, show_plan, force):
        return
    with _interruptible():
        sys.exit(_sync_here(settings, client, progress, chosen, org_ids, mode, refetch, since_at))


def _sync_here(settings, client, progress, chosen, org_ids, mode, refetch: bool, since) -> int:
    from tds import services
    from tds.sync import availability
    from tds.sync import synchronizer as sync
    from tds.zoho.errors import ZohoAuthError, ZohoQuotaExceeded

    enqueue = _enqueue_or_none()
    code = 0
    unavailable = []
    with progress.session():
        for org in org_ids:
            quota_spent = None
            for entity in chosen:
                label = f"{entity.name} ({org})"
                if quota_spent:
                    progress.start(label)
                    progress.done(f"not run: {quota_spent}", failed=True)
                    continue
                progress.start(label)
                try:
                    result = availability.sync_entity(
                        settings, entity, org, client, mode=mode, redis=services.redis_client(settings),
                        enqueue=enqueue, refetch=refetch, since=since,
                        progress=lambda p: progress.page(p.records, p.seen, p.pages, p.expected))
                except sync.SyncAlreadyRunning as exc:
                    progress.done(str(exc), failed=True)
                    code = code or EXIT_ALREADY_RUNNING
                    continue
                except ZohoQuotaExceeded as exc:
                    quota_spent = f"daily Zoho quota spent until {_until(exc.retry_after)}"
                    progress.done(quota_spent, failed=True)
                    code = EXIT_FAILED
                    continue
                except (ZohoAuthError, ConfigError):
                    raise  # every other entity would fail the same way: say it once
                except Exception as exc:  # report and go on with the next entity
                    code = EXIT_FAILED
                    progress.done(f"failed: {exc}", failed=True)
                    continue
                if isinstance(result, availability.Unavailable):
                    unavailable.append(result)
                    progress.done(result.line())
                    continue
                progress.done(f"{result.records_written} written"
                              + (f", {result.records_unchanged} unchanged" if result.records_unchanged else "")
                              + (f", {result.records_failed} dead-lettered" if result.records_failed else "")
                              + f", {result.api_calls} API calls")
    for found in unavailable:  # not a failure: the organization does not have these; tried again next run
        click.echo(found.line())
    return code


def _until(seconds) -> str:
    import datetime as dt

    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=float(seconds or 0))
    return when.strftime("%H:%M UTC")


def _enqueue_or_none():
    """Fetch requests for missing references go to the workers when Redis answers."""
    try:
        from tasks import app, enqueue_event

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
        return enqueue_event
    except Exception:
        return None


@cli.command("reconcile")
@click.option("--repair", is_flag=True, help="Fetch missing and stale records; soft-delete what Zoho no longer has.")
@click.option("--dry-run", is_flag=True, help="Change nothing; say what a repair would do.")
@click.option("--entities", "-e", multiple=True, help="Entities to reconcile; default all.")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the report as JSON to this file.")
@click.option("--plan", "show_plan", is_flag=True, help="Print the API calls and time it will take; do nothing.")
@click.option("--force", is_flag=True, help="Start even when the estimate exceeds today's Zoho quota.")
@click.option("--celery", "via_celery", is_flag=True, help="Send the reconciles to the sync workers instead.")
def reconcile_command(repair, dry_run, entities, orgs, json_file, show_plan, force, via_celery) -> None:
    """Compare Zoho with the mirror, entity by entity.

    Reports the match; with --repair it mends what differs.

    Exit 0 when every entity's mismatch is within TDS_RECONCILE_ALERT_PERCENT, 1 otherwise.
    """
    import json as json_lib

    from tds import services
    from tds.runs import Mode
    from tds.sync import reconcile
    from tds.sync.progress import Progress

    settings = get_settings()
    chosen, org_ids = _choose(settings, entities, orgs)
    settings.require_zoho_credentials()
    _database(settings)
    _redis(settings)
    if via_celery:
        from tasks import send_reconcile

        for org in org_ids:
            for entity in chosen:
                send_reconcile(entity.name, org, repair=repair)
                click.echo(f"queued reconcile{' with repair' if repair else ''} of {entity.name} for {org}")
        return
    progress = Progress()
    client = _zoho_client(settings, progress)
    if not _plan_or_refuse(settings, client, chosen, org_ids, Mode.RECONCILE, show_plan, force):
        return

    def on_page(entity, org):
        progress.start(f"{entity.name} ({org})")
        counter = {"seen": 0, "pages": 0}

        def page(n):
            counter["seen"] += n
            counter["pages"] += 1
            progress.page(n, counter["seen"], counter["pages"])

        return page

    def on_entity(rep):
        warn = f"; {rep.warnings[0]}" if rep.warnings else ""
        progress.done(f"{rep.match_percent:.2f} % match{warn}", failed=bool(rep.warnings))

    with _interruptible(), progress.session():
        report = reconcile.reconcile(settings, chosen, org_ids, client, repair=repair, dry_run=dry_run,
                                     redis=services.redis_client(settings), enqueue=_enqueue_or_none(),
                                     on_entity=on_entity, progress_for=on_page)
    _print_report(report, dry_run)
    if json_file:
        with open(json_file, "w", encoding="utf-8") as fh:
            json_lib.dump(report.as_dict(), fh, indent=2, default=str)
    sys.exit(0 if report.healthy else EXIT_FAILED)


def _print_report(report, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("entity", "organization", "zoho", "here", "match %", "missing here", "gone from zoho", "stale",
                  "drift", "repaired" if not dry_run else "would repair", "deleted" if not dry_run else "would delete",
                  "API calls")
    for e in report.entities:
        table.add_row(e.entity, e.organization_id, str(e.zoho_count), str(e.here_count), f"{e.match_percent:.2f}",
                      str(len(e.missing_here)), str(len(e.gone_from_zoho)), str(len(e.stale_here)), str(len(e.drift)),
                      str(e.would_repair if dry_run else e.repaired), str(e.would_delete if dry_run else e.deleted),
                      str(e.api_calls))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
    for e in report.entities:
        for kind in ("missing_here", "gone_from_zoho", "stale_here", "drift"):
            ids = [i for i in getattr(e, kind) if i][:5]
            if ids:
                console.print(f"{e.entity} {kind.replace('_', ' ')}: {', '.join(ids)}"
                              + (" …" if len(getattr(e, kind)) > len(ids) else ""))
        if e.details.get("images"):
            from tds.sync.images import describe

            console.print(f"{e.entity} ({e.organization_id}) {describe(e.details['images'])}")
        for warning in e.warnings:
            console.print(f"[yellow]{e.entity} ({e.organization_id}): {warning}")
    console.print(f"health score {report.health_score:.1f}/100 ({report.label})")


# ------------------------------------------------------------------ processes


def _scale(value: str):
    """A simulator data size: full, small, tiny, or a positive factor of full."""
    from tds.simulator.config import NAMED_SCALES

    if value in NAMED_SCALES:
        return value
    try:
        factor = float(value)
    except ValueError:
        factor = 0.0
    if factor <= 0:
        raise click.BadParameter(f"{value!r} is not a size; use {', '.join(NAMED_SCALES)} or a positive factor "
                                 "such as 0.5", param_hint="--scale")
    return factor


def _scale_option(ctx, param, value):
    return _scale(value)


@cli.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--scale", default="full", show_default=True, callback=_scale_option,
              help="full, small, tiny, or a factor of full.")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--org", "orgs", multiple=True, help="Organization ids to serve.")
@click.option("--webhook-url", default=None,
              help="Base URL webhooks are sent to, e.g. http://127.0.0.1:8000/api/zoho/webhooks")
@click.option("--rate-limit", default=0, type=int, help="Requests per minute per organization (0 = off).")
@click.option("--daily-limit", default=0, type=int, help="Requests per day per organization (0 = off).")
@click.option("--error-rate", default=0.0, type=float, help="Share of answers that fail with 5xx.")
@click.option("--shapes", type=click.Choice(["canonical", "sparse", "varied"]), default="canonical",
              show_default=True, help="How records are written: Zoho's usual shapes, without the optional "
                                      "figures, or varied number/time/boolean forms and missing modules.")
def simulator_command(host, port, scale, seed, orgs, webhook_url, rate_limit, daily_limit, error_rate,
                      shapes) -> None:
    """Run the Zoho simulator (a fake Zoho) in the foreground.

    Secrets come from the environment, never the command line: TDS_SIMULATOR_CLIENT_ID,
    TDS_SIMULATOR_CLIENT_SECRET, TDS_SIMULATOR_REFRESH_TOKEN and TDS_SIMULATOR_WEBHOOK_SECRET,
    each falling back to its ZOHO_ variable (so one .env serves TDS and the simulator).
    """
    from tds.simulator.server import serve

    serve(_simulator_config(seed=seed, scale=scale, orgs=orgs, webhook_url=webhook_url, rate_limit_per_minute=rate_limit,
                            daily_limit=daily_limit, error_rate=error_rate, shapes=shapes), host, port)


def _simulator_config(orgs=(), **kwargs):
    """The simulator's configuration: options from the command line, secrets from the environment,
    the data set's sizes from the registry."""
    from dotenv import dotenv_values

    from tds.simulator.config import SimulatorConfig

    env = {k: v for k, v in (dotenv_values(".env") if os.path.exists(".env") else {}).items() if v}
    env.update({k: v for k, v in os.environ.items() if v})
    for field_name, names in (
        ("client_id", ("TDS_SIMULATOR_CLIENT_ID", "ZOHO_CLIENT_ID")),
        ("client_secret", ("TDS_SIMULATOR_CLIENT_SECRET", "ZOHO_CLIENT_SECRET")),
        ("refresh_token", ("TDS_SIMULATOR_REFRESH_TOKEN", "ZOHO_REFRESH_TOKEN")),
        ("webhook_secret", ("TDS_SIMULATOR_WEBHOOK_SECRET", "ZOHO_WEBHOOK_SECRET")),
    ):
        value = next((env[n].strip() for n in names if env.get(n, "").strip()), None)
        if value:
            kwargs[field_name] = value
    org_list = list(orgs) or [o.strip() for o in (env.get("TDS_SIMULATOR_ORGANIZATIONS")
                                                   or env.get("ZOHO_ORGANIZATION_ID") or "").split(",") if o.strip()]
    if org_list:
        kwargs["organizations"] = tuple(org_list)
    try:
        return SimulatorConfig(full_counts=registry.simulator_counts(), **kwargs)
    except ValueError as exc:
        raise click.UsageError(f"simulator: {exc}") from None


ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'


@cli.command("receiver")
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int,
              help="Threads per worker: a slow client holds one thread, never a whole worker (more threads "
                   "hold more slow clients, and cost CPU per request in contention for the interpreter).")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="A line per request (the receiver logs every refusal itself; the proxy in front logs "
                   "every request).")
def receiver_command(bind: str, workers: int, threads: int, access_log: bool) -> None:
    """Serve the webhook receiver with gunicorn.

    Threaded workers; put a buffering reverse proxy in front (docs/reliability.md).
    """
    from webhook_receiver import create_app

    settings = get_settings()
    _database(settings)
    create_app(settings, enqueue=lambda *a: None)  # fail here, clearly, on a bad configuration
    _gunicorn(bind, workers, "webhook_receiver:create_app()", threads, access_log)


def gunicorn_args(bind: str, workers: int, threads: int, access_log: bool = True) -> list[str]:
    """gthread workers, so a client that sends its body slowly (or never) holds one thread;
    no control socket, so two receivers on one host do not take each other's; the access
    log, when on, shows the path without the query string (``?token=`` carries the secret)."""
    args = ["--bind", bind, "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--timeout", "30", "--graceful-timeout", "20", "--keep-alive", "5", "--no-control-socket"]
    return args + (["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT] if access_log else [])


@cli.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@click.option("--queues", "groups", multiple=True,
              type=click.Choice(["all", "webhooks", "sync", "maintenance", "images", "odoo"]),
              help="Which queues: webhooks (one per entity), sync (syncs and reconciles), maintenance, images, "
                   "odoo; default all.")
def worker_command(ctx, groups) -> None:
    """Run a Celery worker on TDS queues.

    Extra arguments go to celery.

    Run webhook workers and sync workers apart so a long sync never holds up webhooks:
    tds worker --queues webhooks --queues maintenance  and  tds worker --queues sync
    """
    from tds.queues import queues_of

    settings = get_settings()
    _database(settings)
    _redis(settings)
    args = ["-A", "tasks", "worker", "-E", "-Q", ",".join(queues_of(list(groups))), *ctx.args]
    _metrics_env(get_settings())
    os.execvp(sys.executable, [sys.executable, "-m", "celery", *args])


@cli.command("beat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat_command(ctx) -> None:
    """Run Celery beat (a RedBeat lock keeps it to one)."""
    _redis(get_settings())
    _metrics_env(get_settings())
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks", "beat", *ctx.args])


@cli.group()
def inbox() -> None:
    """The webhook inbox."""


@inbox.command("sweep")
def inbox_sweep() -> None:
    """Send again every inbox event that should have finished.

    What beat and the workers run on their own (docs/reliability.md). A database or Redis
    that does not answer is one line and its exit code, never a traceback.
    """
    from tasks import enqueue_event
    from tds import services
    from tds.inbox import healing

    settings = get_settings()
    _database(settings)
    _redis(settings)
    try:
        report = healing.run_sweep(settings, enqueue_event, services.redis_client(settings))
    except healing.SweepRunning:
        click.echo("a sweep is already running; nothing done")
        return
    click.echo(report.describe())


@cli.group("events")
def events_group() -> None:
    """Named events: list them; replay inbox events.

    tds events list [--name] [--since] · tds events replay --since T
    """


def _since(value: str):
    """``2026-11-30T08:00:00+00:00``, ``2026-11-30`` (UTC midnight), or an age: ``90m``, ``6h``, ``2d``."""
    import datetime as dt

    from tds.db import UTC, utcnow

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = value.strip()
    if raw[-1:] in units and raw[:-1].isdigit():
        return utcnow() - dt.timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give an ISO time (2026-11-30T08:00:00+00:00) or an age (6h)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@events_group.command("replay")
@click.option("--since", "since", required=True, help="ISO time, or an age such as 6h or 2d.")
@click.option("--entity", default=None, help="Only this entity (name or webhook slug).")
@click.option("--id", "zoho_id", default=None, help="Only this Zoho record id.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; change nothing.")
def events_replay(since, entity, zoho_id, dry_run) -> None:
    """Process again the inbox events since a time.

    Idempotent: the stale-write guard keeps newer data, and replaying twice changes nothing.
    """
    from tasks import enqueue_event
    from tds.db import get_engine
    from tds.inbox.replay import replay_events

    chosen = replay_events(get_engine(get_settings().database_url), _since(since), enqueue_event,
                           entity=registry.get(entity).name if entity else None, zoho_id=zoho_id, dry_run=dry_run)
    if dry_run:
        for event in chosen:
            click.echo(f"{event.id}\t{event.received_at:%Y-%m-%d %H:%M:%S}\t{event.entity}\t{event.zoho_id}"
                       f"\t{event.status}")
        click.echo(f"would replay {len(chosen)} events")
    else:
        click.echo(f"replayed {len(chosen)} events")


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """What failed for good: list, show, replay, purge."""


def _selection(ids, entity, everything):
    from tds.inbox.deadletters import Selection

    if not (ids or entity or everything):
        raise click.UsageError("name dead letter ids, or --entity NAME, or --all")
    return Selection(ids=tuple(ids), entity=_entity(entity).name if entity else None, everything=everything)


@dead_letters_group.command("list")
@click.option("--entity", default=None, help="Only this entity.")
@click.option("--replayed", is_flag=True, help="Include letters already replayed.")
@click.option("--limit", default=100, show_default=True, type=int)
def dead_letters_list(entity, replayed, limit) -> None:
    """List dead letters, newest first."""
    from rich.console import Console
    from rich.table import Table

    from tds.inbox.deadletters import list_letters

    name = _entity(entity).name if entity else None
    engine = _database(get_settings())
    rows = list_letters(engine, name, replayed, limit)
    table = Table("id", "when", "entity", "organization", "zoho id", "attempts", "error", "replayed")
    for row in rows:
        table.add_row(str(row.id), row.created_at.strftime("%Y-%m-%d %H:%M:%S"), row.entity,
                      row.organization_id or "", row.zoho_id or "", str(len(row.attempts or [])),
                      row.error[:80], str(row.replay_count) if row.replay_count else "")
    console = Console()
    if not console.is_terminal:  # piped or captured: do not cut ids to fit 80 columns
        console = Console(width=240)
    console.print(table)
    click.echo(f"{len(rows)} dead letters")


@dead_letters_group.command("show")
@click.argument("letter_id", type=int)
def dead_letters_show(letter_id: int) -> None:
    """Show one dead letter whole, as JSON.

    Its payload, its error and every attempt.
    """
    import simplejson

    from tds.db import get_engine, json_default
    from tds.inbox.deadletters import get_letter

    letter = get_letter(get_engine(get_settings().database_url), letter_id)
    if letter is None:
        click.echo(f"no dead letter {letter_id}", err=True)
        sys.exit(1)
    click.echo(simplejson.dumps(dict(letter._mapping), indent=2, default=json_default, use_decimal=True,
                                ensure_ascii=False))


@dead_letters_group.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--entity", default=None, help="Every dead letter of this entity not replayed yet.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter not replayed yet.")
def dead_letters_replay(ids, entity, everything) -> None:
    """Send dead letters' work to the workers again."""
    from tasks import enqueue_event, send_sync
    from tds.inbox.replay import replay_dead_letters

    selection = _selection(ids, entity, everything)
    settings = get_settings()
    engine = _database(settings)
    _redis(settings)
    n = replay_dead_letters(engine, selection, enqueue_event, send_sync)
    click.echo(f"replayed {n} dead letters")


@dead_letters_group.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--entity", default=None, help="Every dead letter of this entity.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def dead_letters_purge(ids, entity, everything, yes) -> None:
    """Delete dead letters for good."""
    from tds.inbox.deadletters import purge

    selection = _selection(ids, entity, everything)
    engine = _database(get_settings())
    if not yes:
        click.confirm("Delete these dead letters for good?", abort=True)
    n = purge(engine, selection)
    click.echo(f"purged {n} dead letters")


# ------------------------------------------------------------------ setting up


@cli.command("doctor")
def doctor_command() -> None:
    """Check the setup, one line per check.

    Settings, database and schema, Redis, a real Zoho token refresh and a cheap call per
    organization, the webhook secret and the clock. Exits 1 when any check fails.
    """
    from tasks.celery_app import live_workers
    from tds.ops.doctor import run_checks

    ok = run_checks(get_settings(), click.echo, workers=live_workers)
    sys.exit(0 if ok else ExitCode.PROBLEM)


@cli.group("zoho")
def zoho_group() -> None:
    """Connecting to Zoho."""


@zoho_group.command("token")
@click.option("--code", required=True, help="The grant code from the API console (Self Client → Generate Code).")
@click.option("--org", default=None, help="Print the variables prefixed for this organization id.")
def zoho_token(code: str, org: str | None) -> None:
    """Trade a grant code for a refresh token.

    Prints the lines to put in .env.
    Uses ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_DC (or their ZOHO_<ORGID>_ forms with --org).
    """
    from tds.zoho.auth import exchange_grant_code

    settings = get_settings()
    target = settings.org(org)
    for env, value in target.credentials()[:2]:
        if not value:
            raise ConfigError(f"{env} is not set; copy it from the Self Client page of the API console first")
    answer = exchange_grant_code(target, code, timeout=settings.zoho_timeout)
    prefix = f"ZOHO_{org}_" if org else "ZOHO_"
    click.echo("# put these lines in .env (the refresh token is a secret: keep .env private)")
    click.echo(f"{prefix}REFRESH_TOKEN={answer['refresh_token']}")
    dc = answer.get("dc")
    if dc:
        click.echo(f"{prefix}DC={dc}")
    if answer.get("scope"):
        click.echo(f"# scopes granted: {answer['scope']}")


@cli.group("webhooks")
def webhooks_group() -> None:
    """The webhooks and workflow rules Zoho needs."""


@webhooks_group.command("plan")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--show-secret", is_flag=True, help="Print the secret itself, to type it into Zoho.")
def webhooks_plan(orgs, show_secret: bool) -> None:
    """Print the webhooks and workflow rules to create in Zoho."""
    from tds.ops.webhook_setup import plan, print_plan

    settings = get_settings()
    print_plan(plan(settings, list(orgs) or None), click.echo, show_secret=show_secret)


@webhooks_group.command("install")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--yes", is_flag=True, help="Really create them (TDS's only write to Zoho).")
def webhooks_install(orgs, yes: bool) -> None:
    """Create the planned webhooks and workflow rules in Zoho.

    Existing ones (same name or URL) are skipped, so running it again is harmless.
    """
    from tds.ops.webhook_setup import install, plan, print_plan
    from tds.zoho import shared as zoho_shared

    settings = get_settings()
    planned = plan(settings, list(orgs) or None)
    if not yes:
        print_plan(planned, click.echo)
        raise click.UsageError("nothing created: add --yes to create these in Zoho")
    settings.require_zoho_credentials()
    _redis(settings)
    created = install(planned, zoho_shared.zoho_client(settings), click.echo)
    click.echo(f"created {created} webhooks and workflow rules; the others already existed")


@cli.command("demo")
@click.option("--scale", default="full", show_default=True, callback=_scale_option,
              help="Simulator data size: full, small, tiny or a factor.")
@click.option("--changes", default=100, show_default=True, type=int, help="Records the simulator changes.")
@click.option("--database", "database", default=None,
              help="Database URL for the demo (default: SQLite tds-demo.db here; never TDS_DATABASE_URL).")
@click.option("--redis", "redis_url", default=None,
              help="Redis URL for the demo (default: a private redis-server; never TDS_REDIS_URL).")
def demo_command(scale, changes: int, database: str | None, redis_url: str | None) -> None:
    """Run TDS end to end against the simulator.

    The demo is isolated from your setup: its own SQLite file and a private Redis, unless
    --database and --redis say otherwise. It refuses a database holding non-demo data.
    """
    from tds.demo import run_demo

    sys.exit(run_demo(scale=scale, changes=changes, database_url=database, redis_url=redis_url))


    try:
        return get_settings()
    except ConfigError:
        return None


# ------------------------------------------------------------------ images


@cli.group("images")
def images_group() -> None:
    """Product images from Zoho Inventory.

    Fetch them into TDS_IMAGE_DIR, and count them.
    """


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@images_group.command("sync")
@click.option("--missing-only", is_flag=True, help="Only images missing or stale here (what the hourly sweep sends).")
@click.option("--dry-run", is_flag=True, help="List what would be fetched and how long it takes; change nothing.")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--celery", "via_celery", is_flag=True, help="Send one task per image to the tds.images queue instead.")
def images_sync(missing_only: bool, dry_run: bool, orgs: tuple[str, ...], via_celery: bool) -> None:
    """Fetch product images, then report what changed.

    Every image, or with --missing-only only what is missing.

    Without --missing-only every image is fetched again and compared by sha256, which also
    finds images Zoho replaced under the same image_document_id.
    """
    import time

    from tds.sync import images

    settings = get_settings()
    _database(settings)
    org_ids = list(orgs) or list(settings.zoho_organization_ids)
    jobs = [job for org in org_ids for job in images.pending(settings, org, missing_only=missing_only)]
    downloads = sum(job.fetch for job in jobs)
    click.echo(f"{downloads} images to fetch, {len(jobs) - downloads} to remove; under TDS_ZOHO_RATE_LIMIT="
               f"{settings.zoho_rate_limit}/min, of which images use {settings.image_budget_share:.0%}, "
               f"that takes at least {_duration(images.seconds_needed(settings, downloads))}")
    if dry_run:
        for job in jobs:
            click.echo(f"would {'fetch' if job.fetch else 'remove'} {job.organization_id} {job.zoho_item_id}")
        return
    if via_celery:
        from tasks import send_image

        for job in jobs:
            send_image(job.organization_id, job.zoho_item_id)
        click.echo(f"queued {len(jobs)} image tasks on tds.images")
        return
    from tds.zoho import shared as zoho_shared
    from tds.zoho.errors import ZohoError

    settings.require_zoho_credentials()
    client = zoho_shared.zoho_client(settings, budget_wait=60)  # this process may wait for the rate limit
    done: dict[str, int] = {}
    problems: list[str] = []

    def one(job) -> str:
        while True:
            try:
                return str(images.download(settings, client, job))
            except images.BudgetReserved as exc:  # webhooks come first; this process may wait
                time.sleep(exc.retry_after or 1)
            except (images.ImageRefused, ZohoError) as exc:
                problems.append(f"{job.organization_id} {job.zoho_item_id}: {exc}")
                return "refused" if isinstance(exc, images.ImageRefused) else "failed"

    for n, job in _progress(jobs, "images"):
        outcome = one(job)
        done[outcome] = done.get(outcome, 0) + 1
        if n is not None:
            click.echo(f"[{n}/{len(jobs)}] {job.organization_id} {job.zoho_item_id}: {outcome}")
    click.echo(", ".join(f"{count} {what}" for what, count in sorted(done.items())) or "nothing to do")
    for line in problems:
        click.echo(line, err=True)
    if problems:
        sys.exit(1)


def _progress(items: list, label: str):
    """``(n, item)``: a rich progress bar on a terminal (n None), else plain numbered lines (n)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield from ((n, item) for n, item in enumerate(items, start=1))
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task(label, total=len(items))
        for item in items:
            yield None, item
            progress.advance(task)


@images_group.command("status")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
def images_status(orgs: tuple[str, ...]) -> None:
    """Image coverage per organization.

    Items with an image in Zoho, files present, missing, stale, and why downloads were refused.
    """
    from rich.console import Console
    from rich.table import Table

    from tds.sync import images

    settings = get_settings()
    _database(settings)
    table = Table("organization", "items", "with image", "present", "missing", "stale", "refused", "orphaned",
                  "coverage")
    lines = []
    for org in list(orgs) or list(settings.zoho_organization_ids):
        c = images.coverage(settings, org)
        table.add_row(org, *(str(c[k]) for k in ("items", "with_image", "present", "missing", "stale", "failed",
                                                  "orphaned")), f"{c['percent']:.1f} %")
        lines.append(f"{org} {images.describe(c)}")
        lines += [f"  refused {item}: {reason}" for item, reason in images.refusals(settings, org)]
    console = Console()
    console.print(table)
    for line in lines:
        console.print(line, highlight=False, markup=False)


# ------------------------------------------------------------------ odoo


@cli.group("odoo")
def odoo_group() -> None:
    """Odoo, the second destination.

    Products and images pushed from the ERP mirror.
    """


def _odoo_engine():
    from tds.db import get_engine

    return get_engine(get_settings().database_url)


def _run_line(run) -> str:
    if run is None:
        return "never"
    counts = ", ".join(f"{c} {getattr(run, c)}" for c in ("created", "updated", "unchanged", "archived",
                                                           "conflicts", "images", "failed"))
    when = run.started_at.strftime("%Y-%m-%d %H:%M:%S")
    return f"#{run.id} {run.trigger} {run.status} at {when}: {counts}" + (f" — {run.error}" if run.error else "")


@odoo_group.command("sync-once")
@click.option("--item", "items", multiple=True, help="Only these Zoho item ids.")
@click.option("--org", default=None, help="Only this organization.")
def odoo_sync_once(items, org) -> None:
    """Push changed products to Odoo now, in this process."""
    from tds import services
    from tds.sinks.odoo import push

    settings = get_settings()
    run = push.push(settings, services.redis_client(settings), trigger="cli", organization_id=org,
                    zoho_item_ids=list(items) or None)
    counts = ", ".join(f"{k} {v}" for k, v in run.result.as_dict().items())
    click.echo(f"run {run.run_id}: {counts}; {run.odoo_calls} Odoo calls")
    if run.result.failed:
        sys.exit(1)


@odoo_group.command("status")
def odoo_status() -> None:
    """Where Odoo is and whether it answers.

    Also the last runs and what TDS has there.
    """
    from tds.sinks.odoo import reports
    from tds.sinks.odoo.client import OdooClient

    settings = get_settings()
    if not settings.odoo_enabled:
        click.echo("Odoo: off (ODOO_URL is not set)")
        return
    click.echo(f"Odoo: {settings.odoo_url} database {settings.odoo_db!r} as {settings.odoo_username!r}")
    try:
        client = OdooClient.from_settings(settings)
        click.echo(f"login: ok (uid {client.uid})")
    except Exception as exc:  # the point of the command is to say what is wrong
        click.echo(f"login: failed: {exc}")
    with _odoo_engine().connect() as conn:
        click.echo(f"last run: {_run_line(reports.last_run(conn))}")
        click.echo(f"last success: {_run_line(reports.last_run(conn, 'succeeded'))}")
        tracked = reports.tracked(conn)
    click.echo(f"products in Odoo: {tracked['active']} active, {tracked['archived']} archived")


@odoo_group.command("stats")
@click.option("--hours", default=24, show_default=True, type=int)
def odoo_stats(hours: int) -> None:
    """Runs and their counts over the last HOURS."""
    import datetime as dt

    from tds.sinks.odoo import reports

    with _odoo_engine().connect() as conn:
        totals = reports.totals(conn, dt.timedelta(hours=hours))
        tracked = reports.tracked(conn)
    runs = ", ".join(f"{n} {status}" for status, n in sorted(totals.pop("runs").items())) or "none"
    click.echo(f"last {hours} h: runs {runs}")
    for name, value in totals.items():
        click.echo(f"  {name}: {value}")
    click.echo(f"products in Odoo: {tracked['active']} active, {tracked['archived']} archived")


def _print_log(log: str, limit: int, item: str | None, action: str | None = None) -> None:
    from tds.db import json_dumps
    from tds.sinks.odoo import reports

    with _odoo_engine().connect() as conn:
        rows = reports.recent(conn, log, limit, item, action)
    for row in rows:
        detail = {"changes": lambda r: f"{r.action} {json_dumps(r.fields)}",
                  "conflicts": lambda r: json_dumps(r.fields),
                  "images": lambda r: f"{r.sha256[:12]} {r.size_bytes} bytes {r.path}"}[log](row)
        click.echo(f"{row.at:%Y-%m-%d %H:%M:%S} item {row.zoho_item_id} odoo {row.odoo_template_id or '-'} {detail}")
    click.echo(f"{len(rows)} {log}")


@odoo_group.command("conflicts")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--item", default=None, help="Only this Zoho item id.")
def odoo_conflicts(limit, item) -> None:
    """Odoo edits that Zoho overwrote.

    Field, Odoo's value, Zoho's value.
    """
    _print_log("conflicts", limit, item)


@odoo_group.command("changes")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--item", default=None, help="Only this Zoho item id.")
@click.option("--action", default=None, type=click.Choice(["create", "update", "archive", "unarchive", "failed"]))
def odoo_changes(limit, item, action) -> None:
    """What TDS wrote to Odoo (and what it could not), newest first."""
    _print_log("changes", limit, item, action)


@odoo_group.command("images")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--item", default=None, help="Only this Zoho item id.")
def odoo_images(limit, item) -> None:
    """Images uploaded to Odoo, newest first."""
    _print_log("images", limit, item)


@odoo_group.command("monitor")
@click.option("--interval", default=10.0, show_default=True, type=float, help="Seconds between lines.")
@click.option("--count", default=0, type=int, help="Stop after this many lines (0: until interrupted).")
def odoo_monitor(interval: float, count: int) -> None:
    """Watch the last run and what TDS has in Odoo.

    Printed every INTERVAL seconds.
    """
    import time

    from tds.sinks.odoo import reports

    shown = 0
    while True:
        with _odoo_engine().connect() as conn:
            tracked = reports.tracked(conn)
            click.echo(f"{_run_line(reports.last_run(conn))} | in Odoo: {tracked['active']} active, "
                       f"{tracked['archived']} archived")
        shown += 1
        if count and shown >= count:
            return
        time.sleep(interval)


@odoo_group.command("standin")
@click.option("--port", default=8069, show_default=True, type=int)
@click.option("--db", default="odoo", show_default=True)
@click.option("--login", default="admin", show_default=True)
@click.option("--password", default="admin", show_default=True)
def odoo_standin(port, db, login, password) -> None:
    """Serve the Odoo stand-in in the foreground.

    What the tests run against, on 127.0.0.1.
    """
    import time

    from tds.sinks.odoo.standin import OdooStandin

    standin = OdooStandin(db=db, login=login, password=password)
    click.echo(f"Odoo stand-in at {standin.start(port=port)} (db {db!r}, {login}/{password}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()


def _failure(exc: BaseException) -> Failure | None:
    """The one-line form of an expected failure, or None for a bug (which keeps its traceback)."""
    import kombu.exceptions
    import redis as redis_lib
    import sqlalchemy as sa

    from tds.zoho.errors import ZohoAuthError, ZohoTransientError

    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, ConfigError):
        return Failure(f"configuration error: {exc}", "", ExitCode.USAGE)
    if isinstance(exc, registry.UnknownEntity):
        return Failure(str(exc).strip("\"'"), "", ExitCode.USAGE)
    settings = _settings_or_none()
    if isinstance(exc, sa.exc.DBAPIError):
        return database_failure(exc, mask_url(settings.database_url if settings else "(TDS_DATABASE_URL)"))
    if isinstance(exc, (redis_lib.RedisError, kombu.exceptions.OperationalError)):
        return redis_failure(exc, mask_url(settings.redis_url if settings else "(TDS_REDIS_URL)"))
    if isinstance(exc, ZohoAuthError):
        return Failure(f"Zoho refused the credentials ({first_line(exc)})",
                       "check ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN and ZOHO_DC; "
                       "tds doctor checks each organization", ExitCode.ZOHO)
    if isinstance(exc, ZohoTransientError):
        return Failure(f"Zoho could not be reached ({first_line(exc)})",
                       "try again later; tds doctor checks each organization", ExitCode.ZOHO)
    return None


def _settings_or_none():
    try:
        return get_settings()
    except ConfigError:
        return None


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        settings = _settings_or_none()  # a bad setting is reported by the command that needs it
        _setup_logging(settings, debug)
        cli.main(args=args, prog_name="tds", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(ExitCode.PROBLEM)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        failure = None if debug else _failure(exc)
        if failure is None:
            raise
        click.echo(failure.line(), err=True)
        sys.exit(failure.code)


# ------------------------------------------------------------------ operations


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="The snapshot as JSON, for scripts.")
@click.option("--no-workers", is_flag=True, help="Do not ask the workers (Celery inspect).")
def status_command(as_json: bool, no_workers: bool) -> None:
    """The state at a glance, per organization and entity.

    Exit 0 healthy, 1 warning, 2 critical.
    """
    import json

    from tasks.celery_app import live_workers
    from tds.ops import status

    settings = get_settings()
    snap = status.snapshot(settings, workers=None if no_workers else live_workers, with_images=True)
    if as_json:
        click.echo(json.dumps(snap, indent=2, default=str))
    else:
        _print_status(snap)
    sys.exit(status.exit_code(snap))


def _ago(seconds) -> str:
    if seconds is None:
        return "never"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def _print_status(snap: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or captured: never squeeze the table
        console = Console(width=200)
    table = Table("organization", "entity", "rows", "incremental", "full", "reconcile", "lag", "match", "pending",
                  "failed", "parked", "dead letters")
    for e in snap["entities"]:
        match = "" if e["match_percent"] is None else f"{e['match_percent']:.2f} %"
        table.add_row(e["organization_id"], e["entity"] + ("" if e["available"] else " (unavailable)"),
                      str(e["rows"]), (e["last_incremental_sync_at"] or "never")[:16],
                      (e["last_full_sync_at"] or "never")[:16], (e["last_reconcile_at"] or "never")[:16],
                      _ago(e["lag_seconds"]), match, str(e["pending"]), str(e["failed"]), str(e["parked"]),
                      str(e["dead_letters"]))
    console.print(table)
    out = []
    queues = snap["queues"]
    out.append("queues: " + ("Redis unavailable" if queues is None else
                             ", ".join(f"{q} {n}" for q, n in queues.items() if n) or "all empty"))
    workers = snap["workers"]
    out.append("workers: " + ("not asked" if workers is None else
                              "; ".join(f"{w} ({len(qs)} queues)" for w, qs in sorted(workers.items())) or "none"))
    out.append(f"beat: {'running' if snap['beat_running'] else 'not running'}")
    out.append("Zoho calls left today: " + ", ".join(f"{org} {'unknown' if left is None else left}"
                                                      for org, left in snap["quota"].items()))
    out.append("breakers: " + (", ".join(f"{a} {s}" for a, s in snap["breakers"].items()) or "all closed"))
    report = snap["reconcile"]
    out.append(f"health score: {report['health_score']} ({report['label']})" if report else
               "health score: no reconcile yet")
    for org, cov in (snap.get("images") or {}).items():
        out.append(f"{org} {cov['summary']}")
    out.append(f"dead letters: {snap['dead_letters']}")
    for c in snap["conditions"]:
        out.append(f"{c['severity'].upper()}: {c['message']}")
    out.append(f"status: {snap['severity']}")
    for line in out:
        console.print(line, highlight=False, markup=False)


@cli.command("status-page")
@click.option("--bind", default="127.0.0.1:8001", show_default=True)
@click.option("--workers", default=1, show_default=True, type=int)
def status_page_command(bind: str, workers: int) -> None:
    """Serve the status page (/status, /api/status).

    With gunicorn, behind TDS_ADMIN_TOKEN.
    """
    settings = get_settings()
    if not settings.admin_token:
        raise ConfigError("TDS_ADMIN_TOKEN is not set; the status page needs it (Bearer or basic-auth password)")
    _gunicorn(bind, workers, "status_page:create_app()")


@cli.group("alerts")
def alerts_group() -> None:
    """Alerts: what is open, and a check now."""


@alerts_group.command("check")
def alerts_check() -> None:
    """Check the alert rules now, as beat does.

    Delivers what opens or clears (log, status page, TDS_ALERT_WEBHOOK_URL).
    """
    from tasks.celery_app import live_workers
    from tds.ops import alerts, status

    settings = get_settings()
    for notice in alerts.check(settings, status.snapshot(settings, workers=live_workers)):
        click.echo(notice.text)


@alerts_group.command("list")
def alerts_list() -> None:
    """The open alerts."""
    from tds.db import get_engine
    from tds.ops import status

    with get_engine(get_settings().database_url).connect() as conn:
        found = status.open_alerts(conn)
    for a in found:
        click.echo(f"{a['opened_at'][:19]} {a['severity']:8} {a['message']}")
    if not found:
        click.echo("no open alerts")


def _since(value: str | None):
    """``2026-12-01T08:00``, ``2026-12-01`` or a duration back from now: ``90m``, ``2h``, ``3d``."""
    import datetime as dt

    from tds.db import utcnow

    if not value:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return utcnow() - dt.timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("give an ISO time (2026-12-01T08:00) or a duration (90m, 2h, 3d)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@events_group.command("list")
@click.option("--name", help="An event name, or a family: tds.zoho.sync.*")
@click.option("--since", help="ISO time or a duration back from now (90m, 2h, 3d).")
@click.option("--limit", default=100, show_default=True, type=int)
def events_list(name, since, limit) -> None:
    """The newest named events first."""
    import json

    from tds import hooks
    from tds.db import get_engine

    rows = hooks.listing(get_engine(get_settings().database_url), name, _since(since), limit)
    for r in rows:
        where = " ".join(x for x in (r.organization_id, r.entity) if x)
        click.echo(f"{r.created_at.isoformat()[:19]} {r.name} {where} {json.dumps(r.payload or {}, default=str)}")
    if not rows:
        click.echo("no events")


@cli.command("changes")
@click.option("--entity", help="Registry name: items, invoices, …")
@click.option("--id", "zoho_id", help="A Zoho id.")
@click.option("--since", help="ISO time or a duration back from now (90m, 2h, 3d).")
@click.option("--limit", default=100, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def changes_command(entity, zoho_id, since, limit, as_json) -> None:
    """What changed in the mirrored rows.

    Created, updated (old → new per column) and deleted, with the source.
    """
    import json

    from tds.db import get_engine
    from tds.sinks import changes

    if entity:
        registry.get(entity)
    rows = changes.listing(get_engine(get_settings().database_url), entity, zoho_id, _since(since), limit)
    if as_json:
        from tds.runs import as_dict

        click.echo(json.dumps([as_dict(r) for r in rows], indent=2, default=str))
        return
    for r in rows:
        cause = r.source + (f" event {r.inbox_event_id}" if r.inbox_event_id else "") + (
            f" run {r.sync_run_id}" if r.sync_run_id else "")
        click.echo(f"{r.created_at.isoformat()[:19]} {r.action} {r.entity} {r.zoho_id} ({cause})")
        if r.action != "created":
            for column, (old, new) in sorted((r.changes or {}).items()):
                click.echo(f"    {column}: {old!r} → {new!r}")
    if not rows:
        click.echo("no changes")


@cli.command("flower", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--insecure", is_flag=True, help="Start without TDS_FLOWER_BASIC_AUTH (anyone who can reach it "
              "sees every task's arguments and tracebacks).")
def flower_command(ctx, address: str, port: int, insecure: bool) -> None:
    """Flower on 127.0.0.1, behind basic auth.

    Every page, /metrics and /healthcheck too (TDS_FLOWER_BASIC_AUTH).
    """
    from tds.ops import flower_auth as flower

    settings = get_settings()
    if not settings.flower_basic_auth and not insecure:
        click.echo("refused: set TDS_FLOWER_BASIC_AUTH=user:password (or pass --insecure to run Flower open)",
                   err=True)
        sys.exit(2)
    flower.run(settings, address, port, list(ctx.args))


if __name__ == "__main__":
    main()
