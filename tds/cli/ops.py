"""What an operator asks of a running TDS: its status, the open alerts, a check of the setup,
what changed in the mirror, and the named events (listed, or inbox events replayed)."""

# Celery (tasks.celery_app, asked which workers are alive) loads only in the commands that ask, not on `tds --help`.

from __future__ import annotations

import datetime as dt
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from tasks import enqueue_event
from tds import hooks, registry
from tds.config import get_settings
from tds.db import get_engine, utcnow
from tds.exit_codes import ExitCode
from tds.inbox.replay import replay_events
from tds.ops import alerts, status
from tds.ops.doctor import run_checks
from tds.runs import as_dict
from tds.sinks import changes


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="The snapshot as JSON, for scripts.")
@click.option("--no-workers", is_flag=True, help="Do not ask the workers (Celery inspect).")
def status_command(as_json: bool, no_workers: bool) -> None:
    """The state at a glance, and what is wrong now.

    Exit 0 healthy, 1 warning, 2 critical — also when PostgreSQL or Redis is down (critical).
    """
    from tasks.celery_app import live_workers

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
    unknown = snap.get("unknown") or {}
    if "database" in unknown:
        console.print(f"entities: unknown ({unknown['database']})", highlight=False, markup=False)
    else:
        console.print(table)
    out = []
    queues = snap["queues"]
    out.append("queues: " + (f"unknown ({unknown['redis']})" if "redis" in unknown else
                             ", ".join(f"{q} {n}" for q, n in queues.items() if n) or "all empty"))
    workers = snap["workers"]
    out.append("workers: " + (f"unknown ({unknown['redis']})" if "redis" in unknown else
                              f"unknown ({unknown['workers']})" if "workers" in unknown else
                              "not asked" if workers is None else
                              "; ".join(f"{w} ({len(qs)} queues)" for w, qs in sorted(workers.items())) or "none"))
    out.append("beat: " + {True: "running", False: "not running", None: "unknown"}[snap["beat_running"]])
    out.append("Zoho calls left today: " + (", ".join(f"{org} {'unknown' if left is None else left}"
                                                       for org, left in snap["quota"].items()) or "unknown"))
    out.append("breakers: " + ("unknown" if "redis" in unknown else
                               ", ".join(f"{a} {s}" for a, s in snap["breakers"].items()) or "all closed"))
    report = snap["reconcile"]
    out.append("health score: unknown" if "database" in unknown else
               f"health score: {report['health_score']} ({report['label']})"
               if report and report["health_score"] is not None else "health score: no successful reconcile yet")
    for org, cov in (snap.get("images") or {}).items():
        out.append(f"{org} {cov['summary']}")
    out.append(f"dead letters: {'unknown' if snap['dead_letters'] is None else snap['dead_letters']}")
    for c in snap["conditions"]:
        out.append(f"{c['severity'].upper()}: {c['message']}")
    out.append(f"status: {snap['severity']}")
    for line in out:
        console.print(line, highlight=False, markup=False)


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: what is open, and a check now."""


@alerts_group.command("check")
def alerts_check() -> None:
    """Check the alert rules now, as beat does.

    Delivers what opens or clears (log, status page, TDS_ALERT_WEBHOOK_URL).
    """
    from tasks.celery_app import live_workers

    settings = get_settings()
    for notice in alerts.check(settings, status.snapshot(settings, workers=live_workers)):
        click.echo(notice.text)


@alerts_group.command("list")
def alerts_list() -> None:
    """The open alerts."""
    with get_engine(get_settings().database_url).connect() as conn:
        found = status.open_alerts(conn)
    for a in found:
        click.echo(f"{a['opened_at'][:19]} {a['severity']:8} {a['message']}")
    if not found:
        click.echo("no open alerts")


@click.command("doctor")
def doctor_command() -> None:
    """Check the setup, one line per check.

    Settings, database and schema, Redis, a real Zoho token refresh and a cheap call per
    organization, the webhook secret and the clock. Exits 1 when any check fails.
    """
    from tasks.celery_app import live_workers

    ok = run_checks(get_settings(), click.echo, workers=live_workers)
    sys.exit(0 if ok else ExitCode.PROBLEM)


@click.command("changes")
@click.option("--entity", help="Registry name: items, invoices, …")
@click.option("--id", "zoho_id", help="A Zoho id.")
@click.option("--since", help="ISO time or a duration back from now (90m, 2h, 3d).")
@click.option("--limit", default=100, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def changes_command(entity, zoho_id, since, limit, as_json) -> None:
    """What changed in the mirrored rows.

    Created, updated (old → new per column) and deleted, with the source.
    """
    if entity:
        registry.get(entity)
    rows = changes.listing(get_engine(get_settings().database_url), entity, zoho_id, _since(since), limit)
    if as_json:
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


def _since(value: str | None):
    """``2026-12-01T08:00``, ``2026-12-01`` or a duration back from now: ``90m``, ``2h``, ``3d``."""
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


@click.group("events")
def events_group() -> None:
    """Named events: list them; replay inbox events.

    tds events list [--name] [--since] · tds events replay --since T
    """


@events_group.command("list")
@click.option("--name", help="An event name, or a family: tds.zoho.sync.*")
@click.option("--since", help="ISO time or a duration back from now (90m, 2h, 3d).")
@click.option("--limit", default=100, show_default=True, type=int)
def events_list(name, since, limit) -> None:
    """The newest named events first."""
    rows = hooks.listing(get_engine(get_settings().database_url), name, _since(since), limit)
    for r in rows:
        where = " ".join(x for x in (r.organization_id, r.entity) if x)
        click.echo(f"{r.created_at.isoformat()[:19]} {r.name} {where} {json.dumps(r.payload or {}, default=str)}")
    if not rows:
        click.echo("no events")


@events_group.command("replay")
@click.option("--since", "since", required=True, help="ISO time, or an age such as 6h or 2d.")
@click.option("--entity", default=None, help="Only this entity (name or webhook slug).")
@click.option("--id", "zoho_id", default=None, help="Only this Zoho record id.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; change nothing.")
def events_replay(since, entity, zoho_id, dry_run) -> None:
    """Process again the inbox events since a time.

    Idempotent: the stale-write guard keeps newer data, and replaying twice changes nothing.
    """
    chosen = replay_events(get_engine(get_settings().database_url), _since(since), enqueue_event,
                           entity=registry.get(entity).name if entity else None, zoho_id=zoho_id, dry_run=dry_run)
    if dry_run:
        for event in chosen:
            click.echo(f"{event.id}\t{event.received_at:%Y-%m-%d %H:%M:%S}\t{event.entity}\t{event.zoho_id}"
                       f"\t{event.status}")
        click.echo(f"would replay {len(chosen)} events")
    else:
        click.echo(f"replayed {len(chosen)} events")
