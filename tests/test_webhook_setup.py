"""Connecting Zoho: grant-code exchange, the webhook plan, its install, and the simulator's secrets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests

from tds import registry
from tds.ops.webhook_setup import RULE_TYPES
from tests.conftest import WEBHOOK_SECRET
from tests.test_cli_errors import assert_one_line_failure
from tests.test_doctor import _env, _tds

ORG = "60001234567"


def modules(api: str) -> set[str]:
    """The Zoho modules of ``api`` (books, inventory) the registry's entities are set up for:
    one webhook each, however many entities share it."""
    return {e.zoho_module for e in registry.ENTITIES if e.api == api and e.zoho_module}


WEBHOOKS = len(modules("books")) + len(modules("inventory"))
SYNC_ONLY = [e.name for e in registry.ENTITIES if e.zoho_module is None]


def test_plan_lists_one_webhook_per_module_with_url_and_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update({"TDS_PUBLIC_URL": "https://tds.example.com", "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "ZOHO_ORGANIZATION_ID": ORG})
    proc = _tds(env, "webhooks", "plan", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert WEBHOOK_SECRET not in out and "(ZOHO_WEBHOOK_SECRET)" in out
    for product, module, slug in (("Zoho Inventory", "item", "items"), ("Zoho Books", "contact", "customers"),
                                  ("Zoho Books", "invoice", "invoices"), ("Zoho Books", "customer_payment", "payments"),
                                  ("Zoho Books", "creditnote", "credit-notes"), ("Zoho Books", "bill", "bills"),
                                  ("Zoho Books", "salesorder", "orders"),
                                  ("Zoho Inventory", "inventory_adjustment", "stock")):
        assert f"https://tds.example.com/api/zoho/webhooks/{slug}?organization_id={ORG}" in out
        assert any(product in line and f"module {module} " in line for line in out.splitlines()), module
    assert out.count("URL  ") == 2 * WEBHOOKS and "(created)" in out and "(edited)" in out
    # and one for deletions per module, told apart by the URL the receiver reads the event from
    assert out.count("&event=deleted") == WEBHOOKS
    assert f"https://tds.example.com/api/zoho/webhooks/invoices?organization_id={ORG}&event=deleted" in out
    assert out.splitlines()[-1].startswith("sync only") and all(name in out.splitlines()[-1] for name in SYNC_ONLY)
    shown = _tds(env, "webhooks", "plan", "--show-secret", cwd=tmp_path)
    assert WEBHOOK_SECRET in shown.stdout

    for public in ("", "http://tds.example.com"):
        proc = _tds({**env, "TDS_PUBLIC_URL": public}, "webhooks", "plan", cwd=tmp_path)
        assert_one_line_failure(proc, 2, "TDS_PUBLIC_URL")


def test_install_creates_them_in_zoho_once(simulator_factory, redis_client, redis_url, database_url, tmp_path):
    sim = simulator_factory(scale="tiny", organizations=(ORG,))
    env = _env(sim, database_url, redis_url)
    refused = _tds(env, "webhooks", "install", cwd=tmp_path)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert not sim.app.extensions.get("tds_simulator_automation")

    proc = _tds(env, "webhooks", "install", "--yes", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"created {WEBHOOKS * (2 + len(RULE_TYPES) + 1)} webhooks and workflow rules" in proc.stdout
    saved = sim.app.extensions["tds_simulator_automation"]
    hooks = {k: v for k, v in saved["webhooks"].items()}
    assert {api: len(v) for (api, _), v in hooks.items()} == {api: 2 * len(modules(api))
                                                              for api in ("books", "inventory")}
    deletions = {h["entity"]: h for h in hooks[("books", ORG)] if h["webhook_name"].endswith("(deleted)")}
    assert {"param_name": "event", "param_value": "deleted"} in deletions["invoice"]["query_parameters"]
    books = {h["entity"]: h for h in hooks[("books", ORG)] if not h["webhook_name"].endswith("(deleted)")}
    assert books["invoice"]["url"] == "https://tds.example.com/api/zoho/webhooks/invoices"
    assert books["invoice"]["secret"] == WEBHOOK_SECRET
    assert {"param_name": "organization_id", "param_value": ORG} in books["invoice"]["query_parameters"]
    rules = saved["workflows"][("books", ORG)]
    assert {r["rule_type"] for r in rules} == {"add", "edit", "delete"}
    assert len(rules) == (len(RULE_TYPES) + 1) * len(modules("books"))
    deleting = {r["instant_actions"][0]["action_id"] for r in rules if r["rule_type"] == "delete"}
    assert deleting == {h["webhook_id"] for h in deletions.values()}
    ids = {h["webhook_id"] for h in hooks[("books", ORG)]}
    assert all(r["instant_actions"][0]["action_id"] in ids for r in rules)

    again = _tds(env, "webhooks", "install", "--yes", cwd=tmp_path)
    assert again.returncode == 0 and "created 0 webhooks" in again.stdout
    assert len(saved["workflows"][("books", ORG)]) == (len(RULE_TYPES) + 1) * len(modules("books"))
    assert WEBHOOK_SECRET not in proc.stdout + proc.stderr + again.stdout + again.stderr


def test_grant_code_exchange_prints_the_env_lines(simulator_factory, redis_url, database_url, tmp_path):
    sim = simulator_factory(scale="tiny", organizations=(ORG,))
    cfg = sim.simulator.config
    env = _env(sim, database_url, redis_url)
    del env["ZOHO_REFRESH_TOKEN"]
    proc = _tds(env, "zoho", "token", "--code", cfg.grant_code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"ZOHO_REFRESH_TOKEN={cfg.refresh_token}" in proc.stdout.splitlines()
    assert cfg.client_secret not in proc.stdout + proc.stderr and cfg.grant_code not in proc.stderr

    used = _tds(env, "zoho", "token", "--code", cfg.grant_code, cwd=tmp_path)  # grant codes are single-use
    assert_one_line_failure(used, 7, "grant code is wrong or expired")
    wrong = _tds({**env, "ZOHO_CLIENT_SECRET": "nottheone"}, "zoho", "token", "--code", "x", cwd=tmp_path)
    assert_one_line_failure(wrong, 7, "ZOHO_CLIENT_SECRET is wrong")
    prefixed = _tds(env, "zoho", "token", "--code", "y", "--org", ORG, cwd=tmp_path)
    assert prefixed.returncode == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_simulator_takes_its_secrets_from_the_environment_and_prints_none(tmp_path):
    port = _free_port()
    secrets = {"TDS_SIMULATOR_CLIENT_ID": "1000.ENVCLIENT", "TDS_SIMULATOR_CLIENT_SECRET": "envclientsecret",
               "TDS_SIMULATOR_REFRESH_TOKEN": "1000.envrefreshtoken", "ZOHO_WEBHOOK_SECRET": "EnvWebhookSecret42"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDS_", "ZOHO_"))}
    env.update(secrets)
    args = [sys.executable, "-m", "tds.cli", "simulator", "--port", str(port), "--scale", "tiny"]
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = proc.stdout.readline()
        assert "Zoho simulator on" in banner and "signed" in banner
        for value in secrets.values():
            assert value not in banner and value not in " ".join(args)
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.post(f"http://127.0.0.1:{port}/oauth/v2/token", timeout=5, data={
                    "grant_type": "refresh_token", "client_id": "1000.ENVCLIENT", "client_secret": "envclientsecret",
                    "refresh_token": "1000.envrefreshtoken"}).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert "access_token" in answer
        help_text = subprocess.run([sys.executable, "-m", "tds.cli", "simulator", "--help"], env=env,
                                   capture_output=True, text=True).stdout
        assert "--webhook-secret" not in help_text
    finally:
        proc.terminate()
        proc.wait(10)
