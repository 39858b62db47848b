"""``tds sync`` and ``tds reconcile``: read Zoho into the mirror, and compare the two, here
or on the sync workers; both print their plan, or refuse one that does not fit today's quota."""

# The Zoho client and the Celery app are loaded only by a run here, so `tds --help` never loads them.

from __future__ import annotations

import contextlib
import datetime as dt
import json as json_lib
import signal
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from tasks import enqueue_event, send_reconcile, send_sync
from tds import registry, services
from tds.cli.connections import open_database, require_redis
from tds.config import ConfigError, get_settings
from tds.db import get_engine
from tds.exit_codes import ExitCode
from tds.runs import Cancel, Mode, RunInterrupted
from tds.sync import availability, outcome, plan, reconcile
from tds.sync.images import describe
from tds.sync.progress import Progress
from tds.sync.synchronizer import SyncAlreadyRunning
from tds.zoho.errors import ZohoAuthError, ZohoQuotaExceeded

EXIT_FAILED = ExitCode.PROBLEM
EXIT_ALREADY_RUNNING = ExitCode.ALREADY_RUNNING
EXIT_OVER_BUDGET = ExitCode.OVER_BUDGET
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def _choose(settings, names, orgs):
    # an unknown name stops the command with the valid ones listed (registry.UnknownEntity)
    chosen = [registry.get(n) for n in names] if names else list(registry.enabled(settings))
    return chosen, list(orgs) or list(settings.zoho_organization_ids)


def _plan_or_refuse(settings, client, chosen, org_ids, mode, show: bool, force: bool,
                    keep: plan.ListedPages | None = None) -> bool:
    """Print the plan when asked; refuse (exit 4) when it does not fit today's quota. True: go on.
    ``keep``: the list pages the plan reads are kept for the sync (each list page once a run)."""
    engine = get_engine(settings.database_url)
    estimates = [plan.estimate(engine, e, org, mode, client, keep) for org in org_ids for e in chosen]
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
    from tds.zoho.client import ZohoClient

    settings.require_zoho_credentials()
    # a process of its own may wait for the shared rate limit; a task never does
    return ZohoClient(settings, redis=services.redis_client(settings), sleep=progress.sleep, budget_wait=60,
                      cancel=progress.cancel)


@contextlib.contextmanager
def _interruptible(client=None):
    """Ctrl-C or SIGTERM stops the run at once: every thread of it stops at its next call or
    wait (``client.cancel``), the detail calls in flight are abandoned (their page was not
    written, so the cursor did not move), the run is marked aborted with its counts, and its
    lock is released."""
    cancel = getattr(client, "cancel", None)

    def on_int(signum, frame):
        if cancel is not None:
            cancel.set()
        raise KeyboardInterrupt()

    def on_term(signum, frame):
        if cancel is not None:
            cancel.set()
        raise RunInterrupted()

    previous = signal.signal(signal.SIGTERM, on_term)
    previous_int = signal.signal(signal.SIGINT, on_int)
    try:
        yield
    except (KeyboardInterrupt, RunInterrupted) as exc:
        if client is not None:
            client.close()
        click.echo("interrupted: the run is marked aborted with its counts so far, and its lock is released",
                   err=True)
        code = EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.TERMINATED
        _exit_now(code)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _exit_now(code: int) -> None:
    """Exit with ``code`` without waiting on a detail call still in flight (Python would join
    its thread at exit): the run row and the lock are already settled."""
    import os
    import threading

    deadline = time.monotonic() + 1.0
    for thread in threading.enumerate():
        if thread.name.startswith("tds-zoho-detail") or thread.name.startswith("tds-sync-"):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and (t.name.startswith("tds-zoho-detail") or t.name.startswith("tds-sync-"))
           for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@click.command("sync")
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
    settings = get_settings()
    chosen, org_ids = _choose(settings, list(entities) + list(more_entities), orgs)
    settings.require_zoho_credentials()
    open_database(settings)
    require_redis(settings)
    mode = Mode(mode)
    since_at = dt.datetime.fromisoformat(since) if since else None
    if since_at is not None and since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=dt.timezone.utc)
    if via_celery:
        for org in org_ids:
            for entity in chosen:
                send_sync(entity.name, org, refetch, mode=mode, since=since_at.isoformat() if since_at else None)
                click.echo(f"queued {mode} sync of {entity.name} for {org}")
        return
    progress = Progress(cancel=Cancel())
    client = _zoho_client(settings, progress)
    listed = plan.ListedPages()
    try:
        if not _plan_or_refuse(settings, client, chosen, org_ids, mode, show_plan, force,
                               keep=None if show_plan else listed):
            return
        with _interruptible(client):
            sys.exit(_sync_here(settings, plan.reusing(client, listed), progress, chosen, org_ids, mode, refetch,
                                since_at))
    finally:
        listed.close()


