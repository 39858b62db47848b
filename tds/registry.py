"""The entity registry: the one place each Zoho entity TDS mirrors is described.

Receiver routes, Celery queues, event processing, sync, webhook setup and the demo all read
this table (the simulator, which plays Zoho, keeps Zoho's own description in
:mod:`tds.simulator`). An entry says how Zoho serves the entity (API, paths, keys, webhooks,
the Zoho module its webhooks are set up for), how many records the simulator generates for it,
and names its mapper and its main table; what the tables themselves say is read from them,
never written here again: the Zoho id column, the child tables (and their keys), and the
references to other entities' rows (each foreign key names the Zoho id column it follows, see
:mod:`tds.models`).

Adding an entity means one entry here, one mapper module in :mod:`tds.mappers` (its
tables and its mapper), one migration, and the simulator's module for it
(``docs/entities.md``, "Adding an entity").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import sqlalchemy as sa

from tds.mappers import contacts, crm, documents, items, pricebooks, stock, users
from tds.mapping import Fields, MapContext, parse_zoho_time, record_id, require, sane_time
from tds.models import metadata


@dataclass
class Mapped:
    """One record ready for the sinks: the mapper's fields with what every entity shares."""

    entity: Entity
    organization_id: str
    zoho_id: str
    modified: dt.datetime | None
    values: dict[str, Any]
    raw: dict
    children: dict[str, list[dict]] = field(default_factory=dict)
    related: list["Mapped"] = field(default_factory=list)  # the mapper's related, mapped
    refresh: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0  # child rows left out for lack of their own id (said in values["tds_note"])


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


def _references(tbl: sa.Table) -> tuple[Reference, ...]:
    """The foreign keys of ``tbl`` that follow a Zoho id (declared with :func:`tds.models.fk`)."""
    return tuple(
        Reference(col.name, col.info["zoho_column"], _BY_TABLE[fk.column.table.name].name)
        for col in tbl.columns
        if "zoho_column" in col.info
        for fk in col.foreign_keys
    )


@dataclass(frozen=True)
class Entity:
    name: str  # registry key, used in queue names and the CLI: ``items``
    api: str  # ``books`` | ``inventory`` | ``crm``
    list_path: str  # ``/items``
    list_key: str  # ``items``
    id_field: str  # ``item_id``
    table: str  # main target table
    mapper: Callable[[Entity, dict, MapContext], Fields]  # a function of tds.mappers
    # the ``entity`` of Zoho's webhook and workflow settings (``item``, ``contact``) that
    # ``tds webhooks install`` sets up; None: Zoho has no workflow rule for it, it comes by sync only
    zoho_module: str | None
    # the simulator's full-size data set: (the simulator's name for these records, how many per
    # organization, or in the one CRM account); every simulator TDS starts takes them, see
    # :func:`simulator_counts`
    simulated: tuple[str, int]
    detail_path: str | None = None  # ``/items/{id}``
    detail_key: str | None = None  # ``item``
    modified_field: str | None = "last_modified_time"  # None: Zoho gives no such time
    list_params: tuple[tuple[str, str], ...] = ()  # always sent on list calls
    list_omits: tuple[str, ...] = ()  # detail-only fields: a body lacking them is fetched
    # (field, values): only records whose field has one of these values have the
    # ``list_omits`` fields at all (an item tracks stock per warehouse only when its
    # item_type is inventory); others are complete without them and cost no fetch
    detail_only_when: tuple[str, tuple[str, ...]] | None = None
    # what identifies the record or gives it its meaning: a webhook body lacking one is
    # fetched by id, a record still lacking one is dead-lettered; everything else is optional
    required_fields: tuple[str, ...] = ()
    bulk_detail: tuple[str, str, int] | None = None  # (path, ids parameter, ids per call)
    webhook_slugs: tuple[str, ...] = ()  # /api/zoho/webhooks/<slug>
    payload_keys: tuple[str, ...] = ()  # keys of Zoho's default webhook body: {"item": {...}}
    route_field: str | None = None  # a field whose value picks the entity (contact_type)
    route_value: str | None = None
    pagination: str = "page_context"  # or ``crm_info``
    # incremental sync (tds.sync.synchronizer): the list parameter that takes "modified at or after"
    # (None: the endpoint has none), and the list parameters that sort it newest first
    # (empty: it cannot be sorted so)
    modified_filter: str | None = "last_modified_time"
    modified_sort: tuple[tuple[str, str], ...] = ()

    @property
    def queue(self) -> str:
        return f"tds.{self.name}"

    @cached_property
    def zoho_id_column(self) -> str:
        """Our column holding the Zoho id: ``zoho_item_id``."""
        return metadata.tables[self.table].info["zoho_id_column"]

    @cached_property
    def references(self) -> tuple[Reference, ...]:
        return _references(metadata.tables[self.table])

    @cached_property
    def children(self) -> tuple[Child, ...]:
        """The child tables whose parent is this entity's table, in the order they are declared."""
        return tuple(
            Child(tbl.name, tbl.info["key"], tbl.info["parent_column"], _references(tbl))
            for tbl in metadata.tables.values()
            if tbl.info.get("parent_table") == self.table
        )

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *(c.table for c in self.children))

    def carries_detail(self, record: dict) -> bool:
        """Whether this record has detail-only fields (:attr:`detail_only_when`)."""
        if self.detail_only_when is None:
            return True
        name, values = self.detail_only_when
        return record.get(name) in (None, "", *values)

    def map(self, record: dict, ctx: MapContext) -> Mapped:
        """The record as this entity's row: required fields checked, then the mapper's fields."""
        require(record, *dict.fromkeys((self.id_field, *self.required_fields)))
        fields = self.mapper(self, record, ctx)
        fields.values["tds_note"] = "; ".join(fields.notes)[:2000] or None
        return Mapped(
            entity=self,
            organization_id=ctx.organization_id,
            zoho_id=record_id(record[self.id_field], self.id_field),
            modified=sane_time(parse_zoho_time(record.get(self.modified_field), self.modified_field),
                               self.modified_field) if self.modified_field else None,
            values=fields.values,
            raw=record,
            children=fields.children,
            related=[get(name).map(found, ctx) for name, found in fields.related],
            refresh=fields.refresh,
            skipped=fields.skipped,
        )

    def detail_url_path(self, zoho_id: str) -> str:
        if not self.detail_path:
            raise LookupError(f"{self.name} has no detail endpoint")
        return self.detail_path.format(id=zoho_id)


