"""The ``tds`` command: database, sync, simulator, receiver, worker, beat, the demo and Odoo."""

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
@click.option("--entities", "-e", multiple=True, help="Entities to sync (names or webhook slugs); default all.")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--celery", "via_celery", is_flag=True, help="Send the syncs to the Celery workers instead.")
@click.option("--refetch", is_flag=True,
              help="Fetch the details of records stored at the same Zoho time too (a repair run).")
@click.argument("more_entities", nargs=-1)
def sync_command(full: bool, entities: tuple[str, ...], orgs: tuple[str, ...], via_celery: bool, refetch: bool,
                 more_entities: tuple[str, ...]) -> None:
    """Full sync of ENTITIES (e.g. ``tds sync --full --entities items customers``)."""
    settings = get_settings()
    settings.require_zoho_credentials()
    names = list(entities) + list(more_entities)
    chosen = [registry.get(n) for n in names] if names else list(registry.ENTITIES)
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

    from tds import services, sync

    console = Console(stderr=True)
    client = services.zoho_client(settings)
    enqueue = _enqueue_or_none()
    failed = False
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        for org in org_ids:
            for entity in chosen:
                task = progress.add_task(f"{entity.name} ({org})", total=None)
                try:
                    result = sync.full_sync(settings, entity, org, client, redis=services.redis_client(settings),
                                            progress=lambda n, t=task: progress.advance(t, n), enqueue=enqueue,
                                            refetch=refetch)
                except sync.SyncAlreadyRunning as exc:
                    progress.update(task, description=f"{entity.name} ({org}): {exc}")
                    continue
                except Exception as exc:  # report and go on with the next entity
                    failed = True
                    progress.update(task, description=f"[red]{entity.name} ({org}) failed: {exc}")
                    continue
                progress.update(task, total=result.records_seen, completed=result.records_seen,
                                description=f"{entity.name} ({org}): {result.records_written} written"
                                + (f", {result.records_unchanged} unchanged" if result.records_unchanged else "")
                                + (f", {result.records_failed} dead-lettered" if result.records_failed else ""))
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
def simulator_command(host, port, scale, seed, orgs, webhook_url, webhook_secret, rate_limit, daily_limit,
                      error_rate) -> None:
    """Run the Zoho simulator (a fake Zoho Books/Inventory/CRM) in the foreground."""
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.server import serve

    kwargs = dict(seed=seed, scale=_scale(scale), webhook_url=webhook_url, webhook_secret=webhook_secret,
                  rate_limit_per_minute=rate_limit, daily_limit=daily_limit, error_rate=error_rate)
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
