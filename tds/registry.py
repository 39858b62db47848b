"""The entity registry: the one place each Zoho entity TDS mirrors is described.

Receiver routes, Celery queues, full and incremental sync, reconciliation, the simulator
and the status page all read this table. Adding an entity means one entry here, one mapper
in :mod:`tds.mappers` and one migration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Reference:
    """A link from a mirrored row to another entity's row, kept by Zoho id.

    ``column`` is our integer foreign key (NULL while the target has not landed),
    ``zoho_column`` the Zoho id we always keep, ``entity`` the registry name of the target.
    """

    column: str
    zoho_column: str
    entity: str


@dataclass(frozen=True)
class Child:
    """Rows replaced together with their parent (line items and the like)."""

    table: str
    key: str  # Zoho id of the child within its parent, e.g. ``zoho_line_item_id``
    parent_column: str  # our foreign key to the parent row
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Entity:
    name: str  # registry key, used in queue names and the CLI: ``items``
    api: str  # ``books`` | ``inventory`` | ``crm``
    list_path: str  # ``/items``
    list_key: str  # ``items``
    id_field: str  # ``item_id``
    table: str  # main target table
    mapper: str  # ``module:function`` in tds.mappers
    detail_path: str | None = None  # ``/items/{id}``
    detail_key: str | None = None  # ``item``
    modified_field: str | None = "last_modified_time"  # None: Zoho gives no such time
    list_params: tuple[tuple[str, str], ...] = ()  # always sent on list calls
    list_omits: tuple[str, ...] = ()  # detail-only fields: a body lacking them is fetched
    required_fields: tuple[str, ...] = ()  # a record lacking one is fetched, then dead-lettered
    bulk_detail: tuple[str, str, int] | None = None  # (path, ids parameter, ids per call)
    webhook_slugs: tuple[str, ...] = ()  # /api/zoho/webhooks/<slug>
    payload_keys: tuple[str, ...] = ()  # keys of Zoho's default webhook body: {"item": {...}}
    zoho_id_column: str = ""  # our column holding the Zoho id: ``zoho_item_id``
    references: tuple[Reference, ...] = ()
    children: tuple[Child, ...] = ()
    route_field: str | None = None  # a field whose value picks the entity (contact_type)
    route_value: str | None = None
    pagination: str = "page_context"  # or ``crm_info``
    incremental_filter: bool = True  # the list endpoint takes last_modified_time
    extra_tables: tuple[str, ...] = ()

    @property
    def queue(self) -> str:
        return f"tds.{self.name}"

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *(c.table for c in self.children), *self.extra_tables)

    def map(self, record: dict, ctx) -> "object":
        return load_mapper(self.mapper)(record, ctx)

    def detail_url_path(self, zoho_id: str) -> str:
        if not self.detail_path:
            raise LookupError(f"{self.name} has no detail endpoint")
        return self.detail_path.format(id=zoho_id)


_LINE_ITEM_REFS = (Reference("product_id", "zoho_item_id", "items"),)


def _lines(table: str, parent_column: str) -> Child:
    return Child(table=table, key="zoho_line_item_id", parent_column=parent_column, references=_LINE_ITEM_REFS)


ENTITIES: tuple[Entity, ...] = (
    Entity(
        name="warehouses",
        api="inventory",
        list_path="/settings/warehouses",
        list_key="warehouses",
        id_field="warehouse_id",
        zoho_id_column="zoho_warehouse_id",
        table="warehouses",
        mapper="tds.mappers.items:map_warehouse",
        modified_field=None,
        required_fields=("warehouse_id", "warehouse_name"),
        incremental_filter=False,
    ),
    Entity(
        name="items",
        api="inventory",
        list_path="/items",
        list_key="items",
        detail_path="/items/{id}",
        detail_key="item",
        id_field="item_id",
        zoho_id_column="zoho_item_id",
        table="products",
        mapper="tds.mappers.items:map_item",
        list_params=(("filter_by", "Status.All"),),
        list_omits=("warehouses", "locations"),
        required_fields=("item_id", "name", "last_modified_time"),
        bulk_detail=("/itemdetails", "item_ids", 100),
        webhook_slugs=("products", "items"),
        payload_keys=("item",),
        children=(
            Child(
                "stock_levels",
                "zoho_warehouse_id",
                "product_id",
                references=(Reference("warehouse_id", "zoho_warehouse_id", "warehouses"),),
            ),
        ),
    ),
    Entity(
        name="customers",
        api="books",
        list_path="/contacts",
        list_key="contacts",
        detail_path="/contacts/{id}",
        detail_key="contact",
        id_field="contact_id",
        zoho_id_column="zoho_contact_id",
        table="customers",
        mapper="tds.mappers.contacts:map_customer",
        list_params=(("contact_type", "customer"), ("filter_by", "Status.All")),
        list_omits=("contact_persons",),
        required_fields=("contact_id", "contact_name", "last_modified_time"),
        webhook_slugs=("customers",),
        payload_keys=("contact", "customer"),
        route_field="contact_type",
        route_value="customer",
        children=(Child("customer_contact_persons", "zoho_contact_person_id", "customer_id"),),
    ),
)


def _index() -> tuple[dict[str, Entity], dict[str, Entity]]:
    by_name = {e.name: e for e in ENTITIES}
    by_slug: dict[str, Entity] = {}
    for e in ENTITIES:
        for slug in e.webhook_slugs:
            by_slug[slug] = e
    return by_name, by_slug


BY_NAME, BY_SLUG = _index()


class UnknownEntity(LookupError):
    pass


def get(name: str) -> Entity:
    """An entity by registry name, webhook slug or table name."""
    if name in BY_NAME:
        return BY_NAME[name]
    if name in BY_SLUG:
        return BY_SLUG[name]
    for e in ENTITIES:
        if e.table == name:
            return e
    raise UnknownEntity(f"unknown entity {name!r}; known: {', '.join(BY_NAME)}")


def for_slug(slug: str) -> Entity:
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise UnknownEntity(f"no webhook endpoint {slug!r}; known: {', '.join(sorted(BY_SLUG))}") from None


def route(entity: Entity, record: dict) -> Entity:
    """The entity a record really belongs to (a contact posted to /customers may be a vendor)."""
    if not entity.route_field:
        return entity
    value = record.get(entity.route_field)
    if not value or value == entity.route_value:
        return entity
    for other in ENTITIES:
        if other.list_path == entity.list_path and other.api == entity.api and other.route_value == value:
            return other
    return entity


def queues() -> list[str]:
    return [e.queue for e in ENTITIES]


_mapper_cache: dict[str, Callable] = {}


def load_mapper(path: str) -> Callable:
    fn = _mapper_cache.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        _mapper_cache[path] = fn
    return fn
