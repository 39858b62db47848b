"""What a destination is: where mapped Zoho records of some entities go.

The SQL ERP database (:class:`tds.sinks.sql.SqlDestination`, every entity) is the default
destination; Odoo (:class:`tds.sinks.odoo.OdooDestination`, items) is an optional second
one. Both take the same records, :class:`tds.mapping.Mapped`: an entity from the registry
(the one description of it), the organization, the Zoho id and the values under the ERP's
column names (``name``, ``unit_price`` …), so a record straight from a mapper and a row
read back from the ERP tables look alike.

``write`` works inside the caller's database transaction: the SQL destination writes its
rows there, the Odoo destination its tracking (what it sent, checksums, conflicts).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from sqlalchemy.engine import Connection

from tds.mapping import Mapped
from tds.registry import Entity


class Written(Protocol):
    written: int  # records the destination created or changed


@runtime_checkable
class Destination(Protocol):
    name: str

    def accepts(self, entity: Entity) -> bool:
        """Whether records of ``entity`` go to this destination."""

    def write(self, conn: Connection, records: Sequence[Mapped]) -> Written:
        """Apply ``records`` (entities it accepts), recording what it did through ``conn``."""
