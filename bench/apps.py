"""Baselines the receiver and the worker are measured against, under the same gunicorn and
Celery settings as TDS.

- :func:`lpush_app`: a Flask route that only LPUSHes the body (the ceiling of Flask +
  gunicorn + Redis, with nothing durable).
- :func:`floor_app`: the *durable floor*: one raw psycopg2 ``INSERT`` + ``COMMIT`` of the
  body and one ``LPUSH`` of the new id, with a connection kept open per process: the least
  a receiver that stores before it answers can do.
- :data:`noop`: a Celery app whose task only counts itself in Redis, with TDS's
  delivery settings (late ack, prefetch 1, task events).
"""

from __future__ import annotations

import os
import time

import psycopg2
import redis
from celery import Celery
from flask import Flask, jsonify, request

REDIS_URL = os.environ.get("TDS_REDIS_URL", "redis://127.0.0.1:6379/0")
LIST_KEY = "bench:bodies"
NOOP_COUNTER = "bench:noop:done"
NOOP_QUEUE = "bench.noop"


def lpush_app() -> Flask:
    app = Flask("bench_lpush")
    r = redis.Redis.from_url(REDIS_URL)

    @app.post("/api/zoho/webhooks/<slug>")
    def receive(slug):
        r.lpush(LIST_KEY, request.get_data())
        return jsonify(ok=True), 202

    return app


def floor_app() -> Flask:
    app = Flask("bench_floor")
    r = redis.Redis.from_url(REDIS_URL)
    dsn = os.environ["BENCH_PG_DSN"]
    state = {}

    def conn():
        if "conn" not in state:
            state["conn"] = psycopg2.connect(dsn)
        return state["conn"]

    @app.post("/api/zoho/webhooks/<slug>")
    def receive(slug):
        c = conn()
        with c.cursor() as cur:
            cur.execute("INSERT INTO bench_floor (body) VALUES (%s) RETURNING id", (request.get_data().decode(),))
            new_id = cur.fetchone()[0]
        c.commit()
        r.lpush(LIST_KEY, new_id)
        return jsonify(event_id=new_id), 202

    return app


noop = Celery("bench", set_as_current=False)
noop.conf.update(
    broker_url=REDIS_URL,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_send_task_events=True,
    task_default_queue=NOOP_QUEUE,
)
_counter = {}


@noop.task(name="bench.noop")
def noop_task(event_id, entity=""):
    client = _counter.get("r") or _counter.setdefault("r", redis.Redis.from_url(REDIS_URL))
    now = time.time()
    client.pipeline(transaction=False).setnx(NOOP_COUNTER + ":first", now).set(NOOP_COUNTER + ":last", now).incr(
        NOOP_COUNTER).execute()