def _sync_here(settings, client, progress, chosen, org_ids, mode, refetch: bool, since) -> int:
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
                except SyncAlreadyRunning as exc:
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
                except Exception as exc:  # report and go on with the next entity; Zoho unreachable exits 7
                    code = code or outcome.of(exc).exit_code
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
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=float(seconds or 0))
    return when.strftime("%H:%M UTC")


def _enqueue_or_none():
    """Fetch requests for missing references go to the workers when Redis answers."""
    try:
        from tasks import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
        return enqueue_event
    except Exception:
        return None


@click.command("reconcile")
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

    Exit: 7 when Zoho could not be read (credentials refused, outage, breaker open; 5 and 6 for
    PostgreSQL and Redis), 3 when another run held an entity's lock; with --repair 0 when
    everything differing was repaired and 1 when something is still off; without it 0 when every
    entity's mismatch is within TDS_RECONCILE_ALERT_PERCENT, 1 otherwise.
    """
    settings = get_settings()
    chosen, org_ids = _choose(settings, entities, orgs)
    settings.require_zoho_credentials()
    open_database(settings)
    require_redis(settings)
    if via_celery:
        for org in org_ids:
            for entity in chosen:
                send_reconcile(entity.name, org, repair=repair)
                click.echo(f"queued reconcile{' with repair' if repair else ''} of {entity.name} for {org}")
        return
    progress = Progress(cancel=Cancel())
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
        if rep.failed:
            if rep.failed.startswith("not run"):
                progress.start(f"{rep.entity} ({rep.organization_id})")
            progress.done(rep.failed, failed=True)
            return
        warn = f"; {rep.warnings[0]}" if rep.warnings else ""
        match = "no match" if rep.match_percent is None else f"{rep.match_percent:.2f} % match"
        progress.done(f"{match}{warn}", failed=bool(rep.warnings))

    with _interruptible(client), progress.session():
        report = reconcile.reconcile(settings, chosen, org_ids, client, repair=repair, dry_run=dry_run,
                                     redis=services.redis_client(settings), enqueue=_enqueue_or_none(),
                                     on_entity=on_entity, progress_for=on_page)
    _print_report(report, dry_run, repair and not dry_run)
    if json_file:
        with open(json_file, "w", encoding="utf-8") as fh:
            json_lib.dump(report.as_dict(), fh, indent=2, default=str)
    sys.exit(report.exit_code(repair=repair and not dry_run))


def _print_report(report, dry_run: bool, repaired: bool = False) -> None:
    columns = ["entity", "organization", "zoho", "here", "match %", "missing here", "gone from zoho", "stale",
               "drift", "repaired" if not dry_run else "would repair", "deleted" if not dry_run else "would delete",
               "API calls"] + (["still off"] if repaired else [])
    table = Table(*columns)
    for e in report.entities:
        if e.failed:  # nothing was compared: no counts, no match
            table.add_row(e.entity, e.organization_id, "—", "—", e.failed[:60], *["—"] * (len(columns) - 5))
            continue
        match = "—" if e.match_percent is None else f"{e.match_percent:.2f}"
        table.add_row(e.entity, e.organization_id, str(e.zoho_count), str(e.here_count), match,
                      str(len(e.missing_here)), str(len(e.gone_from_zoho)), str(len(e.stale_here)), str(len(e.drift)),
                      str(e.would_repair if dry_run else e.repaired), str(e.would_delete if dry_run else e.deleted),
                      str(e.api_calls), *([str(e.still_off or 0)] if repaired else []))
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
            console.print(f"{e.entity} ({e.organization_id}) {describe(e.details['images'])}")
        for warning in e.warnings:
            console.print(f"[yellow]{e.entity} ({e.organization_id}): {warning}")
    for e in report.failures:
        console.print(f"{e.entity} ({e.organization_id}) {e.failed}", highlight=False, markup=False)
    failed = f", {len(report.failures)} entities failed" if report.failures else ""
    console.print("no successful reconcile" + failed if report.health_score is None else
                  f"health score {report.health_score:.1f}/100 ({report.label}){failed}", highlight=False)
