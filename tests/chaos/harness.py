"""What the chaos tests break, and how they tell whether TDS healed.

Everything a test kills is its own: a ``redis-server`` on another port, a PostgreSQL
cluster made with ``initdb`` on another port, Celery workers and beats as subprocesses in
their own process groups (so ``kill -9`` of the group is real). The shared servers on
127.0.0.1 are never touched.

Sizes: ``TDS_CHAOS=full`` (``make chaos``) runs the sizes of docs/reliability.md; the
default is the reduced size ``make test`` runs. Each test prints one report line, and
appends it to ``$TDS_CHAOS_REPORT`` when that is set.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import redis as redis_lib
import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FULL = os.environ.get("TDS_CHAOS", "").lower() == "full"


def size(reduced: int, full: int) -> int:
    return full if FULL else reduced


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, without persistence (a restart comes back empty)."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tds-chaos-redis-")
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis_lib.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis_lib.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.port)

    def flushall(self) -> None:
        self.client().flushall()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, down_for: float = 1.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (``initdb``/``pg_ctl``, as ``postgres`` when run
    as root), so stopping it stops nobody else."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tds-chaos-pg-")
        self.data = os.path.join(self.dir, "data")
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(_pg_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "tds")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/tds"

    def _run(self, *args) -> None:
        subprocess.run([*self.as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Process:
    """``celery -A tasks worker`` or ``beat`` in a process group of its own."""

    def __init__(self, args: list[str], env: dict, log_path: str):
        self.args, self.env, self.log_path = args, env, log_path
        self.proc = None
        self.exits: list[int] = []  # exit statuses seen by supervise()
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "tasks", *self.args], env=self.env,
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def supervise(self) -> int | None:
        """What compose's ``restart: unless-stopped`` does: start it again if it exited;
        returns the exit status it had, or None while it runs."""
        status = self.proc.poll()
        if status is not None:
            self.exits.append(status)
            self.start()
        return status

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()


def process_env(settings_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update(settings_env)
    env["PYTHONPATH"] = ROOT
    return env


def worker(env: dict, log_dir: str, name: str = "worker", concurrency: int = 2) -> Process:
    from tds.queues import all_queues

    return Process(["worker", "-Q", ",".join(all_queues()), "-c", str(concurrency), "-P", "prefork", "-l", "INFO",
                    "-n", f"{name}@%h", "--without-mingle", "--without-gossip"], env,
                   os.path.join(log_dir, f"{name}.log"))


def beat(env: dict, log_dir: str, name: str = "beat") -> Process:
    return Process(["beat", "-l", "INFO", "-s", os.path.join(log_dir, f"{name}-schedule")], env,
                   os.path.join(log_dir, f"{name}.log"))


@dataclass
class Report:
    test: str
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_letters: int = 0
    converged_s: float = 0.0
    notes: dict = field(default_factory=dict)

    def emit(self) -> None:
        line = json.dumps(asdict(self))
        print(f"\nCHAOS {line}")
        path = os.environ.get("TDS_CHAOS_REPORT")
        if path:
            with open(path, "a") as f:
                f.write(line + "\n")


def compare_items(engine, sim, org: str, ids: list[str]) -> tuple[int, int, list[str]]:
    """(lost, duplicated, differences): the products rows against the simulator's items."""
    from tds.mapping import parse_zoho_time
    from tds.models import metadata

    products = metadata.tables["products"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(products.c.zoho_item_id, products.c.name,
                                      products.c.zoho_last_modified_time)
                            .where(products.c.organization_id == org)).fetchall()
    by_id: dict[str, list] = {}
    for row in rows:
        by_id.setdefault(row.zoho_item_id, []).append(row)
    lost, duplicated, diffs = 0, 0, []
    for zid in sorted(set(ids)):
        truth = sim.simulator.store.get(org, "items", zid)
        found = by_id.get(zid, [])
        if not found:
            lost += 1
            continue
        duplicated += len(found) - 1
        row = found[0]
        if (row.name, row.zoho_last_modified_time) != (truth["name"], parse_zoho_time(truth["last_modified_time"])):
            diffs.append(f"{zid}: stored {row.name!r} at {row.zoho_last_modified_time}, Zoho has {truth['name']!r} "
                         f"at {truth['last_modified_time']}")
    return lost, duplicated, diffs


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "convergence",
               progress=None) -> float:
    """Seconds it took ``predicate()`` to hold; AssertionError after ``timeout``."""
    start = last_note = time.monotonic()
    while not predicate():
        now = time.monotonic()
        if now - start > timeout:
            raise AssertionError(f"no {what} within {timeout}s")
        if progress is not None and now - last_note > 10:
            print(f"  waiting for {what}: {progress()}", flush=True)
            last_note = now
        time.sleep(interval)
    return time.monotonic() - start


def item_update(sim, org: str, zoho_id: str, n: int) -> dict:
    """Zoho changes the item (its name carries ``n``) and returns it as its webhook sends it."""
    return sim.simulator.update(org, "items", zoho_id, {"name": f"Item {zoho_id} version {n}"}, send_webhook=False)


def inbox_counts(engine) -> dict[str, int]:
    from tds.models import inbox_events

    with engine.connect() as conn:
        return dict(conn.execute(sa.select(inbox_events.c.status, sa.func.count()).group_by(inbox_events.c.status))
                    .fetchall())


def all_finished(engine) -> bool:
    counts = inbox_counts(engine)
    return bool(counts) and set(counts) <= {"done", "dead"}


def dead_letter_count(engine) -> int:
    from tds.models import dead_letters

    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar()


def superseded_count(engine) -> int:
    from tds.models import inbox_events

    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(inbox_events)
                            .where(inbox_events.c.last_error.like("superseded by event%"))).scalar()


def queue_lengths(redis_url: str | None) -> dict:
    """Messages waiting per queue, and unacknowledged (held by workers)."""
    if not redis_url:
        return {}
    client = redis_lib.Redis.from_url(redis_url)
    from tds.queues import all_queues

    lengths = {q: client.llen(q) for q in all_queues() if client.llen(q)}
    lengths["unacked"] = client.hlen("unacked")
    return lengths
