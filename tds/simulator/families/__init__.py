"""The table of simulated Zoho resources, collected from the family modules in this package.

Every module here that defines ``FAMILY`` (a :class:`tds.simulator.resources.Family`) is a
family: ``items`` (items, warehouses, inventory adjustments, item images), ``contacts``,
``documents`` (invoices, sales orders, bills), ``payments`` (customer payments, credit notes),
``pricebooks``, ``users`` and ``crm`` (CRM Accounts and Contacts). A family module holds its
resources' declarations, their seed data, update rules and random edits; adding an entity
means adding it to one family module (or adding a module), and the API, the control API, the
webhooks and the generated data all pick it up from the tables below.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import UnknownResource
from ..resources import Family, Resource


def _families() -> tuple[Family, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        family = getattr(module, "FAMILY", None)
        if isinstance(family, Family):
            found.append(family)
    return tuple(found)


FAMILIES: tuple[Family, ...] = _families()

#: Store name → resource, for every family.
RESOURCES: dict[str, Resource] = {r.name: r for family in FAMILIES for r in family.resources}

#: The seed steps of an organization and of the CRM account, in the order they draw from the RNG.
def _seed_steps(crm: bool) -> tuple:
    steps = [(rank, step) for family in FAMILIES if family.crm == crm for rank, step in family.seed]
    return tuple(step for _, step in sorted(steps, key=lambda pair: pair[0]))


ORG_SEED = _seed_steps(crm=False)
CRM_SEED = _seed_steps(crm=True)

#: CRM module name in the URL → store resource.
CRM_MODULES = {r.crm_module: r.name for r in RESOURCES.values() if r.crm_module}

#: Books/Inventory list path → (resource, the exact-match filter the path implies).
LIST_PATHS = {path: (r, forced) for r in RESOURCES.values() if not r.crm for path, forced in r.paths()}

#: Books/Inventory resources served at ``/{name}/{id}``.
DETAIL_PATHS = {r.name: r for r in RESOURCES.values() if not r.crm and r.has_detail}

#: Segments only Zoho Inventory serves; under ``/books/v3`` they are unknown URLs (code 5).
INVENTORY_ONLY = frozenset(r.name for r in RESOURCES.values() if r.inventory_only)


def lookup(name: str) -> Resource:
    """The resource called ``name``; :class:`UnknownResource` when there is none."""
    try:
        return RESOURCES[name]
    except KeyError:
        raise UnknownResource(name) from None
