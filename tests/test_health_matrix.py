"""What TDS says about itself is true: a matrix of real conditions.

One world — a PostgreSQL database and a Redis of its own, the simulator, the README's two
``tds worker`` lines and one ``tds beat`` as real processes — is synced and reconciled, then
each condition below is made real, judged, and undone. For every condition the test asserts
the severity and the finding in ``tds status --json`` (and its exit), the same findings from
``/api/status``, ``tds_health_severity`` in ``/metrics``, the open alerts after
``tds alerts check``, and the exit of the command the row names. ``MATRIX`` is the
specification; docs/operations.md ("What TDS says about itself") shows the same table, and
:func:`test_operations_md_shows_the_matrix` keeps the two equal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

from tds import registry
from tds.config import Settings
from tests import conftest
from tests.chaos import harness
from tests.simulated import env_for

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "AdminToken1234567890"
HOST = socket.gethostname()
ENTITIES = "items,customers,users,price_lists"
RATE_LIMIT = 300


# ------------------------------------------------------------------ the world


class TdsProcess(harness.Process):
    """``python -m tds.cli …`` (a ``tds`` command) in a process group of its own."""

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "tds.cli", *self.args], env=self.env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()


@dataclass
class World:
    settings: Settings
    env: dict
    sim: object
    redis: harness.PrivateRedis
    logs: str
    org: str
    processes: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def tds(self, *args, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tds.cli", *args], env={**self.env, **(env or {})}, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, name: str, args: list[str]) -> TdsProcess:
        self.processes[name] = TdsProcess(args, self.env, os.path.join(self.logs, f"{name}.log"))
        return self.processes[name]

    def engine(self):
        from tds.db import get_engine

        return get_engine(self.settings.database_url)

    def live_nodes(self) -> dict:
        from tasks.celery_app import live_workers

        return live_workers(self.settings) or {}

    def beat_lock(self) -> bool:
        from tds.ops.status import BEAT_LOCK

        try:
            return bool(self.redis.client().exists(BEAT_LOCK))
        except Exception:
            return False

    def newest_run(self, entity: str, mode: str):
        from tds.models import sync_runs

        with self.engine().connect() as conn:
            return conn.execute(sa.select(sync_runs).where(sync_runs.c.entity == entity, sync_runs.c.mode == mode)
                                .order_by(sync_runs.c.id.desc()).limit(1)).first()


WEBHOOK_WORKER = ["worker", "--queues", "webhooks", "--queues", "maintenance", "--concurrency", "1"]
SYNC_WORKER = ["worker", "--queues", "sync", "--queues", "images", "--queues", "odoo", "--concurrency", "1"]


def _steady(world: World, timeout: float = 90) -> None:
    """The README's two workers answer and a beat holds the lock."""
    harness.wait_until(lambda: set(world.live_nodes()) >= {f"webhooks@{HOST}", f"sync@{HOST}"} and world.beat_lock(),
                       timeout, what="two workers and a beat")


