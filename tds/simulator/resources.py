"""How a family module declares its Zoho resources: addressing, list rows, and behaviour.

A :class:`Resource` says how one resource is served (list key, detail key, paths, list
columns, ``filter_by`` values, webhook slug) and how it behaves when the simulator changes it
(``create``, ``update``, ``before_update``, ``on_delete``, and the random edits of ``mutate``).
A :class:`Family` groups the resources of one module with the steps that generate its seed
data. :mod:`tds.simulator.families` collects every family into the tables the rest of the
simulator reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True, eq=False)
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
    slug: str | None = None  # webhook path segment
    slug_for: Callable[[dict], str | None] | None = None  # when the slug depends on the record
    mtime_field: str = "last_modified_time"
    list_mtime: bool = True  # whether Zoho's list rows carry ``mtime_field`` (users' and price lists' do not)
    #: top-level fields Zoho documents as always there, beyond ``id_field`` and ``name_field``
    #: (the ``minimal`` shape keeps only these, see :mod:`tds.simulator.shapes`)
    always: tuple[str, ...] = ()
    ctime_field: str = "created_time"
    crm: bool = False
    crm_module: str | None = None  # CRM URL module name (``Accounts``)
    #: Books/Inventory list paths, each with the exact-match filter it forces; ``None`` = ``(name,)``.
    list_paths: tuple[tuple[str, dict], ...] | None = None
    has_detail: bool = True  # served at ``/{name}/{id}``
    inventory_only: bool = False  # under ``/books/v3`` the path is unknown (code 5)
    #: ``filter_by`` beyond ``Status.*``: ``"Kind"`` or ``"Kind.Value"`` → predicate factory(value).
    filters: tuple[tuple[str, Callable[[str], Callable[[dict], bool]]], ...] = ()
    #: ``create(dataset, fields, ts)`` → (record, [(resource, other record touched)], fields left to apply).
    create: Callable | None = None
    #: ``update(dataset, record, changes)``: recompute what depends on ``changes`` (already merged).
    update: Callable | None = None
    #: ``before_update(dataset, record, changes)``: runs before the merge (may rewrite ``changes``).
    before_update: Callable | None = None
    #: ``on_delete(dataset, record)``: undo what the record did to others.
    on_delete: Callable | None = None
    #: ``random_changes(dataset, record, rng)`` → changes for one ``mutate`` edit.
    random_changes: Callable | None = None
    #: ``random_new(dataset, rng)`` → fields of a new record; ``mutate`` then creates instead of editing.
    random_new: Callable | None = None

    def paths(self) -> tuple[tuple[str, dict], ...]:
        return self.list_paths if self.list_paths is not None else ((self.name, {}),)


@dataclass(frozen=True)
class Family:
    """One module's resources and its seed steps.

    ``seed`` is ``(rank, step)`` pairs; every step ``step(dataset)`` of every organization family
    (or, with ``crm=True``, of the CRM account) runs in rank order. The seeded random generator is
    drawn in that order, so a new entity takes a rank after the existing ones and the data of
    every seed stays as it was.
    """

    name: str
    resources: tuple[Resource, ...]
    seed: tuple[tuple[int, Callable], ...] = ()
    crm: bool = False


def numbered(make: Callable, resource: str) -> tuple[Callable, Callable]:
    """The seed step and the ``create`` of records that ``make(dataset, i, ts=None)`` builds from
    their position ``i`` (the first user is the admin, price-list types take turns)."""
    def seed(dataset) -> None:
        for i in range(dataset.count(resource)):
            make(dataset, i)

    def create(dataset, fields: dict, ts: int):
        return make(dataset, len(dataset.rows.get(resource, {})), ts=ts), [], fields

    return seed, create


def lower_or_all(field: str):
    """A ``filter_by`` factory: ``Kind.All`` matches everything, ``Kind.Value`` records whose
    ``field`` is ``value`` in lower case."""
    def factory(value: str):
        wanted = value.lower()
        return lambda r: wanted == "all" or r.get(field) == wanted
    return factory


def list_row(resource: Resource, record: dict) -> dict:
    """The list form of a stored (detail-form) record."""
    omit = resource.list_omit if resource.list_mtime else (*resource.list_omit, resource.mtime_field)
    if resource.list_fields is not None:
        return {k: record[k] for k in resource.list_fields if k in record and k not in omit}
    return {k: v for k, v in record.items() if k not in omit}


def webhook_slug(resource: Resource, record: dict) -> str | None:
    if resource.slug_for is not None:
        return resource.slug_for(record)
    return resource.slug
