"""docker-compose.yml, the Dockerfile and the systemd units hold together (there is no Docker
engine here: this test reads them as compose and systemd would)."""

from __future__ import annotations

import configparser
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
import yaml

from tds.cli import cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ONE_SHOT = {"migrate"}


def _rest(ctx) -> list[str]:
    with warnings.catch_warnings():  # click 8.2 deprecates protected_args, still where the command name is
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*ctx.protected_args, *ctx.args]


def assert_tds_command(argv: list[str]) -> None:
    """``argv`` (after ``tds``) names real commands and options of the CLI, parsed as click would."""
    ctx = cli.make_context("tds", list(argv), resilient_parsing=False)
    group, args = cli, _rest(ctx)
    while isinstance(group, click.Group):
        assert args, f"tds {' '.join(argv)}: no command"
        name, command, rest = group.resolve_command(ctx, args)
        assert command is not None, f"tds {' '.join(argv)}: no command {args[0]!r}"
        ctx = command.make_context(name, rest, parent=ctx)  # raises on an unknown option
        group, args = command, _rest(ctx) if isinstance(command, click.Group) else []


def _commands():
    for name, service in SERVICES.items():
        if "command" in service:  # postgres runs its image's own
            yield name, service["command"]


@pytest.mark.parametrize("name,command", list(_commands()))
def test_every_compose_command_exists(name, command):
    if command[0] == "tds":
        assert_tds_command(command[1:])
    else:
        assert command[:3] == ["celery", "-A", "tasks"] or command[0] == "redis-server" or name == "postgres"


def test_every_long_running_service_has_a_healthcheck():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no"
            continue
        check = service.get("healthcheck", {}).get("test")
        assert check, f"{name} has no healthcheck"
    assert "celery -A tasks inspect ping" in " ".join(SERVICES["worker-webhooks"]["healthcheck"]["test"])
    assert "celery -A tasks inspect ping" in " ".join(SERVICES["worker-sync"]["healthcheck"]["test"])
    assert "/healthcheck" in " ".join(SERVICES["flower"]["healthcheck"]["test"])
    assert "redbeat" in " ".join(SERVICES["beat"]["healthcheck"]["test"])


def test_python_healthchecks_compile():
    for name, service in SERVICES.items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")


def test_every_variable_is_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.M))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert used and used <= documented, used - documented


def test_credentials_come_only_from_env():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "tds:tds" not in text and "POSTGRES_PASSWORD: tds" not in text
    assert "--webhook-secret" not in text and "SECRET}" not in text.replace("POSTGRES_PASSWORD", "")
    for service in SERVICES.values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if "PASSWORD" in key or "URL" in key:
                assert "@" not in str(value) or "${POSTGRES_PASSWORD" in str(value), (key, value)


def test_redis_is_a_safe_broker_and_workers_are_split():
    command = SERVICES["redis"]["command"]
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    from tds.queues import IMAGES_QUEUE, ODOO_QUEUE, SYNC_QUEUE, queues_of

    def queues(command):
        groups = [command[i + 1] for i, arg in enumerate(command) if arg == "--queues"]
        return set(queues_of(groups))

    workers = {name: queues(s["command"]) for name, s in SERVICES.items()
               if s.get("command", [])[:2] == ["tds", "worker"]}
    assert set(workers) == {"worker-webhooks", "worker-sync"}
    assert workers["worker-sync"] == {SYNC_QUEUE, IMAGES_QUEUE, ODOO_QUEUE}
    assert "tds.items" in workers["worker-webhooks"] and SYNC_QUEUE not in workers["worker-webhooks"]
    assert workers["worker-sync"] | workers["worker-webhooks"] == set(queues_of(["all"]))  # nothing left unconsumed

    def seconds(text: str) -> int:
        return int(text.rstrip("s"))

    assert seconds(SERVICES["worker-sync"]["stop_grace_period"]) >= 120


def test_simulator_profile_runs_from_the_documented_env():
    sim = SERVICES["simulator"]
    assert sim["profiles"] == ["simulator"] and sim["env_file"] == ".env"
    example = (ROOT / ".env.example").read_text()
    assert "ZOHO_API_URL=http://simulator:8001" in example and "ZOHO_ACCOUNTS_URL=http://simulator:8001" in example


def test_dockerfile_is_pinned_locked_checked_and_not_root():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.match(r"python:\d+\.\d+\.\d+", base), base  # a version, not a moving tag
    assert "pip install -r requirements.lock" in text and "--no-deps" in text
    assert "HEALTHCHECK" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


def test_lock_file_pins_every_runtime_dependency():
    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", lock, re.M | re.I))
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for requirement in cfg["options"]["install_requires"].split():
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()
        assert name in {p.lower() for p in pins}, f"{name} not pinned in requirements.lock"


UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units(unit):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(unit.read_text())
    service = parser["Service"]
    assert service["EnvironmentFile"] == "/etc/tds/tds.env"
    assert service.get("User") == "tds"
    assert "After" in parser["Unit"] and "PartOf" in parser["Unit"]
    if service.get("Type") != "oneshot":
        assert service.get("Restart") in ("always", "on-failure")
    argv = shlex.split(service["ExecStart"].replace("%H", "host"))
    if argv[0].endswith("/tds"):
        assert_tds_command(argv[1:])
    else:
        assert argv[0].endswith("/celery") and argv[1:3] == ["-A", "tasks"]


def test_systemd_covers_every_process():
    names = {u.name for u in UNITS}
    assert {"tds-receiver.service", "tds-worker-webhooks.service", "tds-worker-sync.service", "tds-beat.service",
            "tds-flower.service"} <= names
    target = (ROOT / "deploy" / "systemd" / "tds.target").read_text()
    assert all(name in target for name in names)


def test_readme_sends_a_new_user_to_the_zoho_setup_first():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links[0] == "docs/zoho-setup.md"
    for link in set(links):
        assert (ROOT / link).exists(), link
    assert ".venv/bin/activate" in readme and "tds --version" in readme
    for doc in ("zoho-setup.md", "deploy.md", "operations.md"):
        assert (ROOT / "docs" / doc).stat().st_size > 2000
