"""The processes a section measures: how each is started, when it is ready, how it is stopped,
and how much memory it holds.

:func:`process` starts one in a session of its own and stops the whole group (gunicorn's
and Celery's children with it); its stderr goes to the bench's log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

from bench.env import PY, ROOT, Env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def process(env: Env, args: list[str], ready=None, timeout: float = 60):
    proc = subprocess.Popen(args, cwd=ROOT, env=env.vars, stdout=subprocess.DEVNULL, stderr=open(env.tmp / "log", "ab"),
                            start_new_session=True)
    try:
        if ready is not None:
            deadline = time.time() + timeout
            while not ready():
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"{args[:6]} did not start; see {env.tmp / 'log'}")
                time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def http_ready(port: int):
    def check():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                return s.recv(12).startswith(b"HTTP/")
        except OSError:
            return False
    return check


def receiver_cmd(kind: str, port: int, workers: int = 2) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if kind == "tds":
        return [PY, "-m", "tds.cli", "receiver", "--bind", bind, "--workers", str(workers)]
    return [PY, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "--no-control-socket",
            f"bench.apps:{kind}_app()"]


def worker_cmd(kind: str, concurrency: int) -> list[str]:
    if kind == "tds":
        app, queue = "tasks", "tds.items"
    else:
        app, queue = "bench.apps:noop", "bench.noop"
    return [PY, "-m", "celery", "-A", app, "worker", "-E", "-Q", queue, "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "-l", "WARNING"]


def rss_kib(pid: int) -> int | None:
    """The resident set (``VmRSS``, KiB) of one process; None once it is gone (or for a kernel thread)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        return None


def rss_of_tree(pid: int) -> int:
    """RSS (KiB) of ``pid`` and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        rss = rss_kib(p)
        if rss is None:
            continue
        total += rss
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:
            continue
    return total
