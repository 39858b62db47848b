"""The ``tds`` command: database, sync, simulator, receiver, worker, beat, the demo and Odoo.

Each command group is a module of this package; this one is the ``tds`` group itself, its
logging, and :func:`main`, which turns an expected failure into one line and its exit code.
"""

# kombu (Celery's transport) is imported only to recognise a failure, so `tds --help` never loads it.

from __future__ import annotations

import importlib.metadata
import logging
import sys

import click
import redis as redis_lib
import sqlalchemy as sa

from tds import logs, registry
from tds.cli import db, demo, images, inbox, odoo, ops, processes, sync, zoho
from tds.config import ConfigError, get_settings, mask_url
from tds.exit_codes import ExitCode, Failure, database_failure, first_line, redis_failure
from tds.zoho.errors import ZohoAuthError, ZohoTransientError


def _setup_logging(settings, debug: bool) -> None:
    """TDS's one log format (``TDS_LOG_FORMAT``) as component ``cli``; plain lines when the
    settings themselves are broken (the command that needs them says so)."""
    if settings is not None:
        logs.setup(settings, "cli")
        if debug:
            logging.getLogger().setLevel(logging.DEBUG)
    else:
        logging.basicConfig(level="DEBUG" if debug else "INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not debug:  # Alembic says "Context impl ..." on every command otherwise
        logging.getLogger("alembic").setLevel(logging.WARNING)


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


for command in (
    db.db,
    sync.sync_command, sync.reconcile_command,
    processes.simulator_command, processes.receiver_command, processes.worker_command, processes.beat_command,
    processes.status_page_command, processes.flower_command,
    inbox.inbox, inbox.dead_letters_group,
    ops.status_command, ops.alerts_group, ops.doctor_command, ops.changes_command, ops.events_group,
    zoho.zoho_group, zoho.webhooks_group,
    images.images_group,
    odoo.odoo_group,
    demo.demo_command,
):
    cli.add_command(command)


def _failure(exc: BaseException) -> Failure | None:
    """The one-line form of an expected failure, or None for a bug (which keeps its traceback)."""
    import kombu.exceptions

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
