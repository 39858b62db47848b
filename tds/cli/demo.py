"""``tds demo`` (``make demo``): TDS end to end against the built-in simulator, on embedded defaults.

Starts the simulator, the webhook receiver and a Celery worker; runs a full sync; has the
simulator change records and send their webhooks; waits until they land; prints a short
report; stops what it started.

The demo never touches your setup: it ignores every ``TDS_*``/``ZOHO_*`` setting (and
``.env``), and its database and Redis are its own (:mod:`tds.cli.demo_isolation`).
"""

# Flask (werkzeug, webhook_receiver), the simulator, the Zoho client and Alembic load only when the demo runs.

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack

import click
import redis as redis_lib
import sqlalchemy as sa

from tasks import enqueue_event
from tds import logs, registry, services
from tds.cli.demo_isolation import claim_database, demo_database_url, free_port, redis_for_demo
from tds.cli.options import scale_option
from tds.config import Settings, mask_url, set_settings
from tds.db import get_engine, utcnow
from tds.inbox import events as inbox
from tds.models import dead_letters, inbox_events, metadata
from tds.queues import all_queues
from tds.sync import availability

SIMULATOR_SCOPES = "ZohoBooks.fullaccess.all,ZohoInventory.fullaccess.all,ZohoCRM.modules.ALL"
DEMO_CHANGES_BY_RESOURCE = ("items", "contacts", "invoices", "salesorders", "bills", "customerpayments")


class _ThreadedServer:
    def __init__(self, app, port: int):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def _say(msg: str) -> None:
    print(msg, flush=True)


@click.command("demo")
@click.option("--scale", default="full", show_default=True, callback=scale_option,
              help="Simulator data size: full, small, tiny or a factor.")
@click.option("--changes", default=100, show_default=True, type=int, help="Records the simulator changes.")
@click.option("--database", "database", default=None,
              help="Database URL for the demo (default: SQLite tds-demo.db here; never TDS_DATABASE_URL).")
@click.option("--redis", "redis_url", default=None,
              help="Redis URL for the demo (default: a private redis-server; never TDS_REDIS_URL).")
def demo_command(scale, changes: int, database: str | None, redis_url: str | None) -> None:
    """Run TDS end to end against the simulator.

    The demo is isolated from your setup: its own SQLite file and a private Redis, unless
    --database and --redis say otherwise. It refuses a database holding non-demo data.
    """
    sys.exit(run_demo(scale=scale, changes=changes, database_url=database, redis_url=redis_url))