@pytest.fixture(scope="module")
def world():
    from tds import db, schema
    from tds.simulator.config import SimulatorConfig
    from tds.simulator.server import SimulatorServer

    name = f"{conftest.TEST_DB}_health"
    conftest._admin(f'CREATE DATABASE "{name}"')
    database_url = f"{conftest.PG_HOST_URL}/{name}"
    logs = tempfile.mkdtemp(prefix="tds-health-")
    redis = sim = w = None
    try:
        schema.upgrade(database_url)
        redis = harness.PrivateRedis()
        sim = SimulatorServer(SimulatorConfig(full_counts=registry.simulator_counts(), scale="tiny"))
        sim.start()
        org = sim.simulator.config.organizations[0]
        env = harness.process_env(env_for(
            sim, database_url, redis.url, org, TDS_ENTITIES=ENTITIES, TDS_ZOHO_RATE_LIMIT=str(RATE_LIMIT),
            TDS_SCHEDULE_INCREMENTAL="0", TDS_SCHEDULE_RECONCILE="0", TDS_SCHEDULE_FULL="0",
            TDS_SCHEDULE_IMAGES="0", TDS_SCHEDULE_ALERTS="0", TDS_ZOHO_MAX_ATTEMPTS="1", TDS_TASK_MAX_RETRIES="0",
            TDS_ZOHO_BREAKER_FAILURES="1000", TDS_BEAT_LOCK_TIMEOUT="6", TDS_BEAT_LOOP_INTERVAL="2",
            TDS_ADMIN_TOKEN=ADMIN, TDS_IMAGE_DIR=os.path.join(logs, "images"),
            TDS_RUNTIME_DIR=os.path.join(logs, "run")))
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(("TDS_", "ZOHO_"))},
                                     env_file=None)
        w = World(settings, env, sim, redis, logs, org)
        w.start("webhooks", WEBHOOK_WORKER)
        harness.wait_until(lambda: f"webhooks@{HOST}" in w.live_nodes(), 60, what="the webhook worker")
        w.start("sync", SYNC_WORKER)
        w.start("beat", ["beat"])
        _steady(w)
        done = w.tds("sync", "--full")
        assert done.returncode == 0, done.stdout + done.stderr
        done = w.tds("reconcile")
        assert done.returncode == 0, done.stdout + done.stderr
        yield w
    finally:
        for proc in (w.processes.values() if w else ()):
            proc.stop()
        if sim is not None:
            sim.stop()
        if redis is not None:
            redis.close()
        db.dispose_engines()
        conftest._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(logs, ignore_errors=True)


# ------------------------------------------------------------------ what each condition does


def _nothing(world: World) -> None:
    return None


def _redis_stop(world):
    world.redis.stop()


def _redis_start(world):
    world.redis.start()  # empty (no persistence); the workers and beat reconnect on their own


class _PostgresDown:
    """A PostgreSQL cluster of the row's own, migrated, then stopped; the row's commands point at it."""

    def make(self, world):
        from tds import schema

        try:
            self.pg = harness.PrivatePostgres()
        except RuntimeError as exc:
            pytest.skip(str(exc))
        schema.upgrade(self.pg.url)
        self.pg.stop()
        world.notes["env"] = {"TDS_DATABASE_URL": self.pg.url}
        world.notes["settings"] = world.settings.replace(database_url=self.pg.url)

    def undo(self, world):
        from tds import db

        world.notes.pop("env", None)
        world.notes.pop("settings", None)
        db.dispose_engines()
        if getattr(self, "pg", None) is not None:
            self.pg.close()
            self.pg = None


def _stop_sync_worker(world):
    world.processes["sync"].stop()
    harness.wait_until(lambda: f"sync@{HOST}" not in world.live_nodes(), 30, what="the sync worker gone")


def _start_sync_worker(world):
    world.start("sync", SYNC_WORKER)
    _steady(world)


def _third_worker(world):
    proc = world.start("webhooks-2", WEBHOOK_WORKER)
    world.notes["third"] = f"webhooks-{proc.proc.pid}@{HOST}"
    harness.wait_until(lambda: world.notes["third"] in world.live_nodes(), 60, what="the third worker")


def _stop_third_worker(world):
    world.processes.pop("webhooks-2").stop()


def _kill_beat(world):
    world.processes["beat"].kill9()
    harness.wait_until(lambda: not world.beat_lock(), 30, what="the beat lock expired")


def _start_beat(world):
    world.start("beat", ["beat"])
    harness.wait_until(world.beat_lock, 30, what="a beat holding the lock")


def _second_beat(world):
    world.start("beat-2", ["beat"])
    time.sleep(3)  # it starts, finds the lock held, and stands by
    assert world.processes["beat-2"].alive()


def _stop_second_beat(world):
    world.processes.pop("beat-2").stop()


def _refused_token(world):
    client = world.redis.client()
    for key in client.scan_iter("tds:zoho:oauth:*"):
        client.delete(key)
    world.notes["command_env"] = {"ZOHO_CLIENT_SECRET": "wrong"}  # for the row's command only


def _reconcile_items_again(world):
    done = world.tds("reconcile", "-e", "items")
    assert done.returncode == 0, done.stdout + done.stderr


def _zoho_5xx(world):
    world.sim.simulator.configure(error_rate=1.0, error_kinds="5xx")


