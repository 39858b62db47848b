"""Connecting TDS to Zoho: ``tds zoho token`` trades a grant code for a refresh token, and
``tds webhooks`` plans or creates the webhooks and workflow rules Zoho needs."""

# The Zoho client (tds.zoho.shared) loads only when webhooks are created, not on `tds --help`.

from __future__ import annotations

import click

from tds.cli.connections import require_redis
from tds.config import ConfigError, get_settings
from tds.ops.webhook_setup import install, plan, print_plan
from tds.zoho.auth import exchange_grant_code


@click.group("zoho")
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


@click.group("webhooks")
def webhooks_group() -> None:
    """The webhooks and workflow rules Zoho needs."""


@webhooks_group.command("plan")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--show-secret", is_flag=True, help="Print the secret itself, to type it into Zoho.")
def webhooks_plan(orgs, show_secret: bool) -> None:
    """Print the webhooks and workflow rules to create in Zoho."""
    settings = get_settings()
    print_plan(plan(settings, list(orgs) or None), click.echo, show_secret=show_secret)


@webhooks_group.command("install")
@click.option("--org", "orgs", multiple=True, help="Organization ids; default ZOHO_ORGANIZATION_ID.")
@click.option("--yes", is_flag=True, help="Really create them (TDS's only write to Zoho).")
def webhooks_install(orgs, yes: bool) -> None:
    """Create the planned webhooks and workflow rules in Zoho.

    Existing ones (same name or URL) are skipped, so running it again is harmless.
    """
    from tds.zoho import shared as zoho_shared

    settings = get_settings()
    planned = plan(settings, list(orgs) or None)
    if not yes:
        print_plan(planned, click.echo)
        raise click.UsageError("nothing created: add --yes to create these in Zoho")
    settings.require_zoho_credentials()
    require_redis(settings)
    created = install(planned, zoho_shared.zoho_client(settings), click.echo)
    click.echo(f"created {created} webhooks and workflow rules; the others already existed")
