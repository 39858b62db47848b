"""How each simulated Zoho resource is addressed and what its list rows leave out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    name: str  # store name and URL segment: ``items``
    list_key: str
    detail_key: str | None
    id_field: str
    thing: str  # for ``"<Thing> does not exist."``
    report_name: str
    default_sort: tuple[str, str]  # (column, "A"|"D")
    name_field: str | None = None  # what ``sort_column=name`` means
    list_fields: tuple[str, ...] | None = None  # whitelist of list-row keys; None = all minus list_omit
    list_omit: tuple[str, ...] = ()
    slug: str | None = None  # webhook path segment; contacts pick by contact_type
    mtime_field: str = "last_modified_time"
    ctime_field: str = "created_time"
    crm: bool = False


_INVOICE_LIST = (
    "invoice_id", "customer_id", "customer_name", "status", "invoice_number", "reference_number", "date",
    "due_date", "due_days", "currency_id", "currency_code", "total", "balance", "created_time",
    "last_modified_time", "is_emailed", "last_payment_date", "custom_fields", "location_id", "exchange_rate",
    "salesperson_name", "has_attachment",
)
_SALESORDER_LIST = (
    "salesorder_id", "customer_id", "customer_name", "status", "salesorder_number", "reference_number", "date",
    "shipment_date", "currency_id", "currency_code", "total", "sub_total", "bcy_total", "created_time",
    "last_modified_time", "is_emailed", "has_attachment", "custom_fields", "order_status", "invoiced_status",
    "paid_status", "shipped_status", "quantity", "location_id", "salesperson_name", "delivery_method",
)
_BILL_LIST = (
    "bill_id", "vendor_id", "vendor_name", "status", "bill_number", "reference_number", "date", "due_date",
    "currency_id", "currency_code", "exchange_rate", "total", "balance", "created_time", "last_modified_time",
    "has_attachment", "location_id",
)
_CREDITNOTE_LIST = (
    "creditnote_id", "creditnote_number", "status", "reference_number", "date", "total", "balance",
    "customer_id", "customer_name", "currency_id", "currency_code", "created_time", "last_modified_time",
    "is_emailed", "location_id",
)
_PAYMENT_LIST = (
    "payment_id", "payment_number", "invoice_numbers", "date", "payment_mode", "amount", "bcy_amount",
    "unused_amount", "account_id", "account_name", "description", "reference_number", "customer_id",
    "customer_name", "created_time", "last_modified_time", "location_id",
)

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("items", "items", "item", "item_id", "Item", "Items", ("name", "A"), name_field="name",
                 list_omit=("warehouses", "locations", "item_tax_preferences", "pricebook_rate", "unit_id",
                            "custom_fields_detail"), slug="items"),
        Resource("contacts", "contacts", "contact", "contact_id", "Contact", "Contacts", ("contact_name", "A"),
                 name_field="contact_name", list_omit=("contact_persons", "billing_address", "shipping_address",
                                                       "default_templates", "notes"), slug="contacts"),
        Resource("invoices", "invoices", "invoice", "invoice_id", "Invoice", "Invoices", ("created_time", "D"),
                 name_field="invoice_number", list_fields=_INVOICE_LIST, slug="invoices"),
        Resource("customerpayments", "customerpayments", "payment", "payment_id", "Payment", "Customer Payments",
                 ("created_time", "D"), name_field="payment_number", list_fields=_PAYMENT_LIST, slug="payments"),
        Resource("creditnotes", "creditnotes", "creditnote", "creditnote_id", "Credit Note", "Credit Notes",
                 ("created_time", "D"), name_field="creditnote_number", list_fields=_CREDITNOTE_LIST,
                 slug="credit-notes"),
        Resource("bills", "bills", "bill", "bill_id", "Bill", "Bills", ("created_time", "D"),
                 name_field="bill_number", list_fields=_BILL_LIST, slug="bills"),
        Resource("salesorders", "salesorders", "salesorder", "salesorder_id", "Sales Order", "Sales Orders",
                 ("created_time", "D"), name_field="salesorder_number", list_fields=_SALESORDER_LIST,
                 slug="salesorders"),
        Resource("users", "users", "user", "user_id", "User", "Users", ("name", "A"), name_field="name",
                 slug="users"),
        Resource("pricebooks", "pricebooks", "pricebook", "pricebook_id", "Price List", "Price Lists",
                 ("name", "A"), name_field="name", slug="prices"),
        Resource("inventoryadjustments", "inventory_adjustments", "inventory_adjustment", "inventory_adjustment_id",
                 "Inventory Adjustment", "Inventory Adjustments", ("created_time", "D"), name_field="reference_number",
                 list_omit=("line_items",), slug="stock"),
        Resource("warehouses", "warehouses", "warehouse", "warehouse_id", "Warehouse", "Warehouses",
                 ("warehouse_name", "A"), name_field="warehouse_name"),
        Resource("crm_accounts", "data", None, "id", "Account", "Accounts", ("id", "A"), name_field="Account_Name",
                 mtime_field="Modified_Time", ctime_field="Created_Time", crm=True),
        Resource("crm_contacts", "data", None, "id", "Contact", "Contacts", ("id", "A"), name_field="Last_Name",
                 mtime_field="Modified_Time", ctime_field="Created_Time", crm=True),
    )
}

#: CRM module name in the URL → store resource.
CRM_MODULES = {"Accounts": "crm_accounts", "Contacts": "crm_contacts"}

#: Books/Inventory URL segment → store resource (list and ``/{segment}/{id}`` detail).
API_SEGMENTS = {name: name for name, r in RESOURCES.items() if not r.crm and name != "warehouses"}

#: Segments only Zoho Inventory serves; under ``/books/v3`` they are unknown URLs (code 5).
INVENTORY_ONLY = frozenset({"inventoryadjustments"})


def list_row(resource: Resource, record: dict) -> dict:
    """The list form of a stored (detail-form) record."""
    if resource.list_fields is not None:
        return {k: record[k] for k in resource.list_fields if k in record}
    omit = resource.list_omit
    return {k: v for k, v in record.items() if k not in omit}


def webhook_slug(resource: Resource, record: dict) -> str | None:
    if resource.name == "contacts":
        return "vendors" if record.get("contact_type") == "vendor" else "customers"
    return resource.slug
