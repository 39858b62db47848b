"""An entity is four files: docs/entities.md's "Adding an entity", done on a copy of the tree.

The test copies the packages and adds a small Books entity, notes, the way the walk-through
says: a registry entry, a mapper module with its table, a migration and a simulator family,
and no other edit. A TDS process on the copy then shows that everything picks it up: the
migration builds the table, the simulator generates the registry's number of notes, a full
sync lands every one, the webhook plan sets up a webhook for its Zoho module, and a signed
webhook to its route goes through its queue to a worker that applies it.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import redis as redis_lib

from tds import registry, schema
from tds.simulator.config import FULL_COUNTS
from tests.conftest import ORG, PG_HOST_URL, WEBHOOK_SECRET, _admin

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tds", "tasks", "webhook_receiver", "status_page")
NOTES_FULL = 700  # the notes of the simulator's full-size data set; "tiny" is 1/100

ENTRY = '''\
    Entity(
        name="notes",
        api="books",
        **_paths("notes", "note"),
        id_field="note_id",
        table="notes",
        mapper=notes.map_note,
        required_fields=("note_id", "title"),
        webhook_slugs=("notes",),
        payload_keys=("note",),
        zoho_module="note",
        simulated=("notes", %d),
    ),
''' % NOTES_FULL

MAPPER = '''\
"""Zoho Books notes → ``notes``."""

from __future__ import annotations

import sqlalchemy as sa

from tds.mapping import Fields, MapContext, texts
from tds.models import mirrored_table

notes = mirrored_table(
    "notes",
    "zoho_note_id",
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("body", sa.Text()),
)


def map_note(entity, record: dict, ctx: MapContext) -> Fields:
    return Fields(texts(record, notes, "title", "body"))
'''

MIGRATION = '''\
"""notes