NEWEST_FIRST = (("sort_column", "last_modified_time"), ("sort_order", "D"))  # Books contacts/sales orders, Inventory items


def _paths(path: str, key: str) -> dict[str, str]:
    """Books' and Inventory's usual endpoints: ``GET /{path}`` listing under ``path``, and
    ``GET /{path}/{id}`` answering under ``key``."""
    return {"list_path": f"/{path}", "list_key": path, "detail_path": f"/{path}/{{id}}", "detail_key": key}


def _document(name: str, path: str, key: str, mapper: Callable, *, party: str = "customer",
              webhook_slugs: tuple[str, ...], payload_keys: tuple[str, ...], zoho_module: str | None,
              simulated: int, **more) -> Entity:
    """Invoices, credit notes, bills and sales orders: one shape of Books list and record
    (``{key}_id``, ``{key}_number``, the party, Zoho's figures, lines only in the detail).
    Required: what identifies a document or gives it its meaning (id, number, party, date,
    total); every other figure may be missing (see ``docs/entities.md``). The simulator names
    them as Zoho's path does (``salesorders``)."""
    return Entity(
        name=name,
        api="books",
        **_paths(path, key),
        id_field=f"{key}_id",
        table=name,
        mapper=mapper,
        list_omits=("line_items",),
        required_fields=(f"{key}_id", f"{key}_number", f"{party}_id", "date", "total"),
        webhook_slugs=webhook_slugs,
        payload_keys=payload_keys,
        zoho_module=zoho_module,
        simulated=(path, simulated),
        **more,
    )


def _crm(module: str, mapper: Callable, name_field: str, simulated: int) -> Entity:
    """A Zoho CRM v2 module: ``/{module}`` answering under ``data``, ``id`` and ``Modified_Time``,
    paged by ``info.more_records``; no webhooks."""
    name = f"crm_{module.lower()}"
    return Entity(
        name=name,
        api="crm",
        list_path=f"/{module}",
        list_key="data",
        detail_path=f"/{module}/{{id}}",
        id_field="id",
        table=f"crm_{module.lower()}",
        mapper=mapper,
        modified_field="Modified_Time",
        required_fields=("id", name_field),
        pagination="crm_info",
        zoho_module=None,
        simulated=(name, simulated),
        modified_filter=None,  # CRM takes If-Modified-Since, a header; sorting serves as well
        modified_sort=(("sort_by", "Modified_Time"), ("sort_order", "desc")),
    )


