"""``tds odoo``: push products to Odoo, the second destination, and read back what was pushed."""

from __future__ import annotations

import datetime as dt
import sys
import time

import click

from tds import services
from tds.config import get_settings
from tds.db import get_engine, json_dumps
from tds.sinks.odoo import push, reports
from tds.sinks.odoo.client import OdooClient
from tds.sinks.odoo.standin import OdooStandin


@click.group("odoo")
def odoo_group() -> None:
    """Odoo, the second destination.

    Products and images pushed from the ERP mirror.
    """


def _odoo_engine():
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
    with _odoo_engine().connect() as conn:
        totals = reports.totals(conn, dt.timedelta(hours=hours))
        tracked = reports.tracked(conn)
    runs = ", ".join(f"{n} {status}" for status, n in sorted(totals.pop("runs").items())) or "none"
    click.echo(f"last {hours} h: runs {runs}")
    for name, value in totals.items():
        click.echo(f"  {name}: {value}")
    click.echo(f"products in Odoo: {tracked['active']} active, {tracked['archived']} archived")


def _print_log(log: str, limit: int, item: str | None, action: str | None = None) -> None:
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
    standin = OdooStandin(db=db, login=login, password=password)
    click.echo(f"Odoo stand-in at {standin.start(port=port)} (db {db!r}, {login}/{password}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
