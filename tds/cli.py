"""The ``tds`` command: database, sync, simulator, receiver, worker, beat, the demo and Odoo."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys

import click

from tds import registry
from tds.config import ConfigError, get_settings


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
def cli() -> None:
    """TDS keeps an ERP database in step with Zoho Books, Inventory and CRM."""


# ------------------------------------------------------------------ database


@cli.group()
def db() -> None:
    """Schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema at TDS_DATABASE_URL."""
    from tds import schema

    settings = get_settings()
    schema.upgrade(settings.database_url, revision)
    click.echo(f"database at revision {schema.current_revision(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision and whether it is the newest."""
    from tds import schema

    url = get_settings().database_url
    current, head = schema.current_revision(url), schema.head_revision(url)
    click.echo(f"current: {current or '(empty database)'}; newest: {head}")
    if current != head:
        sys.exit(1)


# ------------------------------------------------------------------ sync and reconcile

EXIT_FAILED = 1
EXIT_ALREADY_RUNNING = 3
EXIT_OVER_BUDGET = 4
EXIT_INTERRUPTED = 130


def _choose(settings, names, orgs):
    chosen = [registry.get(n) for n in names] if names else list(registry.enabled(settings))
    return chosen, list(orgs) or list(settings.zoho_organization_ids)


def _plan_or_refuse(settings, client, chosen, org_ids, mode, show: bool, force: bool) -> bool:
    """Print the plan when asked; refuse (exit 4) when it does not fit today's quota. True: go on."""
    from tds import plan
    from tds.db import get_engine

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
    from tds.zoho import ZohoClient

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
        sys.exit(EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 143)
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

    from tds.progress import Progress
    from tds.runs import Mode

    settings = get_settings()
    settings.require_zoho_credentials()
    chosen, org_ids = _choose(settings, list(entities) + list(more_entities), orgs)
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
    from tds import availability, services, sync
    from tds.zoho.errors import ZohoQuotaExceeded

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
    """Compare Zoho with the mirror entity by entity; report, and with --repair mend.

    Exit 0 when every entity's mismatch is within TDS_RECONCILE_ALERT_PERCENT, 1 otherwise.
    """
    import json as json_lib

    from tds import reconcile, services
    from tds.progress import Progress
    from tds.runs import Mode

    settings = get_settings()
    settings.require_zoho_credentials()
    chosen, org_ids = _choose(settings, entities, orgs)
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
            from tds.images import describe

            console.print(f"{e.entity} ({e.organization_id}) {describe(e.details['images'])}")
        for warning in e.warnings:
            console.print(f"[yellow]{e.entity} ({e.organization_id}): {warning}")
    console.print(f"health score {report.health_score:.1f}/100 ({report.label})")


# ------------------------------------------------------------------ processes


@cli.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--scale", default="full", show_default=True, help="full, small, or a factor of full.")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--org", "orgs", multiple=True, help="Organization ids to serve.")
@click.option("--webhook-url", default=None, help="Base URL webhooks are sent to, e.g. http://127.0.0.1:8000/api/zoho/webhooks")
@click.option("--webhook-secret", default=None)
@click.option("--rate-limit", default=0, type=int, help="Requests per minute per organization (0 = off).")
@click.option("--daily-limit", default=0, type=int, help="Requests per day per organization (0 = off).")
@click.option("--error-rate", default=0.0, type=float, help="Share of answers that fail with 5xx.")
@click.option("--shapes", type=click.Choice(["canonical", "sparse", "varied"]), default="canonical",
              show_default=True, help="How records are written: Zoho's usual shapes, without the optional "
                                      "figures, or varied number/time/boolean forms and missing modules.")
def simulator_command(host, port, scale, seed, orgs, webhook_url, webhook_secret, rate_limit, daily_limit,
                      error_rate, shapes) -> None:
    """Run the Zoho simulator (a fake Zoho Books/Inventory/CRM) in the foreground."""
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.server import serve

    kwargs = dict(seed=seed, scale=_scale(scale), webhook_url=webhook_url, webhook_secret=webhook_secret,
                  rate_limit_per_minute=rate_limit, daily_limit=daily_limit, error_rate=error_rate, shapes=shapes)
    if orgs:
        kwargs["organizations"] = tuple(orgs)
    serve(SimulatorConfig(**kwargs), host, port)


