"""The webhooks and workflow rules Zoho needs, planned from the registry and created on request.

``tds webhooks plan`` prints, per organization, one webhook per Zoho module that announces a
registry entity, with the receiver URL built from ``TDS_PUBLIC_URL`` and the secret
``ZOHO_WEBHOOK_SECRET``, and the workflow rules that call it (one when a record is
created, one when it is edited); and a second webhook per module, whose URL carries
``&event=deleted``, with the rule that calls it when a record is deleted, so deletions
reach the mirror within a minute instead of at the next reconcile (the receiver reads the
event type from the signed query, never from the body; the worker confirms with Zoho). The Zoho module is the entity's ``zoho_module`` in
:data:`tds.registry.ENTITIES`, the Zoho product (Books or Inventory) its ``api``.

``tds webhooks install --yes`` creates them through ``POST /settings/webhooks`` and
``POST /settings/workflows`` — TDS's only write to Zoho, explicit and idempotent: it lists
what exists first and skips a webhook with the same name or the same URL and query, and a
rule with the same name. A deletion rule Zoho refuses (Zoho documents the Deleted trigger for
Books; Inventory's is not confirmed) is reported and skipped: those deletions come by reconcile.

Customers and vendors are one Zoho module (contacts): one webhook serves both, the
receiver routes by ``contact_type``. Entities Zoho has no workflow rules for (users, price
lists, warehouses, CRM: ``zoho_module=None``) come by sync only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from tds import registry
from tds.config import ConfigError, Settings
from tds.zoho.errors import ZohoFatalError

#: workflow rule types, one rule each: created, and edited (each time)
RULE_TYPES = (("add", "created"), ("edit", "edited"))
#: the rule of the deletion webhook (``event=deleted`` in its URL)
DELETE_RULE = ("delete", "deleted")

PRODUCT_NAMES = {"books": "Zoho Books", "inventory": "Zoho Inventory"}


@dataclass(frozen=True)
class PlannedWebhook:
    organization_id: str
    api: str  # books | inventory
    zoho_entity: str  # item, contact, invoice, ...
    entities: tuple[str, ...]  # registry entities it announces
    slug: str
    name: str
    url: str  # without the query string
    secret: str
    event: str | None = None  # "deleted": the webhook of deletions (its URL says so)

    def query(self) -> list[tuple[str, str]]:
        return [("organization_id", self.organization_id), *((("event", self.event),) if self.event else ())]

    @property
    def full_url(self) -> str:
        return f"{self.url}?" + "&".join(f"{k}={v}" for k, v in self.query())

    def rule_names(self) -> list[tuple[str, str]]:
        if self.event == "deleted":
            return [(DELETE_RULE[0], self.name)]
        return [(rule, f"{self.name} ({label})") for rule, label in RULE_TYPES]

    def webhook_body(self) -> dict:
        return {
            "webhook_name": self.name,
            "entity": self.zoho_entity,
            "description": f"TDS receiver for {', '.join(self.entities)}",
            "method": "POST",
            "url": self.url,
            "body_type": "application/json",
            "entity_parameters": [],
            "query_parameters": [{"param_name": k, "param_value": v} for k, v in self.query()],
            # Books' signature header is not confirmed; the receiver also accepts this header
            "headers": [{"param_name": "X-Webhook-Token", "param_value": self.secret}],
            "secret": self.secret,
        }

    def workflow_body(self, rule_type: str, name: str, webhook_id: str) -> dict:
        return {
            "workflow_name": name,
            "entity": self.zoho_entity,
            "rule_type": rule_type,
            "instant_actions": [{"action_type": "webhook", "action_id": webhook_id}],
        }


@dataclass(frozen=True)
class Plan:
    webhooks: tuple[PlannedWebhook, ...]
    sync_only: tuple[str, ...]


def _slug(entity: registry.Entity) -> str:
    return entity.name if entity.name in entity.webhook_slugs else entity.webhook_slugs[0]


def plan(settings: Settings, organizations: list[str] | None = None) -> Plan:
    """What to create, from the registry, ``TDS_PUBLIC_URL`` and ``ZOHO_WEBHOOK_SECRET``."""
    public = settings.public_url
    if not public:
        raise ConfigError("TDS_PUBLIC_URL is not set; set it to the public https:// root Zoho reaches the receiver "
                          "at, e.g. https://tds.example.com")
    if urlsplit(public).scheme != "https":
        raise ConfigError(f"TDS_PUBLIC_URL must be https:// (Zoho calls webhooks over HTTPS), got {public!r}")
    if not settings.zoho_webhook_secret:
        raise ConfigError("ZOHO_WEBHOOK_SECRET is not set; set it to 12-50 letters and digits")
    orgs = organizations or list(settings.zoho_organization_ids)
    if not orgs:
        raise ConfigError("ZOHO_ORGANIZATION_ID is not set")
    planned, sync_only = [], []
    for org in orgs:
        by_module: dict[tuple[str, str], list[registry.Entity]] = {}
        for entity in registry.ENTITIES:
            module = entity.zoho_module
            if module is None or entity.api not in PRODUCT_NAMES or not entity.webhook_slugs:
                if entity.name not in sync_only:
                    sync_only.append(entity.name)
                continue
            by_module.setdefault((entity.api, module), []).append(entity)
        for (api, module), entities in by_module.items():
            slug = _slug(entities[0])
            name = f"TDS {'contacts' if module == 'contact' else entities[0].name.replace('_', ' ')}"
            hook = PlannedWebhook(org, api, module, tuple(e.name for e in entities), slug, name,
                                  f"{public}/api/zoho/webhooks/{slug}", settings.zoho_webhook_secret)
            planned += [hook, replace(hook, name=f"{name} ({DELETE_RULE[1]})", event="deleted")]
    return Plan(tuple(planned), tuple(sync_only))


def _masked(secret: str) -> str:
    return f"{secret[:2]}{'*' * (len(secret) - 4)}{secret[-2:]}" if len(secret) > 6 else "***"


def print_plan(the_plan: Plan, echo: Callable[[str], None], show_secret: bool = False) -> None:
    current = None
    for hook in the_plan.webhooks:
        if hook.organization_id != current:
            current = hook.organization_id
            secret = hook.secret if show_secret else f"{_masked(hook.secret)} (ZOHO_WEBHOOK_SECRET)"
            echo(f"organization {current}: every webhook POSTs the default JSON payload with secret {secret}")
        echo(f"  {PRODUCT_NAMES[hook.api]:<14} module {hook.zoho_entity:<20} webhook {hook.name!r}")
        echo(f"      URL  {hook.full_url}")
        echo(f"      workflow rules {', '.join(repr(n) for _, n in hook.rule_names())} → action: webhook "
             f"{hook.name!r}")
    if any(hook.event == "deleted" for hook in the_plan.webhooks):
        echo("deletions: Zoho documents the Deleted trigger for Books; where Zoho refuses a deletion rule, "
             "those deletions come by the scheduled reconcile")
    if the_plan.sync_only:
        echo(f"sync only (Zoho has no workflow rule for them): {', '.join(the_plan.sync_only)}")


def _existing(client, api: str, org: str, path: str, key: str) -> list[dict]:
    body = client.request_json(api, path, org)
    return [row for row in body.get(key) or [] if isinstance(row, dict)]


def install(the_plan: Plan, client, echo: Callable[[str], None]) -> int:
    """Create what is missing; returns how many webhooks and rules were created."""
    created = 0
    for hook in the_plan.webhooks:
        org, api = hook.organization_id, hook.api
        hooks = _existing(client, api, org, "/settings/webhooks", "webhooks")
        same = next((h for h in hooks if _same_webhook(h, hook)), None)
        if same is not None:
            webhook_id = str(same.get("webhook_id"))
            echo(f"  {org} {api}: webhook {hook.name!r} exists")
        else:
            answer = client.create_setting(api, "/settings/webhooks", org, hook.webhook_body())
            webhook_id = str((answer.get("webhook") or {}).get("webhook_id"))
            created += 1
            echo(f"  {org} {api}: webhook {hook.name!r} created")
        rules = {r.get("workflow_name") for r in _existing(client, api, org, "/settings/workflows", "workflows")}
        for rule_type, name in hook.rule_names():
            if name in rules:
                echo(f"  {org} {api}: workflow rule {name!r} exists")
                continue
            try:
                client.create_setting(api, "/settings/workflows", org, hook.workflow_body(rule_type, name, webhook_id))
            except ZohoFatalError as exc:
                if hook.event != "deleted":
                    raise
                echo(f"  {org} {api}: workflow rule {name!r} refused ({exc}): deletions of "
                     f"{', '.join(hook.entities)} come by reconcile")
                continue
            created += 1
            echo(f"  {org} {api}: workflow rule {name!r} created")
    return created


def _same_webhook(existing: dict, hook: PlannedWebhook) -> bool:
    """The same name, or the same URL with the same query (the deletion webhook shares the
    edit webhook's URL and differs in ``event=deleted``)."""
    if existing.get("webhook_name") == hook.name or existing.get("url") == hook.full_url:
        return True
    params = {(str(p.get("param_name")), str(p.get("param_value"))) for p in existing.get("query_parameters") or []
              if isinstance(p, dict)}
    return existing.get("url") == hook.url and params == set(hook.query())
