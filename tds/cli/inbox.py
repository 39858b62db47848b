"""``tds inbox`` and ``tds dead-letters``: send again what should have finished, and list,
show, replay or purge what failed for good."""

from __future__ import annotations

import sys

import click
import simplejson
from rich.console import Console
from rich.table import Table

from tasks import enqueue_event, send_sync
from tds import registry, services
from tds.cli.connections import open_database, require_redis
from tds.config import get_settings
from tds.db import get_engine, json_default
from tds.inbox import healing
from tds.inbox.deadletters import Selection, get_letter, list_letters, purge
from tds.inbox.replay import replay_dead_letters


@click.group()
def inbox() -> None:
    """The webhook inbox."""


@inbox.command("sweep")
def inbox_sweep() -> None:
    """Send again every inbox event that should have finished.

    What beat and the workers run on their own (docs/reliability.md). A database or Redis
    that does not answer is one line and its exit code, never a traceback.
    """
    settings = get_settings()
    open_database(settings)
    require_redis(settings)
    try:
        report = healing.run_sweep(settings, enqueue_event, services.redis_client(settings))
    except healing.SweepRunning:
        click.echo("a sweep is already running; nothing done")
        return
    click.echo(report.describe())


@click.group("dead-letters")
def dead_letters_group() -> None:
    """What failed for good: list, show, replay, purge."""


def _selection(ids, entity, everything):
    if not (ids or entity or everything):
        raise click.UsageError("name dead letter ids, or --entity NAME, or --all")
    return Selection(ids=tuple(ids), entity=registry.get(entity).name if entity else None, everything=everything)


@dead_letters_group.command("list")
@click.option("--entity", default=None, help="Only this entity.")
@click.option("--replayed", is_flag=True, help="Include letters already replayed.")
@click.option("--limit", default=100, show_default=True, type=int)
def dead_letters_list(entity, replayed, limit) -> None:
    """List dead letters, newest first."""
    name = registry.get(entity).name if entity else None
    engine = open_database(get_settings())
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
    selection = _selection(ids, entity, everything)
    settings = get_settings()
    engine = open_database(settings)
    require_redis(settings)
    n = replay_dead_letters(engine, selection, enqueue_event, send_sync)
    click.echo(f"replayed {n} dead letters")


@dead_letters_group.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--entity", default=None, help="Every dead letter of this entity.")
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def dead_letters_purge(ids, entity, everything, yes) -> None:
    """Delete dead letters for good."""
    selection = _selection(ids, entity, everything)
    engine = open_database(get_settings())
    if not yes:
        click.confirm("Delete these dead letters for good?", abort=True)
    n = purge(engine, selection)
    click.echo(f"purged {n} dead letters")