def _scale(value: str):
    try:
        return float(value)
    except ValueError:
        return value


ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s'


@cli.command("receiver")
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=16, show_default=True, type=int,
              help="Threads per worker: a slow client holds one thread, never a whole worker.")
def receiver_command(bind: str, workers: int, threads: int) -> None:
    """Serve the webhook receiver with gunicorn (threaded workers; put a buffering reverse
    proxy in front, see docs/reliability.md)."""
    from webhook_receiver import create_app

    create_app(get_settings(), enqueue=lambda *a: None)  # fail here, clearly, on a bad configuration
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", *gunicorn_args(bind, workers, threads),
                               "webhook_receiver:create_app()"])


def gunicorn_args(bind: str, workers: int, threads: int) -> list[str]:
    """gthread workers, so a client that sends its body slowly (or never) holds one thread;
    no control socket, so two receivers on one host do not take each other's; the access
    log shows the path without the query string (``?token=`` carries the secret)."""
    return ["--bind", bind, "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--timeout", "30", "--graceful-timeout", "20", "--keep-alive", "5", "--no-control-socket",
            "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]


@cli.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@click.option("--queues", "groups", multiple=True,
              type=click.Choice(["all", "webhooks", "sync", "maintenance", "images", "odoo"]),
              help="Which queues: webhooks (one per entity), sync (syncs and reconciles), maintenance, images, "
                   "odoo; default all.")
def worker_command(ctx, groups) -> None:
    """Run a Celery worker on TDS queues (extra arguments go to celery).

    Run webhook workers and sync workers apart so a long sync never holds up webhooks:
    tds worker --queues webhooks --queues maintenance  and  tds worker --queues sync
    """
    from tasks.celery_app import queues_of

    args = ["-A", "tasks", "worker", "-E", "-Q", ",".join(queues_of(list(groups))), *ctx.args]
    os.execvp(sys.executable, [sys.executable, "-m", "celery", *args])


@cli.command("beat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat_command(ctx) -> None:
    """Run Celery beat (RedBeat: a Redis lock keeps it to exactly one)."""
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks", "beat", *ctx.args])


@cli.group()
def inbox() -> None:
    """The webhook inbox."""


@inbox.command("sweep")
def inbox_sweep() -> None:
    """Send again every inbox event that should have finished by now (what beat and the
    workers run on their own; see docs/reliability.md)."""
    from tasks import enqueue_event
    from tds import healing, services

    settings = get_settings()
    try:
        report = healing.run_sweep(settings, enqueue_event, services.redis_client(settings))
    except healing.SweepRunning:
        click.echo("a sweep is already running; nothing done")
        return
    except Exception as exc:  # Redis or PostgreSQL unreachable: one line, not four tracebacks
        click.echo(f"sweep failed: {_one_line(exc)}", err=True)
        sys.exit(1)
    click.echo(report.describe())


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"


@cli.group()
def events() -> None:
    """Inbox events: replay a past period."""


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


@events.command("replay")
@click.option("--since", "since", required=True, help="ISO time, or an age such as 6h or 2d.")
@click.option("--entity", default=None, help="Only this entity (name or webhook slug).")
@click.option("--id", "zoho_id", default=None, help="Only this Zoho record id.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; change nothing.")
def events_replay(since, entity, zoho_id, dry_run) -> None:
    """Process again the inbox events received since a time (idempotent: newer data stays)."""
    from tasks import enqueue_event
    from tds.db import get_engine
    from tds.replay import replay_events

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
    from tds.deadletters import Selection

    if not (ids or entity or everything):
        raise click.UsageError("name dead letter ids, or --entity NAME, or --all")
    return Selection(ids=tuple(ids), entity=registry.get(entity).name if entity else None, everything=everything)


@dead_letters_group.command("list")
@click.option("--entity", default=None, help="Only this entity.")
@click.option("--replayed", is_flag=True, help="Include letters already replayed.")
@click.option("--limit", default=100, show_default=True, type=int)
def dead_letters_list(entity, replayed, limit) -> None:
    """List dead letters, newest first."""
    from rich.console import Console
    from rich.table import Table

    from tds.db import get_engine
    from tds.deadletters import list_letters

    settings = get_settings()
    rows = list_letters(get_engine(settings.database_url), registry.get(entity).name if entity else None,
                        replayed, limit)
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
    """Show one dead letter whole: payload, error and every attempt, as JSON."""
    import simplejson

    from tds.db import get_engine, json_default
    from tds.deadletters import get_letter

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
    from tds.db import get_engine
    from tds.replay import replay_dead_letters

    settings = get_settings()
    n = replay_dead_letters(get_engine(settings.database_url), _selection(ids, entity, everything), enqueue_event,
                            send_sync)
    click.echo(f"replayed {n} dead letters")


@dead_letters_group.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--entity", default=None, help="Every dead letter of this entity.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def dead_letters_purge(ids, entity, everything, yes) -> None:
    """Delete dead letters for good."""
    from tds.db import get_engine
    from tds.deadletters import purge

    selection = _selection(ids, entity, everything)
    if not yes:
        click.confirm("Delete these dead letters for good?", abort=True)
    n = purge(get_engine(get_settings().database_url), selection)
    click.echo(f"purged {n} dead letters")


@cli.command("demo")
@click.option("--scale", default="full", show_default=True, help="Simulator data size: full, small or a factor.")
@click.option("--changes", default=100, show_default=True, type=int, help="Records the simulator changes.")
def demo_command(scale: str, changes: int) -> None:
    """Run TDS end to end against the built-in simulator and report what happened."""
    from tds.demo import run_demo

    sys.exit(run_demo(scale=_scale(scale), changes=changes))


# ------------------------------------------------------------------ images


@cli.group("images")
def images_group() -> None:
    """Product images: fetch them from Zoho Inventory into TDS_IMAGE_DIR, and count them."""


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
    """Fetch product images (every image, or only what is missing), then report what changed.

    Without --missing-only every image is fetched again and compared by sha256, which also
    finds images Zoho replaced under the same image_document_id.
    """
    import time

    from tds import images

    settings = get_settings()
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
    from tds import services
    from tds.zoho.errors import ZohoError

    settings.require_zoho_credentials()
    client = services.zoho_client(settings, budget_wait=60)  # this process may wait for the rate limit
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
    """Coverage: items with an image in Zoho, files present, missing, stale, and why downloads were refused."""
    from rich.console import Console
    from rich.table import Table

    from tds import images

    settings = get_settings()
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
    """Odoo, the second destination: products and images pushed from the ERP mirror."""


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
    from tds.odoo import push

    settings = get_settings()
    run = push.push(settings, services.redis_client(settings), trigger="cli", organization_id=org,
                    zoho_item_ids=list(items) or None)
    counts = ", ".join(f"{k} {v}" for k, v in run.result.as_dict().items())
    click.echo(f"run {run.run_id}: {counts}; {run.odoo_calls} Odoo calls")
    if run.result.failed:
        sys.exit(1)


@odoo_group.command("status")
def odoo_status() -> None:
    """Where Odoo is, whether it answers, the last runs and what TDS has there."""
    from tds.odoo import reports
    from tds.odoo.client import OdooClient

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

    from tds.odoo import reports

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
    from tds.odoo import reports

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
    """Products edited in Odoo that Zoho overwrote: field, Odoo's value, Zoho's value."""
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
    """Print the last run and what TDS has in Odoo every INTERVAL seconds."""
    import time

    from tds.odoo import reports

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
    """Serve the Odoo stand-in (what the tests run against) on 127.0.0.1 in the foreground."""
    import time

    from tds.odoo.standin import OdooStandin

    standin = OdooStandin(db=db, login=login, password=password)
    click.echo(f"Odoo stand-in at {standin.start(port=port)} (db {db!r}, {login}/{password}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()


def main() -> None:
    try:
        settings = get_settings()
        _setup_logging(settings.log_level)
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
