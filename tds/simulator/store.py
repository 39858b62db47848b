"""The simulated Zoho accounts' records, generated lazily per organization."""

from __future__ import annotations

import threading

from .config import SimulatorConfig
from .datasets import CrmData, OrgData
from .errors import UnknownOrganization
from .families import CRM_SEED, ORG_SEED, lookup
from .formats import deep_copy, parse_offset


class Store:
    """Records of every organization (and the CRM account), in Zoho's detail form.

    An organization's data is generated on first access, so a simulator with a full-size
    configuration starts instantly. ``lock`` guards every read and write; the simulator's
    HTTP handlers hold it while they build a response.
    """

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.counts = config.resolved_counts()
        self.tz = parse_offset(config.timezone_offset)
        self.lock = threading.RLock()
        self._orgs: dict[str, OrgData] = {}
        self._crm: CrmData | None = None

    # ------------------------------------------------------------------ containers
    def org(self, org_id: str) -> OrgData:
        """The generated organization (generating it now if needed)."""
        org_id = str(org_id)
        with self.lock:
            data = self._orgs.get(org_id)
            if data is None:
                if org_id not in self.config.organizations:
                    raise UnknownOrganization(org_id)
                index = self.config.organizations.index(org_id)
                data = OrgData(org_id, index, self.config.seed, self.counts, self.tz).generate(ORG_SEED)
                self._orgs[org_id] = data
            return data

    def crm(self) -> CrmData:
        with self.lock:
            if self._crm is None:
                self._crm = CrmData(self.config.seed, self.counts, self.tz).generate(CRM_SEED)
            return self._crm

    def container(self, org_id: str | None, name: str) -> OrgData | CrmData:
        if lookup(name).crm:
            return self.crm()
        return self.org(org_id)

    def has_org(self, org_id: str | None) -> bool:
        return org_id is not None and str(org_id) in self.config.organizations

    def generated(self) -> list[str]:
        return list(self._orgs)

    # ------------------------------------------------------------------ reads
    def rows(self, org_id: str | None, resource: str) -> dict[str, dict]:
        """The live id → record mapping (callers hold ``lock`` and must not modify it)."""
        box = self.container(org_id, resource)
        return box.rows.setdefault(resource, {})

    def times(self, org_id: str | None, resource: str) -> tuple[dict[str, int], dict[str, int]]:
        """(created, modified) epoch seconds by id."""
        box = self.container(org_id, resource)
        return box.ctime.setdefault(resource, {}), box.mtime.setdefault(resource, {})

    def records(self, org_id: str | None, resource: str) -> list[dict]:
        """Copies of every record of ``resource`` in detail form (line items, stock per warehouse…)."""
        with self.lock:
            return [deep_copy(r) for r in self.rows(org_id, resource).values()]

    def get(self, org_id: str | None, resource: str, id_: str) -> dict | None:
        """A copy of one record in detail form, or None."""
        with self.lock:
            record = self.rows(org_id, resource).get(str(id_))
            return deep_copy(record) if record is not None else None

    def ids(self, org_id: str | None, resource: str) -> list[str]:
        with self.lock:
            return list(self.rows(org_id, resource))

    def count(self, org_id: str | None, resource: str) -> int:
        with self.lock:
            return len(self.rows(org_id, resource))
