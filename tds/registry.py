"""The entity registry: the one place each Zoho entity TDS mirrors is described.

Receiver routes, Celery queues, full and incremental sync, reconciliation, the simulator
and the status page all read this table. Adding an entity means one entry here, one mapper
in :mod:`tds.mappers` and one migration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
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
    # incremental sync: the list parameter that takes "modified at or after" (None: the
    # endpoint has none), and the parameters that sort the list newest first (empty: it
    # cannot be sorted so); see tds.sync
    modified_filter: str | None = "last_modified_time"
    modified_sort: tuple[tuple[str, str], ...] = ()

    @property
    def queue(self) -> str:
        return f"tds.{self.name}"

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *(c.table for c in self.children))

    def map(self, record: dict, ctx) -> "object":
        return load_mapper(self.mapper)(record, ctx)

    def detail_url_path(self, zoho_id: str) -> str:
        if not self.detail_path:
            raise LookupError(f"{self.name} has no detail endpoint")
        return self.detail_path.format(id=zoho_id)


_NEWEST_FIRST = (("sort_column", "last_modified_time"), ("sort_order", "D"))  # Books contacts/sales orders, Inventory items
_CRM_NEWEST_FIRST = (("sort_by", "Modified_Time"), ("sort_order", "desc"))

_LINE_ITEM_REFS = (Reference("product_id", "zoho_item_id", "items"),)


def _lines(table: str, parent_column: str) -> Child:
    return Child(table=table, key="zoho_line_item_id", parent_column=parent_column, references=_LINE_ITEM_REFS)


def _doc_refs(party: str) -> tuple[Reference, ...]:
    """A document's party: ``customer_id`` → customers, ``vendor_id`` → vendors."""
    entity = "customers" if party == "customer" else "vendors"
    return (Reference(f"{party}_id", f"zoho_{party}_id", entity),)


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
        modified_filter=None,
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
        modified_sort=_NEWEST_FIRST,
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
        modified_sort=_NEWEST_FIRST,
    ),
    Entity(
        name="vendors",
        api="books",
        list_path="/contacts",
        list_key="contacts",
        detail_path="/contacts/{id}",
        detail_key="contact",
        id_field="contact_id",
        zoho_id_column="zoho_vendor_id",
        table="vendors",
        mapper="tds.mappers.contacts:map_vendor",
        list_params=(("contact_type", "vendor"), ("filter_by", "Status.All")),
        list_omits=("contact_persons",),
        required_fields=("contact_id", "contact_name", "last_modified_time"),
        webhook_slugs=("vendors",),
        payload_keys=("contact", "vendor"),
        route_field="contact_type",
        route_value="vendor",
        children=(Child("vendor_contact_persons", "zoho_contact_person_id", "vendor_id"),),
        modified_sort=_NEWEST_FIRST,
    ),
    Entity(
        name="invoices",
        api="books",
        list_path="/invoices",
        list_key="invoices",
        detail_path="/invoices/{id}",
        detail_key="invoice",
        id_field="invoice_id",
        zoho_id_column="zoho_invoice_id",
        table="invoices",
        mapper="tds.mappers.documents:map_invoice",
        list_omits=("line_items",),
        required_fields=("invoice_id", "invoice_number", "customer_id", "date", "status", "sub_total",
                         "tax_total", "total", "balance", "last_modified_time"),
        webhook_slugs=("invoices",),
        payload_keys=("invoice",),
        references=_doc_refs("customer"),
        children=(_lines("invoice_line_items", "invoice_id"),),
    ),
    Entity(
        name="payments",
        api="books",
        list_path="/customerpayments",
        list_key="customerpayments",
        detail_path="/customerpayments/{id}",
        detail_key="payment",
        id_field="payment_id",
        zoho_id_column="zoho_payment_id",
        table="payments",
        mapper="tds.mappers.payments:map_payment",
        list_omits=("invoices",),
        required_fields=("payment_id", "payment_number", "customer_id", "date", "amount", "last_modified_time"),
        webhook_slugs=("payments",),
        payload_keys=("payment", "customerpayment", "customer_payment"),
        references=_doc_refs("customer"),
        children=(
            Child("payment_invoices", "zoho_invoice_id", "payment_id",
                  references=(Reference("invoice_id", "zoho_invoice_id", "invoices"),)),
        ),
    ),
    Entity(
        name="credit_notes",
        api="books",
        list_path="/creditnotes",
        list_key="creditnotes",
        detail_path="/creditnotes/{id}",
        detail_key="creditnote",
        id_field="creditnote_id",
        zoho_id_column="zoho_creditnote_id",
        table="credit_notes",
        mapper="tds.mappers.documents:map_credit_note",
        list_omits=("line_items",),
        required_fields=("creditnote_id", "creditnote_number", "customer_id", "date", "status", "sub_total",
                         "tax_total", "total", "balance", "last_modified_time"),
        webhook_slugs=("credit-notes", "creditnotes"),
        payload_keys=("creditnote", "credit_note"),
        references=_doc_refs("customer"),
        children=(
            _lines("credit_note_line_items", "credit_note_id"),
            Child("credit_note_invoices", "zoho_invoice_id", "credit_note_id",
                  references=(Reference("invoice_id", "zoho_invoice_id", "invoices"),)),
            Child("credit_note_refunds", "zoho_refund_id", "credit_note_id"),
        ),
    ),
    Entity(
        name="bills",
        api="books",
        list_path="/bills",
        list_key="bills",
        detail_path="/bills/{id}",
        detail_key="bill",
        id_field="bill_id",
        zoho_id_column="zoho_bill_id",
        table="bills",
        mapper="tds.mappers.documents:map_bill",
        list_omits=("line_items",),
        required_fields=("bill_id", "bill_number", "vendor_id", "date", "status", "sub_total", "tax_total",
                         "total", "balance", "last_modified_time"),
        webhook_slugs=("bills",),
        payload_keys=("bill",),
        references=_doc_refs("vendor"),
        children=(_lines("bill_line_items", "bill_id"),),
    ),
    Entity(
        name="sales_orders",
        api="books",
        list_path="/salesorders",
        list_key="salesorders",
        detail_path="/salesorders/{id}",
        detail_key="salesorder",
        id_field="salesorder_id",
        zoho_id_column="zoho_salesorder_id",
        table="sales_orders",
        mapper="tds.mappers.documents:map_sales_order",
        list_omits=("line_items",),
        required_fields=("salesorder_id", "salesorder_number", "customer_id", "date", "status", "sub_total",
                         "tax_total", "total", "last_modified_time"),
        webhook_slugs=("orders", "salesorders"),
        payload_keys=("salesorder", "sales_order"),
        references=_doc_refs("customer"),
        children=(_lines("sales_order_line_items", "sales_order_id"),),
        modified_sort=_NEWEST_FIRST,
    ),
    Entity(
        name="users",
        api="books",
        list_path="/users",
        list_key="users",
        detail_path="/users/{id}",
        detail_key="user",
        id_field="user_id",
        zoho_id_column="zoho_user_id",
        table="users",
        mapper="tds.mappers.users:map_user",
        required_fields=("user_id", "name", "email"),
        webhook_slugs=("users",),
        payload_keys=("user",),
        modified_filter=None,
    ),
    Entity(
        name="price_lists",
        api="inventory",
        list_path="/pricebooks",
        list_key="pricebooks",
        detail_path="/pricebooks/{id}",
        detail_key="pricebook",
        id_field="pricebook_id",
        zoho_id_column="zoho_pricebook_id",
        table="price_lists",
        mapper="tds.mappers.pricebooks:map_pricebook",
        list_omits=("pricebook_items",),
        required_fields=("pricebook_id", "name", "pricebook_type"),
        webhook_slugs=("prices", "pricebooks"),
        payload_keys=("pricebook", "price_list"),
        modified_filter=None,
        children=(
            Child("price_list_items", "zoho_item_id", "price_list_id", references=_LINE_ITEM_REFS),
        ),
    ),
    Entity(
        name="stock_adjustments",
        api="inventory",
        list_path="/inventoryadjustments",
        list_key="inventory_adjustments",
        detail_path="/inventoryadjustments/{id}",
        detail_key="inventory_adjustment",
        id_field="inventory_adjustment_id",
        zoho_id_column="zoho_adjustment_id",
        table="stock_adjustments",
        mapper="tds.mappers.stock:map_adjustment",
        list_omits=("line_items",),
        required_fields=("inventory_adjustment_id", "date"),
        webhook_slugs=("stock", "inventory-adjustments"),
        payload_keys=("inventory_adjustment", "inventoryadjustment", "stock_adjustment"),
        children=(_lines("stock_adjustment_line_items", "stock_adjustment_id"),),
    ),
    Entity(
        name="crm_accounts",
        api="crm",
        list_path="/Accounts",
        list_key="data",
        detail_path="/Accounts/{id}",
        id_field="id",
        zoho_id_column="zoho_crm_account_id",
        table="crm_accounts",
        mapper="tds.mappers.crm:map_account",
        modified_field="Modified_Time",
        required_fields=("id", "Account_Name", "Modified_Time"),
        pagination="crm_info",
        modified_filter=None,
        modified_sort=_CRM_NEWEST_FIRST,
    ),
    Entity(
        name="crm_contacts",
        api="crm",
        list_path="/Contacts",
        list_key="data",
        detail_path="/Contacts/{id}",
        id_field="id",
        zoho_id_column="zoho_crm_contact_id",
        table="crm_contacts",
        mapper="tds.mappers.crm:map_contact",
        modified_field="Modified_Time",
        required_fields=("id", "Last_Name", "Modified_Time"),
        pagination="crm_info",
        modified_filter=None,
        modified_sort=_CRM_NEWEST_FIRST,
        references=(Reference("account_id", "zoho_crm_account_id", "crm_accounts"),),
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


_mapper_cache: dict[str, Callable] = {}


def load_mapper(path: str) -> Callable:
    fn = _mapper_cache.get(path)
    if fn is None:
        module, _, attr = path.partition(":")
        fn = getattr(importlib.import_module(module), attr)
        _mapper_cache[path] = fn
    return fn
