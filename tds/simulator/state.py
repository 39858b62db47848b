"""The simulator's state: the records and the generic create, update, delete and mutate over them,
with the OAuth tokens, limits, faults, counters and webhook sender beside them.

What a change does to a particular resource (its defaults, derived figures, side effects on
other records, random edits) is declared by its family module (:mod:`tds.simulator.families`);
this module applies those declarations the same way for every resource.
"""

from __future__ import annotations

import random
import time

from .config import RUNTIME_FIELDS, SimulatorConfig
from .counters import Counters
from .errors import NotFound
from .families import lookup
from .faults import Faults
from .formats import deep_copy
from .limits import Limits
from .oauth import Tokens
from .resources import Resource
from .store import Store
from .webhooks import WebhookSender


class Simulator:
    """Everything one running simulator knows. Thread-safe; HTTP handlers and tests share it.

    Data: ``store`` (records in detail form), ``create`` / ``update`` / ``delete`` / ``mutate``.
    Every create and update moves ``last_modified_time`` strictly forward:
    ``new = max(now, previous + 1 s)``, so rapid edits of one record still get distinct,
    increasing second-resolution times. Updates recompute derived figures (line totals,
    document totals, invoice balance and status, item stock sums).
    """

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.store = Store(config)
        self.stats = Counters()
        self.tokens = Tokens(config, self.stats)
        self.limits = Limits(config, self.stats, self.store.tz)
        self.faults = Faults(config, self.stats)
        self.webhooks = WebhookSender(config, self.stats)
        self.webhook_log = self.webhooks.log
        self.deleted: list[dict] = []
        # (organization, item id) → how often its image was replaced under the same document id
        self.image_revisions: dict[tuple[str, str], int] = {}
        # (organization, item id) of images served cut in half, as a damaged upload would be
        self.broken_images: set[tuple[str, str]] = set()
        self._mutate_rng = random.Random(f"tds-simulator-mutate:{config.seed}")
        self.started = time.time()

    # ------------------------------------------------------------------ configuration
    def configure(self, **changes) -> dict:
        """Change limits, faults or webhook settings while running; returns the new settings."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} at run time; allowed: {sorted(RUNTIME_FIELDS)}")
        if "webhook_payload" in changes and changes["webhook_payload"] not in ("detail", "list"):
            raise ValueError("webhook_payload is 'detail' or 'list'")
        if "error_kinds" in changes and changes["error_kinds"] not in ("mixed", "5xx"):
            raise ValueError("error_kinds is 'mixed' or '5xx'")
        coerced = {}
        for key, value in changes.items():
            current = getattr(self.config, key)
            if isinstance(current, bool) and not isinstance(value, bool):
                value = str(value).lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int) and not isinstance(current, bool) and value is not None:
                value = int(value)
            elif isinstance(current, float) and value is not None:
                value = float(value)
            coerced[key] = value
        with self.store.lock:
            for key, value in coerced.items():
                setattr(self.config, key, value)
        return self.config.to_dict()

    # ------------------------------------------------------------------ counters and tokens
    def counters(self) -> dict:
        """Calls per endpoint (``"GET /inventory/v1/items": 12``) plus totals."""
        return self.stats.snapshot()

    def reset_counters(self) -> None:
        self.stats.reset()

    def new_access_token(self) -> str:
        """Mint an access token directly (no refresh quota used); for tests and benchmarks."""
        return self.tokens.mint()

    # ------------------------------------------------------------------ data: public operations
    def create(self, org_id: str | None, resource: str, fields: dict | None = None,
               send_webhook: bool = True) -> dict:
        """Add a record (defaults generated, ``fields`` on top); returns it in detail form."""
        with self.store.lock:
            record, touched = self._create(org_id, lookup(resource), dict(fields or {}))
            out = deep_copy(record)
            pending = [(org_id, r, deep_copy(rec)) for r, rec in touched] if send_webhook else []
        self._send_all(pending)
        return out

    def update(self, org_id: str | None, resource: str, id_: str, changes: dict,
               send_webhook: bool = True) -> dict:
        """Apply ``changes`` to one record, recompute derived figures, bump its time; returns it."""
        with self.store.lock:
            record = self._update(org_id, lookup(resource), str(id_), dict(changes or {}))
            out = deep_copy(record)
        if send_webhook:
            self._send_all([(org_id, resource, out)])
        return out

    def replace_image(self, org_id: str | None, item_id: str, kind: str | None = None,
                      keep_document_id: bool = False, broken: bool = False, send_webhook: bool = True) -> dict:
        """Give an item a new image (a new document id, ``kind`` jpg or png or drawn), or new
        bytes under the same document id (``keep_document_id``, as Zoho may do); ``broken``
        serves the new image cut in half. The item's time moves forward; returns the item."""
        from .families.items import new_image

        org = str(org_id or self.config.organizations[0])
        item_id = str(item_id)
        with self.store.lock:
            item = self.store.get(org, "items", item_id)
            if item is None:
                raise NotFound("Item does not exist.")
            if keep_document_id and item.get("image_document_id"):
                changes = {"has_attachment": True}
                self.image_revisions[(org, item_id)] = self.image_revisions.get((org, item_id), 0) + 1
            else:
                changes = new_image(self.store.container(org, "items"), item, kind)
            if broken:
                self.broken_images.add((org, item_id))
            else:
                self.broken_images.discard((org, item_id))
        return self.update(org, "items", item_id, changes, send_webhook=send_webhook)

    def remove_image(self, org_id: str | None, item_id: str, send_webhook: bool = True) -> dict:
        """Take an item's image away (``image_document_id`` becomes ``""``); returns the item."""
        from .families.items import NO_IMAGE

        org = str(org_id or self.config.organizations[0])
        self.broken_images.discard((org, str(item_id)))
        return self.update(org, "items", str(item_id), dict(NO_IMAGE), send_webhook=send_webhook)

    def delete(self, org_id: str | None, resource: str, id_: str, send_webhook: bool = True) -> dict:
        """Remove a record; returns it. With ``send_webhook`` the resource's webhook is sent
        as Zoho's workflow rule on deletion sends it: the record's last state, to the URL
        with ``&event=deleted``.

        The resource's ``on_delete`` undoes what the record did (an adjustment's stock movement).
        """
        res = lookup(resource)
        with self.store.lock:
            box = self.store.container(org_id, resource)
            record = box.rows.setdefault(resource, {}).pop(str(id_), None)
            if record is None:
                raise NotFound(f"{res.thing} does not exist.")
            if res.on_delete is not None:
                res.on_delete(box, record)
            ctime, mtime = self.store.times(org_id, resource)
            ctime.pop(str(id_), None)
            mtime.pop(str(id_), None)
            self.deleted.append({"organization_id": org_id, "resource": resource, "id": str(id_),
                                 "time": time.time()})
            out = deep_copy(record)
        if send_webhook:
            self.webhooks.send(org_id, resource, out, event="deleted")
        return out

    def mutate(self, org_id: str | None, resource: str, count: int, send_webhooks: bool = True) -> list[str]:
        """Make ``count`` realistic edits to random records (price, stock, phone, quantities…).

        Returns the ids changed, in order (an id may repeat when ``count`` exceeds the records).
        A resource that declares ``random_new`` (inventory adjustments) is not edited but
        recorded: each of the ``count`` is a new record (an adjustment of one or two items,
        applied to their stock), and the new ids are returned.
        """
        res = lookup(resource)
        rng = self._mutate_rng
        ids: list[str] = []
        pending = []
        with self.store.lock:
            box = self.store.container(org_id, resource)
            rows = box.rows.setdefault(resource, {})
            keys = list(rows)
            for _ in range(int(count)):
                if res.random_new is not None:
                    fields = res.random_new(box, rng)
                    if not fields:
                        break
                    record, _ = self._create(org_id, res, fields)
                    id_ = record[res.id_field]
                else:
                    if not keys:
                        break
                    id_ = rng.choice(keys)
                    record = self._update(org_id, res, id_, res.random_changes(box, rows[id_], rng))
                ids.append(id_)
                if send_webhooks:
                    pending.append((org_id, resource, deep_copy(record)))
        self._send_all(pending)
        return ids

    # ------------------------------------------------------------------ data: internals
    def _create(self, org_id, res: Resource, fields: dict) -> tuple[dict, list]:
        box = self.store.container(org_id, res.name)
        for key in ("created_time", "last_modified_time", res.id_field):
            fields.pop(key, None)
        record, others, fields = res.create(box, fields, int(time.time()))
        if fields:
            self._apply(box, res, record, fields)
        return record, [(res.name, record), *others]

    def _update(self, org_id, res: Resource, id_: str, changes: dict) -> dict:
        box = self.store.container(org_id, res.name)
        record = box.rows.get(res.name, {}).get(id_)
        if record is None:
            raise NotFound(f"{res.thing} does not exist.")
        if res.before_update is not None:
            res.before_update(box, record, changes)
        self._apply(box, res, record, changes)
        box.stamp(res.name, id_)
        return record

    @staticmethod
    def _apply(box, res: Resource, record: dict, changes: dict) -> None:
        """Merge ``changes`` into ``record`` and recompute what depends on them."""
        for key in (res.id_field, res.mtime_field, res.ctime_field):
            changes.pop(key, None)
        record.update(changes)
        if res.update is not None:
            res.update(box, record, changes)

    # ------------------------------------------------------------------ webhooks
    def _send_all(self, pending: list) -> None:
        for org_id, resource, record in pending:
            self.webhooks.send(org_id, resource, record)