def run_demo(scale="full", changes: int = 100, database_url: str | None = None, redis_url: str | None = None) -> int:
    chosen_level = os.environ.get("TDS_LOG_LEVEL")  # asked for: keep it; else the report is the output
    for name in ("werkzeug", "alembic") if chosen_level else ("", "werkzeug", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from tds import schema
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.server import SimulatorServer
    from tds.zoho import shared as zoho_shared

    started = time.monotonic()
    run_started_at = utcnow()
    database_url = demo_database_url(database_url)
    _say(f"database    {_safe_url(database_url)}")
    claim_database(database_url)
    workdir = tempfile.mkdtemp(prefix="tds-demo-")
    webhook_secret = "Demo" + secrets.token_hex(8)
    receiver_port = free_port()
    with ExitStack() as stack:
        redis_info = redis_for_demo(redis_url, workdir)
        stack.callback(redis_info.stop)
        sim_config = SimulatorConfig(
            scale=scale,
            full_counts=registry.simulator_counts(),
            webhook_url=f"http://127.0.0.1:{receiver_port}/api/zoho/webhooks",
            webhook_secret=webhook_secret,
        )
        org = sim_config.organizations[0]
        sim = SimulatorServer(sim_config)
        sim.start()
        stack.callback(sim.stop)
        env = {
            "TDS_DATABASE_URL": database_url,
            "TDS_REDIS_URL": redis_info.url,
            "ZOHO_API_URL": sim.url,
            "ZOHO_ACCOUNTS_URL": sim.url,
            "ZOHO_CLIENT_ID": sim_config.client_id,
            "ZOHO_CLIENT_SECRET": sim_config.client_secret,
            "ZOHO_REFRESH_TOKEN": sim_config.refresh_token,
            "ZOHO_ORGANIZATION_ID": org,
            "ZOHO_WEBHOOK_SECRET": webhook_secret,
            # the simulator runs here with its limits off: TDS's own 100/min budget for real
            # Zoho would only make the demo slow
            "TDS_ZOHO_RATE_LIMIT": "100000",
            "TDS_LOG_LEVEL": chosen_level or "WARNING",
            "TDS_LOG_FORMAT": os.environ.get("TDS_LOG_FORMAT") or "text",  # how it logs, never where it writes
            # the simulator's refresh token carries every scope, CRM's too
            "ZOHO_SCOPES": SIMULATOR_SCOPES,  # the simulator grants everything
        }
        # nothing of the user's setup: not .env, not the environment's TDS_* and ZOHO_*
        settings = Settings.from_env(env, env_file=None)
        set_settings(settings)
        logs.setup(settings, "demo")
        services.reset()
        worker_env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
        worker_env.update(env)
        _say(f"simulator   {sim.url}  (organization {org}, data set: {scale})")
        _say(f"redis       {mask_url(redis_info.url)}"
             f"{'  (private, started for the demo)' if redis_info.process else ''}")

        schema.upgrade(settings.database_url)
        if not redis_url:  # the demo's own Redis: leave no messages from an earlier demo
            _reset_redis_queues(redis_info.url)

        from webhook_receiver import create_app

        stack.enter_context(_ThreadedServer(create_app(settings), receiver_port))
        _say(f"receiver    http://127.0.0.1:{receiver_port}/api/zoho/webhooks/<entity>")

        worker_log = os.path.join(workdir, "worker.log")
        with open(worker_log, "wb") as log_file:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "--quiet", "-A", "tasks", "worker", "-Q", ",".join(all_queues()),
                 "-c", "2", "--loglevel", "WARNING", "-n", f"tds-demo-{os.getpid()}@%h"],
                env=worker_env, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT,
            )
        stack.callback(_stop_process, worker)
        _say(f"worker      celery -A tasks worker (pid {worker.pid}, log {worker_log})")

        _say("\nfull sync")
        client = zoho_shared.zoho_client(settings)
        sync_started = time.monotonic()
        sync_failures = 0
        for entity in registry.enabled(settings):
            try:
                result = availability.sync_entity(settings, entity, org, client,
                                                  redis=services.redis_client(settings), enqueue=enqueue_event)
            except Exception as exc:  # report it and go on: the other entities still sync
                sync_failures += 1
                _say(f"  {entity.name:<18} FAILED: {exc}")
                continue
            if isinstance(result, availability.Unavailable):
                _say(f"  {entity.name:<18} unavailable: {result.message}")
                continue
            _say(f"  {entity.name:<18} {result.records_seen:>6} records  {result.seconds:6.1f}s")
        sync_seconds = time.monotonic() - sync_started

        engine = get_engine(settings.database_url)
        before = _count_events(engine)
        _say(f"\nthe simulator changes {changes} records and sends their webhooks")
        wait_started = time.monotonic()  # from the first change: the webhooks are sent as Zoho would
        sent = _make_changes(sim.simulator, settings, org, changes)
        deliveries = list(sim.simulator.webhook_log)[-sent:]
        accepted = sum(1 for d in deliveries if str(d.get("status", "")).startswith("2"))
        done = _wait_for_events(engine, before, accepted, timeout=180, alive=lambda: worker.poll() is None)
        if worker.poll() is not None:
            _say(f"the worker exited with status {worker.returncode}; see {worker_log}")
        webhook_seconds = time.monotonic() - wait_started

        _say("\nreport")
        _print_tables(engine)
        with engine.connect() as conn:
            this_run = inbox_events.c.received_at >= run_started_at
            statuses = dict(conn.execute(sa.select(inbox_events.c.status, sa.func.count()).where(this_run)
                                         .group_by(inbox_events.c.status)).all())
            by_source = dict(conn.execute(sa.select(inbox_events.c.source, sa.func.count())
                                          .where(this_run, inbox_events.c.status == inbox.Status.DONE)
                                          .group_by(inbox_events.c.source)).all())
            dead = conn.execute(sa.select(sa.func.count()).select_from(dead_letters)
                                .where(dead_letters.c.created_at >= run_started_at)).scalar()
        api_calls = sim.simulator.counters()["api_calls_total"]
        _say(f"  webhooks sent          {sent} ({accepted} accepted with 202)")
        _say(f"  events processed       {by_source.get(inbox.Source.WEBHOOK, 0)} webhooks, "
             f"{by_source.get(inbox.Source.FETCH, 0)} fetches of records other records referenced")
        _say(f"  inbox (this run)       {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}")
        _say(f"  dead letters           {dead}")
        _say(f"  Zoho API calls         {api_calls}")
        _say(f"  full sync              {sync_seconds:.1f}s")
        _say(f"  changes landed in      {webhook_seconds:.1f}s  (from the first change to the last row written)")
        _say(f"  total                  {time.monotonic() - started:.1f}s")
        if not done:
            _say("\nnot every webhook was processed in time; see the inbox statuses above")
        if sync_failures:
            _say(f"\n{sync_failures} entities failed to sync; see above")
        return 0 if done and not sync_failures else 1


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _reset_redis_queues(url: str) -> None:
    """Leave no messages from an earlier demo in the demo's queues."""
    client = redis_lib.Redis.from_url(url)
    client.delete(*all_queues())


def _stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _make_changes(simulator, settings: Settings, org: str, changes: int) -> int:
    resources = [r for r in DEMO_CHANGES_BY_RESOURCE if _serves(settings, r)]
    share, extra = divmod(changes, len(resources))
    sent = 0
    for i, resource in enumerate(resources):
        count = share + (1 if i < extra else 0)
        sent += len(simulator.mutate(org, resource, count, send_webhooks=True))
    return sent


def _serves(settings: Settings, resource: str) -> bool:
    """Whether an enabled entity mirrors this simulator resource."""
    paths = {e.list_path.strip("/") for e in registry.enabled(settings)}
    return resource in paths


def _count_events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                            .where(inbox_events.c.source == inbox.Source.WEBHOOK)).scalar()


def _wait_for_events(engine, before: int, expected: int, timeout: float, alive) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        with engine.connect() as conn:
            unfinished = conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                      .where(inbox_events.c.status.in_(inbox.UNFINISHED))).scalar()
            total = conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                                 .where(inbox_events.c.source == inbox.Source.WEBHOOK)).scalar()
        if total - before >= expected and unfinished == 0:
            return True
        time.sleep(0.5)
    return False


def _print_tables(engine) -> None:
    erp = [t for t in metadata.sorted_tables if not t.name.startswith("tds_")]
    with engine.connect() as conn:
        for tbl in sorted(erp, key=lambda t: t.name):
            n = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar()
            _say(f"  {tbl.name:<26} {n:>7} rows")
