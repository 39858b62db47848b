"""The ``tds`` command: database, sync, simulator, receiver, worker, beat and the demo."""

from __future__ import annotations

import logging
import os
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


# ------------------------------------------------------------------ sync


@cli.command("sync")
@click.option("--full", is_flag=True, default=True, help="Page through every record (the only mode yet).")
@click.option("--entities", "-e", multiple=True,
              help="Entities to sync (names or webhook slugs); default the enabled ones (TDS_ENTITIES).")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--celery", "via_celery", is_flag=True, help="Send the syncs to the Celery workers instead.")
@click.option("--refetch", is_flag=True,
              help="Fetch the details of records stored at the same Zoho time too (a repair run).")
@click.argument("more_entities", nargs=-1)
def sync_command(full: bool, entities: tuple[str, ...], orgs: tuple[str, ...], via_celery: bool, refetch: bool,
                 more_entities: tuple[str, ...]) -> None:
    """Full sync of ENTITIES (e.g. ``tds sync --full --entities items customers``).

    Default: the enabled entities (``TDS_ENTITIES``, ``TDS_CRM``). An entity the organization
    does not have is reported unavailable, one line each, and does not fail the run: the
    exit status is 0 unless a sync really failed.
    """
    settings = get_settings()
    settings.require_zoho_credentials()
    names = list(entities) + list(more_entities)
    chosen = [registry.get(n) for n in names] if names else list(registry.enabled(settings))
    org_ids = list(orgs) or list(settings.zoho_organization_ids)
    if via_celery:
        from tasks import send_sync

        for org in org_ids:
            for entity in chosen:
                send_sync(entity.name, org, refetch)
                click.echo(f"queued full sync of {entity.name} for {org}")
        return
    _sync_here(settings, chosen, org_ids, refetch)


def _sync_here(settings, chosen, org_ids, refetch: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tds import availability, services, sync

    console = Console(stderr=True)
    client = services.zoho_client(settings)
    enqueue = _enqueue_or_none()
    failed = False
    unavailable = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        for org in org_ids:
            for entity in chosen:
                task = progress.add_task(f"{entity.name} ({org})", total=None)
                try:
                    result = availability.sync_entity(
                        settings, entity, org, client, redis=services.redis_client(settings),
                        progress=lambda n, t=task: progress.advance(t, n), enqueue=enqueue, refetch=refetch)
                except sync.SyncAlreadyRunning as exc:
                    progress.update(task, description=f"{entity.name} ({org}): {exc}")
                    continue
                except Exception as exc:  # report and go on with the next entity
                    failed = True
                    progress.update(task, description=f"[red]{entity.name} ({org}) failed: {exc}")
                    continue
                if isinstance(result, availability.Unavailable):
                    unavailable.append(result)
                    progress.update(task, total=0, description=f"[yellow]{result.line()}")
                    continue
                progress.update(task, total=result.records_seen, completed=result.records_seen,
                                description=f"{entity.name} ({org}): {result.records_written} written"
                                + (f", {result.records_unchanged} unchanged" if result.records_unchanged else "")
                                + (f", {result.records_failed} dead-lettered" if result.records_failed else ""))
    for found in unavailable:  # not a failure: the organization does not have these; tried again next run
        click.echo(found.line())
    if failed:
        sys.exit(1)


def _enqueue_or_none():
    """Fetch requests for missing references go to the workers when Redis answers."""
    try:
        from tasks import app, enqueue_event

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
        return enqueue_event
    except Exception:
        return None


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
def receiver_command(bind: str, workers: int) -> None:
    """Serve the webhook receiver with gunicorn."""
    from webhook_receiver import create_app

    create_app(get_settings(), enqueue=lambda *a: None)  # fail here, clearly, on a bad configuration
    # the access log shows the path without the query string: ?token= carries the secret
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
                               "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
                               "webhook_receiver:create_app()"])


@cli.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker_command(ctx) -> None:
    """Run a Celery worker on every TDS queue (extra arguments go to celery)."""
    from tasks import all_queues

    args = ["-A", "tasks", "worker", "-E", "-Q", ",".join(all_queues()), *ctx.args]
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
    """Enqueue again every inbox event that should have finished by now."""
    import datetime as dt

    from tasks import enqueue_event
    from tds import inbox as inbox_mod
    from tds.db import get_engine

    settings = get_settings()
    n = inbox_mod.sweep(get_engine(settings.database_url), dt.timedelta(seconds=settings.inbox_sweep_after),
                        enqueue_event)
    click.echo(f"re-enqueued {n} events")


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """What failed for good: list, replay, purge."""


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