def _zoho_back_sync(world):
    world.sim.simulator.configure(error_rate=0.0, error_kinds="mixed")
    done = world.tds("sync", "--incremental", "-e", "items")
    assert done.returncode == 0, done.stdout + done.stderr


def _zoho_back_reconcile(world):
    world.sim.simulator.configure(error_rate=0.0, error_kinds="mixed")
    _reconcile_items_again(world)


def _limiter(world):
    from tds.zoho.ratelimit import OrgRateLimiter

    return OrgRateLimiter(world.redis.client(), world.settings.redis_url, RATE_LIMIT)


def _take_rate_limit(world):
    """Another run holds the organization's whole window; beat's kind of run (a task) comes."""
    from tds.zoho.errors import ZohoRateLimited

    limiter = _limiter(world)
    with pytest.raises(ZohoRateLimited):
        for _ in range(RATE_LIMIT + 1):
            limiter.acquire(world.org, 0)
    before = world.newest_run("items", "incremental")
    queued = world.tds("sync", "--celery", "--incremental", "-e", "items")
    assert queued.returncode == 0, queued.stdout + queued.stderr

    def deferred():
        run = world.newest_run("items", "incremental")
        return run is not None and (before is None or run.id != before.id) and run.status == "deferred"
    harness.wait_until(deferred, 60, what="a deferred run")


def _free_rate_limit(world):
    _limiter(world).clear(world.org)
    harness.wait_until(lambda: world.newest_run("items", "incremental").status == "succeeded", 90,
                       what="the deferred run done when the window freed")


def _dead_letter(world):
    from tds.models import dead_letters

    world.sim.simulator.configure(error_rate=1.0, error_kinds="5xx")
    try:
        queued = world.tds("sync", "--celery", "--incremental", "-e", "customers")
        assert queued.returncode == 0, queued.stdout + queued.stderr

        def letter():
            with world.engine().connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(dead_letters).where(
                    dead_letters.c.replayed_at.is_(None))).scalar() == 1
        harness.wait_until(letter, 60, what="one dead letter")
    finally:
        world.sim.simulator.configure(error_rate=0.0, error_kinds="mixed")


def _replay(world):
    """The letter is a sync that died; its replay is a sync of the entity (a full one)."""
    before = world.newest_run("customers", "full")
    done = world.tds("dead-letters", "replay", "--all")
    assert done.returncode == 0 and "replayed 1 dead letters" in done.stdout, done.stdout + done.stderr

    def replayed():
        run = world.newest_run("customers", "full")
        return run is not None and run.id != (before.id if before else None) and run.status == "succeeded"
    harness.wait_until(replayed, 60, what="the replayed sync done")


def _count_calls(world):
    world.sim.simulator.reset_counters()


# ------------------------------------------------------------------ the specification


@dataclass(frozen=True)
class Row:
    condition: str
    severity: str
    finding: str | None  # the key of the finding that says it ({org} filled in); None: none but info
    says: str | None  # in that finding's message
    status_exit: int
    command: tuple[str, ...] | None = None
    command_exit: int | None = None
    make: Callable = _nothing
    undo: Callable = _nothing
    page: bool = False  # also checked in headless Chromium


PG = _PostgresDown()

