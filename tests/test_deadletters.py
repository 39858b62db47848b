"""Dead letters from the operator's side: list them, replay them once the cause is gone, purge them."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from tds.cli import cli
from tds.mappers.items import products
from tds.models import dead_letters, inbox_events
from tests.helpers import signed_post, wait_for
from tests.simulated import settings_for, use
from webhook_receiver import create_app


def _letters(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).fetchall()


def test_list_replay_and_purge(worker, engine, database_url, redis_url, simulator_factory):
    sim = simulator_factory(scale="small")
    org = sim.simulator.config.organizations[0]
    settings = use(settings_for(sim, database_url, redis_url, org, TDS_ZOHO_MAX_ATTEMPTS="1",
                                TDS_TASK_MAX_RETRIES="0", TDS_ZOHO_BREAKER_FAILURES="1000"))
    items = sim.simulator.store.records(org, "items")[:2]
    sim.simulator.configure(error_rate=1.0)  # Zoho is down: the detail fetches fail
    client = create_app(settings).test_client()
    for item in items:
        partial = {k: v for k, v in item.items() if k not in ("warehouses", "locations")}
        assert signed_post(client, "items", {"item": partial}, org=org).status_code == 202
    wait_for(lambda: len(_letters(engine)) == 2, timeout=60, what="two dead letters")

    runner = CliRunner()
    listed = runner.invoke(cli, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 dead letters" in listed.output and items[0]["item_id"] in listed.output

    sim.simulator.configure(error_rate=0.0)  # Zoho is back
    first_id = _letters(engine)[0].id
    one = runner.invoke(cli, ["dead-letters", "replay", str(first_id)])
    assert one.exit_code == 0 and "replayed 1 dead letters" in one.output
    rest = runner.invoke(cli, ["dead-letters", "replay", "--entity", "items"])
    assert rest.exit_code == 0 and "replayed 1 dead letters" in rest.output  # the first is not taken twice

    def landed():
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(products)).scalar() == 2
    wait_for(landed, timeout=60, what="both replayed items")
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(inbox_events.c.status)).scalars()) == {"done"}
    assert all(letter.replayed_at is not None and letter.replay_count == 1 for letter in _letters(engine))
    assert "0 dead letters" in runner.invoke(cli, ["dead-letters", "list"]).output
    assert "2 dead letters" in runner.invoke(cli, ["dead-letters", "list", "--replayed"]).output

    refused = runner.invoke(cli, ["dead-letters", "purge"])
    assert refused.exit_code != 0 and "--all" in refused.output
    purged = runner.invoke(cli, ["dead-letters", "purge", "--all", "--yes"])
    assert purged.exit_code == 0 and "purged 2 dead letters" in purged.output
    assert _letters(engine) == []