Revision ID: 0900
Revises: {head}
"""
from alembic import op

revision = "0900"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from tds.mappers.notes import notes

    notes.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("notes")
'''

FAMILY = '''\
"""Notes of the organization."""

from __future__ import annotations

from ..datasets import OrgData
from ..resources import Family, Resource, numbered

TOPICS = ("call back", "samples sent", "asked for a quote", "visit booked")


def make_note(org: OrgData, i: int, ts: int | None = None) -> dict:
    note_id = org.ids.next()
    record = {"note_id": note_id, "title": f"Note {i + 1}", "body": org.rng.choice(TOPICS)}
    org.place("notes", note_id, record, ts)
    return record


seed_notes, _create_note = numbered(make_note, "notes")

FAMILY = Family(
    name="notes",
    resources=(
        Resource("notes", "notes", "note", "note_id", "Note", "Notes", ("created_time", "D"), name_field="title",
                 slug="notes", create=_create_note),
    ),
    seed=((100, seed_notes),),
)
'''

# runs on the copy: argv = database URL, Redis URL, organization, webhook secret
CHECK = '''\
import json, os, sys, time

import sqlalchemy as sa

database_url, redis_url, org, secret = sys.argv[1:5]

import tds
from tds import db, registry, schema
from tds.simulator.config import SimulatorConfig
from tds.simulator.server import SimulatorServer

schema.upgrade(database_url)
sim = SimulatorServer(SimulatorConfig(scale="tiny", organizations=(org,), token_refresh_limit=0,
                                      full_counts=registry.simulator_counts())).start()
cfg = sim.simulator.config
os.environ.update({
    "TDS_DATABASE_URL": database_url, "TDS_REDIS_URL": redis_url, "ZOHO_API_URL": sim.url,
    "ZOHO_ACCOUNTS_URL": sim.url, "ZOHO_CLIENT_ID": cfg.client_id, "ZOHO_CLIENT_SECRET": cfg.client_secret,
    "ZOHO_REFRESH_TOKEN": cfg.refresh_token, "ZOHO_ORGANIZATION_ID": org, "ZOHO_WEBHOOK_SECRET": secret,
    "TDS_PUBLIC_URL": "https://tds.example.com", "TDS_ZOHO_RATE_LIMIT": "100000", "TDS_COALESCE_SECONDS": "0",
})

from celery.contrib.testing.worker import start_worker

import tasks
from tds.config import Settings, set_settings
from tds.ops import webhook_setup
from tds.receive.signature import SIGNATURE_HEADER, sign
from tds.sync import availability
from tds.zoho import shared as zoho_shared
from webhook_receiver import create_app

settings = Settings.from_env(dict(os.environ), env_file=None)
set_settings(settings)
notes = registry.get("notes")
table = sa.table("notes", sa.column("zoho_note_id"), sa.column("title"))
engine = db.get_engine(database_url)
served = sim.simulator.store.records(org, "notes")
out = {"tds": tds.__file__, "counts": sim.simulator.store.counts, "served": len(served), "queues": tasks.all_queues()}

availability.sync_entity(settings, notes, org, zoho_shared.zoho_client(settings))
with engine.connect() as conn:
    out["synced"] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()

plan = webhook_setup.plan(settings)
out["webhooks"] = [[h.api, h.zoho_entity, h.full_url] for h in plan.webhooks]
out["sync_only"] = list(plan.sync_only)

changed = sim.simulator.update(org, "notes", served[0]["note_id"], {"title": "Call back on Monday"},
                               send_webhook=False)
with start_worker(tasks.app, pool="threads", concurrency=1, perform_ping_check=False, queues=[notes.queue],
                  shutdown_timeout=30):
    body = json.dumps({"note": changed}).encode()
    answer = create_app(settings).test_client().post(
        f"/api/zoho/webhooks/notes?organization_id={org}", data=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, [("organization_id", org)])})
    out["webhook_status"] = answer.status_code
    deadline = time.monotonic() + 30
    while True:
        with engine.connect() as conn:
            title = conn.execute(sa.select(table.c.title).where(table.c.zoho_note_id == changed["note_id"])).scalar()
        if title == changed["title"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out["applied"] = title == changed["title"]
sim.stop()
print(json.dumps(out))
'''


def with_entry(source: str) -> str:
    """``tds/registry.py`` with the notes entry last in ``ENTITIES`` and its mapper module imported."""
    tree = ast.parse(source)
    entities = next(node for node in tree.body if isinstance(node, ast.AnnAssign) and node.target.id == "ENTITIES")
    last_import = [node for node in tree.body if isinstance(node, ast.ImportFrom)][-1]
    lines = source.splitlines(keepends=True)
    lines.insert(entities.value.elts[-1].end_lineno, ENTRY)
    lines.insert(last_import.end_lineno, "from tds.mappers import notes\n")
    return "".join(lines)


def webhooks(entities) -> int:
    """One webhook per Zoho module an entity is set up for."""
    return len({(e.api, e.zoho_module) for e in entities if e.zoho_module})


def test_the_simulators_own_data_set_is_the_registrys():
    """A simulator started on its own (``FULL_COUNTS``) generates what TDS starts it with."""
    counts = registry.simulator_counts()
    assert {name: counts.get(name) for name in FULL_COUNTS} == FULL_COUNTS


def test_an_entity_is_a_registry_entry_a_mapper_module_a_migration_and_a_simulator_family(
        database_url, redis_url, tmp_path):
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    registry_file = tree / "tds" / "registry.py"
    registry_file.write_text(with_entry(registry_file.read_text()))
    (tree / "tds" / "mappers" / "notes.py").write_text(MAPPER)
    (tree / "tds" / "migrations" / "versions" / "0900_notes.py").write_text(
        MIGRATION.format(head=schema.head_revision(database_url)))
    (tree / "tds" / "simulator" / "families" / "notes.py").write_text(FAMILY)

    name = f"{database_url.rsplit('/', 1)[1]}_notes"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    try:
        proc = subprocess.run([sys.executable, "-c", CHECK, f"{PG_HOST_URL}/{name}", redis_url, ORG, WEBHOOK_SECRET],
                              cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                              timeout=300)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with redis_lib.Redis.from_url(redis_url) as broker:
            broker.delete("tds.notes", "_kombu.binding.tds.notes")
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.splitlines()[-1])

    assert Path(out["tds"]).is_relative_to(tree)
    assert out["counts"]["notes"] == round(NOTES_FULL / 100) == out["served"]  # the registry's count, at "tiny"
    assert out["synced"] == out["served"]
    assert ["books", "note", f"https://tds.example.com/api/zoho/webhooks/notes?organization_id={ORG}"] in out["webhooks"]
    assert ["books", "note", f"https://tds.example.com/api/zoho/webhooks/notes?organization_id={ORG}&event=deleted"] \
        in out["webhooks"]  # and one for its deletions
    assert len(out["webhooks"]) == 2 * (webhooks(registry.ENTITIES) + 1) and "notes" not in out["sync_only"]
    assert "tds.notes" in out["queues"]
    assert out["webhook_status"] == 202 and out["applied"]