MATRIX = [
    Row("healthy: the README's two workers, one beat, synced, reconciled", "healthy", None, None, 0,
        ("reconcile",), 0, page=True),
    Row("PostgreSQL stopped", "critical", "database", "PostgreSQL unreachable", 2,
        ("alerts", "check"), 5, make=PG.make, undo=PG.undo),
    Row("no worker on a queue", "critical", "no_worker:tds.sync", "no worker consumes tds.sync", 2,
        make=_stop_sync_worker, undo=_start_sync_worker),
    Row("two workers on one host started as the README says, and a third", "healthy", None, None, 0,
        make=_third_worker, undo=_stop_third_worker),
    Row("beat dead", "critical", "beat", "no beat is running", 2, make=_kill_beat, undo=_start_beat),
    Row("a second beat standing by", "healthy", None, None, 0, make=_second_beat, undo=_stop_second_beat),
    Row("Zoho token refused", "critical", "zoho_auth:{org}", "Zoho refused the credentials", 2,
        ("reconcile", "-e", "items"), 7, make=_refused_token, undo=_reconcile_items_again),
    Row("Zoho answering 5xx", "warning", "sync_failed:{org}:items:incremental", "failed", 1,
        ("sync", "--incremental", "-e", "items"), 7, make=_zoho_5xx, undo=_zoho_back_sync),
    Row("rate limit taken by another run", "healthy", "deferred:{org}:items:incremental", "is deferred", 0,
        make=_take_rate_limit, undo=_free_rate_limit),
    Row("a failed reconcile", "warning", "reconcile_failed:{org}:items", "last successful reconcile", 1,
        ("reconcile", "-e", "items"), 7, make=_zoho_5xx, undo=_zoho_back_reconcile),
    Row("an entity whose lists carry no timestamp (users, price lists)", "healthy", None, None, 0,
        ("reconcile", "--repair"), 0, make=_count_calls),
    Row("a dead letter waiting", "warning", "dead_letters", "1 dead letters waiting", 1, make=_dead_letter),
    Row("the same letter replayed", "healthy", None, None, 0, make=_replay),
    Row("Redis stopped", "critical", "redis", "Redis unreachable", 2, make=_redis_stop, undo=_redis_start,
        page=True),
]


# ------------------------------------------------------------------ how each is judged


def _status_json(world: World) -> tuple[int, dict]:
    done = world.tds("status", "--json", env=world.notes.get("env"), timeout=60)
    assert done.stdout.strip().startswith("{"), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def _api_status(settings: Settings) -> dict:
    from status_page import create_app

    answer = create_app(settings).test_client().get("/api/status", headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.data[:500]
    return answer.get_json()


def _metrics_severity(settings: Settings) -> float:
    from webhook_receiver import create_app

    text = create_app(settings, enqueue=lambda *a: None).test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).get_data(as_text=True)
    found = re.search(r"^tds_health_severity (\S+)$", text, re.M)
    assert found, text[-2000:]
    return float(found.group(1))


def _open_alerts(world: World) -> dict[str, str]:
    from tds.models import alerts

    with world.engine().connect() as conn:
        return {r.key: r.severity for r in conn.execute(sa.select(alerts).where(alerts.c.cleared_at.is_(None)))}


def _serious(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["severity"] in ("warning", "critical")]


@pytest.mark.parametrize("row", MATRIX, ids=[r.condition for r in MATRIX])
def test_condition(world, row):
    row.make(world)
    try:
        settings = world.notes.get("settings", world.settings)
        if row.command:
            done = world.tds(*row.command, env={**world.notes.get("env", {}), **world.notes.pop("command_env", {})})
            assert done.returncode == row.command_exit, done.stdout + done.stderr
            _command_says(world, row, done)
        code, snap = _status_json(world)
        finding = row.finding.format(org=world.org) if row.finding else None
        keys = {f["key"]: f for f in snap["findings"]}
        assert snap["severity"] == row.severity, snap["findings"]
        assert code == row.status_exit
        if finding:
            assert finding in keys, snap["findings"]
            assert row.says in keys[finding]["message"], keys[finding]
        if row.severity == "healthy":
            assert _serious(snap["findings"]) == []
        again = _status_json(world)[1]  # the same answer twice: no flapping
        assert [f["key"] for f in _serious(again["findings"])] == [f["key"] for f in _serious(snap["findings"])]

        api = _api_status(settings)
        assert api["severity"] == row.severity
        assert [f["key"] for f in _serious(api["findings"])] == [f["key"] for f in _serious(snap["findings"])]
        assert _metrics_severity(settings) == {"healthy": 0, "warning": 1, "critical": 2}[row.severity]

        if row.condition != "PostgreSQL stopped":  # the alerts live in PostgreSQL: that row's command checks them
            checked = world.tds("alerts", "check", timeout=60)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            opened = _open_alerts(world)
            if row.severity == "healthy":
                assert opened == {}, opened
            else:
                assert opened.get(finding) == row.severity, opened
        _extra(world, row, snap)
        if row.page:
            _page(settings, row, finding)
    finally:
        row.undo(world)


