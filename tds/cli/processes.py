"""The long-running processes: the webhook receiver and the status page (gunicorn), a Celery
worker and beat, Flower, and the Zoho simulator; each checks what it needs, then runs or is exec'd."""

# Flask (webhook_receiver) and the simulator load only in the command that serves them, not on `tds --help`.

from __future__ import annotations

import os
import sys

import click
from dotenv import dotenv_values

from tds import registry
from tds.cli.connections import open_database, require_redis
from tds.cli.options import scale_option
from tds.config import ConfigError, get_settings
from tds.ops import flower_auth as flower
from tds.queues import queues_of


def _metrics_env(settings) -> None:
    """``TDS_METRICS_DIR`` → ``PROMETHEUS_MULTIPROC_DIR`` for the process about to be exec'd."""
    if settings.metrics_dir:
        os.makedirs(settings.metrics_dir, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir


def receiver_metrics_dir(settings, bind: str) -> str:
    """The receiver's metrics folder: ``TDS_METRICS_DIR`` as given (shared with the workers,
    never cleaned here), else its own ``<TDS_RUNTIME_DIR>/metrics/receiver-<port>``, emptied now:
    each gunicorn worker then writes its counts there and ``/metrics`` adds them up, so the
    counters only go up whichever worker answers a scrape."""
    import shutil

    if settings.metrics_dir:
        os.makedirs(settings.metrics_dir, exist_ok=True)
        return settings.metrics_dir
    folder = os.path.join(settings.runtime_dir, "metrics", f"receiver-{bind.rsplit(':', 1)[-1]}")
    shutil.rmtree(folder, ignore_errors=True)  # the files of a previous run are not this run's counts
    os.makedirs(folder, mode=0o700)
    return folder


def _gunicorn(bind: str, workers: int, app: str, threads: int = 4, access_log: bool = True,
              metrics_dir: str | None = None) -> None:
    settings = get_settings()
    _metrics_env(settings)
    if metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", *gunicorn_args(bind, workers, threads, access_log),
                               "--config", "python:webhook_receiver.gunicorn_conf", app])


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--scale", default="full", show_default=True, callback=scale_option,
              help="full, small, tiny, or a factor of full.")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--org", "orgs", multiple=True, help="Organization ids to serve.")
@click.option("--webhook-url", default=None,
              help="Base URL webhooks are sent to, e.g. http://127.0.0.1:8000/api/zoho/webhooks")
@click.option("--rate-limit", default=0, type=int, help="Requests per minute per organization (0 = off).")
@click.option("--daily-limit", default=0, type=int, help="Requests per day per organization (0 = off).")
@click.option("--error-rate", default=0.0, type=float, help="Share of answers that fail with 5xx.")
@click.option("--shapes", type=click.Choice(["canonical", "sparse", "varied", "minimal"]), default="canonical",
              show_default=True, help="How records are written: Zoho's usual shapes, without the optional "
                                      "figures, varied number/time/boolean forms and missing modules, or "
                                      "only the fields Zoho documents as always there.")
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


@click.command("receiver")
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
    open_database(settings)
    create_app(settings, enqueue=lambda *a: None)  # fail here, clearly, on a bad configuration
    _gunicorn(bind, workers, "webhook_receiver:create_app()", threads, access_log,
              metrics_dir=receiver_metrics_dir(settings, bind))


def gunicorn_args(bind: str, workers: int, threads: int, access_log: bool = True) -> list[str]:
    """gthread workers, so a client that sends its body slowly (or never) holds one thread;
    no control socket, so two receivers on one host do not take each other's; the access
    log, when on, shows the path without the query string (``?token=`` carries the secret)."""
    args = ["--bind", bind, "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--timeout", "30", "--graceful-timeout", "20", "--keep-alive", "5", "--no-control-socket"]
    return args + (["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT] if access_log else [])


@click.command("worker", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
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

    It names itself from its first queue group (webhooks@<host>, sync@<host>; with -<pid> when
    that name is already live), unless -n is given.
    """
    settings = get_settings()
    open_database(settings)
    require_redis(settings)
    named = any(a in ("-n", "--hostname") or a.startswith(("-n=", "--hostname=")) or
                (a.startswith("-n") and len(a) > 2) for a in ctx.args)
    if not named:  # two workers on one host never share celery@host (status would count one)
        from tasks.celery_app import worker_node_name

        name = worker_node_name(settings, list(groups))
        click.echo(f"worker node name: {name}", err=True)
        ctx.args.extend(["-n", name])
    args = ["-A", "tasks", "worker", "-E", "-Q", ",".join(queues_of(list(groups))), *ctx.args]
    _metrics_env(get_settings())
    os.execvp(sys.executable, [sys.executable, "-m", "celery", *args])


@click.command("beat", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat_command(ctx) -> None:
    """Run Celery beat (a RedBeat lock keeps it to one)."""
    require_redis(get_settings())
    _metrics_env(get_settings())
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "tasks", "beat", *ctx.args])


@click.command("status-page")
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


@click.command("flower", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5555, show_default=True, type=int)
@click.option("--insecure", is_flag=True, help="Start without TDS_FLOWER_BASIC_AUTH (anyone who can reach it "
              "sees every task's arguments and tracebacks).")
def flower_command(ctx, address: str, port: int, insecure: bool) -> None:
    """Flower on 127.0.0.1, behind basic auth.

    Every page, /metrics and /healthcheck too (TDS_FLOWER_BASIC_AUTH).
    """
    settings = get_settings()
    if not settings.flower_basic_auth and not insecure:
        click.echo("refused: set TDS_FLOWER_BASIC_AUTH=user:password (or pass --insecure to run Flower open)",
                   err=True)
        sys.exit(2)
    flower.run(settings, address, port, list(ctx.args))