def _contacts(kind: str, mapper: Callable, simulated: int) -> Entity:
    """Customers and vendors: one Zoho list (``/contacts``) with two targets, told apart by
    ``contact_type`` (see :func:`route` and :func:`siblings`)."""
    return Entity(
        name=f"{kind}s",
        api="books",
        **_paths("contacts", "contact"),
        id_field="contact_id",
        table=f"{kind}s",
        mapper=mapper,
        list_params=(("contact_type", kind), ("filter_by", "Status.All")),
        list_omits=("contact_persons",),
        required_fields=("contact_id", "contact_name"),
        webhook_slugs=(f"{kind}s",),
        payload_keys=("contact", kind),
        route_field="contact_type",
        route_value=kind,
        modified_sort=NEWEST_FIRST,
        zoho_module="contact",  # one webhook for both, routed by contact_type
        simulated=(f"{kind}s", simulated),
    )


ENTITIES: tuple[Entity, ...] = (
    Entity(
        name="warehouses",
        api="inventory",
        list_path="/settings/warehouses",
        list_key="warehouses",
        id_field="warehouse_id",
        table="warehouses",
        mapper=items.map_warehouse,
        modified_field=None,
        modified_filter=None,
        required_fields=("warehouse_id", "warehouse_name"),
        zoho_module=None,
        simulated=("warehouses", 2),
    ),
    Entity(
        name="items",
        api="inventory",
        **_paths("items", "item"),
        id_field="item_id",
        table="products",
        mapper=items.map_item,
        list_params=(("filter_by", "Status.All"),),
        list_omits=("warehouses", "locations"),
        detail_only_when=("item_type", ("inventory",)),
        required_fields=("item_id", "name"),
        bulk_detail=("/itemdetails", "item_ids", 100),
        webhook_slugs=("products", "items"),
        payload_keys=("item",),
        modified_sort=NEWEST_FIRST,
        zoho_module="item",
        simulated=("items", 2218),
    ),
    _contacts("customer", contacts.map_customer, simulated=500),
    _contacts("vendor", contacts.map_vendor, simulated=100),
    _document("invoices", "invoices", "invoice", documents.map_invoice,
              webhook_slugs=("invoices",), payload_keys=("invoice",), zoho_module="invoice", simulated=5000),
    Entity(
        name="payments",
        api="books",
        **_paths("customerpayments", "payment"),
        id_field="payment_id",
        table="payments",
        mapper=documents.map_payment,
        list_omits=("invoices",),
        required_fields=("payment_id", "payment_number", "customer_id", "date", "amount"),
        webhook_slugs=("payments",),
        payload_keys=("payment", "customerpayment", "customer_payment"),
        zoho_module="customer_payment",
        simulated=("customerpayments", 3000),
    ),
    _document("credit_notes", "creditnotes", "creditnote", documents.map_credit_note,
              webhook_slugs=("credit-notes", "creditnotes"), payload_keys=("creditnote", "credit_note"),
              zoho_module="creditnote", simulated=300),
    _document("bills", "bills", "bill", documents.map_bill, party="vendor",
              webhook_slugs=("bills",), payload_keys=("bill",), zoho_module="bill", simulated=1000),
    _document("sales_orders", "salesorders", "salesorder", documents.map_sales_order,
              webhook_slugs=("orders", "salesorders"), payload_keys=("salesorder", "sales_order"),
              zoho_module="salesorder", simulated=2000, modified_sort=NEWEST_FIRST),
    Entity(
        name="users",
        api="books",
        **_paths("users", "user"),
        id_field="user_id",
        table="users",
        mapper=users.map_user,
        required_fields=("user_id", "name", "email"),
        webhook_slugs=("users",),
        payload_keys=("user",),
        modified_filter=None,
        zoho_module=None,  # Zoho has no workflow rule for users
        simulated=("users", 20),
    ),
    Entity(
        name="price_lists",
        api="inventory",
        **_paths("pricebooks", "pricebook"),
        id_field="pricebook_id",
        table="price_lists",
        mapper=pricebooks.map_pricebook,
        list_omits=("pricebook_items",),
        required_fields=("pricebook_id", "name", "pricebook_type"),
        webhook_slugs=("prices", "pricebooks"),
        payload_keys=("pricebook", "price_list"),
        modified_filter=None,
        zoho_module=None,  # Zoho has no workflow rule for price lists
        simulated=("pricebooks", 3),
    ),
    Entity(
        name="stock_adjustments",
        api="inventory",
        list_path="/inventoryadjustments",
        list_key="inventory_adjustments",
        detail_path="/inventoryadjustments/{id}",
        detail_key="inventory_adjustment",
        id_field="inventory_adjustment_id",
        table="stock_adjustments",
        mapper=stock.map_adjustment,
        list_omits=("line_items",),
        required_fields=("inventory_adjustment_id", "date"),
        webhook_slugs=("stock", "inventory-adjustments"),
        payload_keys=("inventory_adjustment", "inventoryadjustment", "stock_adjustment"),
        zoho_module="inventory_adjustment",
        simulated=("inventoryadjustments", 200),
    ),
    _crm("Accounts", crm.map_account, "Account_Name", simulated=300),
    _crm("Contacts", crm.map_contact, "Last_Name", simulated=600),
)