def _command_says(world: World, row: Row, done) -> None:
    if row.condition == "Zoho token refused":
        assert "Zoho refused the credentials" in done.stdout + done.stderr and "100.00" not in done.stdout
    if row.condition.startswith("a failed reconcile"):
        assert "failed: Zoho could not be reached" in done.stdout + done.stderr and "100.00" not in done.stdout
    if row.condition.startswith("an entity whose lists"):
        calls = world.sim.simulator.counters()
        details = {k: v for k, v in calls.items() if ("{id}" in k or "details" in k) and "image" not in k}
        assert details == {}, details  # nothing differed: no record was fetched
        for name in ("users", "price_lists"):
            assert re.search(rf"^\S*\s*{name}\s.*100\.00", done.stdout, re.M), done.stdout


def _extra(world: World, row: Row, snap: dict) -> None:
    if row.condition.startswith("two workers"):
        assert set(snap["workers"]) == {f"webhooks@{HOST}", f"sync@{HOST}", world.notes["third"]}
        assert snap["worker_duplicates"] == {}
    if row.condition.startswith("healthy"):
        assert set(snap["workers"]) == {f"webhooks@{HOST}", f"sync@{HOST}"}
        assert snap["reconcile"]["health_score"] == 100.0
    if row.condition == "rate limit taken by another run":  # waiting is not failing: not an error
        deferred = world.newest_run("items", "incremental")
        assert deferred.status == "deferred" and deferred.reason == "rate_limit" and deferred.retry_at is not None
        assert not [e for e in snap["recent_errors"] if f" run {deferred.id} " in e["what"]], snap["recent_errors"]
    if row.condition == "a failed reconcile":
        assert snap["reconcile"]["health_score"] == 100.0  # the failed run is left out of the score
    if row.condition == "Redis stopped":
        assert snap["queues"] is None and snap["beat_running"] is None
        human = world.tds("status", timeout=60)
        assert human.returncode == 2 and "status: critical" in human.stdout and "all empty" not in human.stdout


# ------------------------------------------------------------------ the page, in headless Chromium

BADGE = {"critical": (0xc6, 0x28, 0x28), "healthy": (0x2e, 0x7d, 0x32)}


def _page(settings: Settings, row: Row, finding: str | None) -> None:
    from werkzeug.serving import make_server

    from status_page import create_app

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        pytest.skip("chromium is not installed (scripts/ensure-chromium.sh installs it as root)")
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://tds:{ADMIN}@127.0.0.1:{server.server_port}/status"
    shot = Path(tempfile.mkdtemp()) / "page.png"
    try:
        flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([*flags, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True,
                                 text=True, timeout=120)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([*flags, f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=420,900",
                            url], capture_output=True, timeout=120)
    finally:
        server.shutdown()
    html = dom.stdout
    assert f'id="severity">{row.severity}' in html, dom.stderr[-2000:]
    if row.says:
        listed = html.split('id="findings"', 1)[1].split("</ul>", 1)[0]
        assert row.says in listed
    from PIL import Image

    image = Image.open(shot).convert("RGB").crop((0, 0, 420, 80))
    pixels = [image.getpixel((x, y)) for y in range(image.height) for x in range(image.width)]

    def near(colour):
        return sum(1 for p in pixels if all(abs(a - b) <= 12 for a, b in zip(p, colour)))
    other = "healthy" if row.severity == "critical" else "critical"
    assert near(BADGE[row.severity]) > 50 and near(BADGE[other]) == 0
    shutil.rmtree(shot.parent, ignore_errors=True)


# ------------------------------------------------------------------ the docs show the same table


def _docs_rows() -> list[tuple[str, ...]]:
    text = (ROOT / "docs" / "operations.md").read_text()
    part = text.split("## What TDS says about itself", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")][2:]
    return [tuple(c.strip().strip("`") for c in ln.strip("|").split("|")) for ln in lines]


def _spec_rows() -> list[tuple[str, ...]]:
    return [(r.condition, r.severity, r.finding or "—", r.says or "—", str(r.status_exit),
             f"tds {' '.join(r.command)} → {r.command_exit}" if r.command else "—") for r in MATRIX]


def test_operations_md_shows_the_matrix():
    assert _docs_rows() == _spec_rows()