def _index() -> tuple[dict[str, Entity], dict[str, Entity], dict[str, Entity]]:
    by_name = {e.name: e for e in ENTITIES}
    by_slug = {slug: e for e in ENTITIES for slug in e.webhook_slugs}
    by_table = {e.table: e for e in ENTITIES}
    return by_name, by_slug, by_table


BY_NAME, BY_SLUG, _BY_TABLE = _index()


class UnknownEntity(LookupError):
    pass


def get(name: str) -> Entity:
    """An entity by registry name, webhook slug or table name."""
    for index in (BY_NAME, BY_SLUG, _BY_TABLE):
        if name in index:
            return index[name]
    raise UnknownEntity(f"unknown entity {name!r}; known: {', '.join(BY_NAME)}")


def for_slug(slug: str) -> Entity:
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise UnknownEntity(f"no webhook endpoint {slug!r}; known: {', '.join(sorted(BY_SLUG))}") from None


def enabled(settings) -> tuple[Entity, ...]:
    """The entities these settings run (``TDS_ENTITIES``, ``TDS_CRM``), in registry order.

    Every caller that runs work for "all entities" (the sync command, the scheduled
    ``sync_all``, the demo, the receiver's webhook routes) asks here.
    """
    from tds.config import ConfigError

    if settings.entities:
        try:
            chosen = {get(name) for name in settings.entities}
        except UnknownEntity as exc:
            raise ConfigError(f"TDS_ENTITIES: {exc}") from None
    else:
        chosen = set(ENTITIES)
    if not settings.crm_enabled:
        named = sorted(e.name for e in chosen if e.api == "crm")
        if named and settings.entities and settings.crm == "auto":
            raise ConfigError(f"TDS_ENTITIES names {', '.join(named)} but CRM is off: set TDS_CRM=on "
                              "(or ZOHO_SCOPES with the refresh token's ZohoCRM scope)")
        chosen = {e for e in chosen if e.api != "crm"}
    return tuple(e for e in ENTITIES if e in chosen)


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


def siblings(entity: Entity) -> tuple[Entity, ...]:
    """Entities sharing one Zoho list, told apart by ``route_field`` (customers and vendors).

    A record written as one of them is no longer any of the others: a contact that turns
    from customer into vendor leaves a soft-deleted customers row behind, and back.
    """
    if not entity.route_field:
        return ()
    return tuple(
        other
        for other in ENTITIES
        if other is not entity
        and other.route_field == entity.route_field
        and other.list_path == entity.list_path
        and other.api == entity.api
    )


def queues() -> list[str]:
    return [e.queue for e in ENTITIES]


def simulator_counts() -> dict[str, int]:
    """The simulator's full-size data set, by the simulator's names: what TDS starts every
    simulator with (``SimulatorConfig(full_counts=...)``), so that the simulator generates
    every entity here, in the numbers here."""
    return dict(e.simulated for e in ENTITIES)
