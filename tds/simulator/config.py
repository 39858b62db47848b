"""Settings of one simulated Zoho account (see :mod:`tds.simulator` for the full list)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Record counts per organization at ``scale="full"`` (CRM counts are for the one CRM account)
#: of a simulator started on its own, without ``full_counts``. TDS starts it with its
#: registry's (:func:`tds.registry.simulator_counts`): the same numbers, and those of any
#: resource added since; a resource with no count has no records.
FULL_COUNTS: dict[str, int] = {
    "items": 2218,
    "customers": 500,
    "vendors": 100,
    "invoices": 5000,
    "customerpayments": 3000,
    "creditnotes": 300,
    "bills": 1000,
    "salesorders": 2000,
    "inventoryadjustments": 200,
    "users": 20,
    "pricebooks": 3,
    "warehouses": 2,
    "crm_accounts": 300,
    "crm_contacts": 600,
}

#: Floors applied whatever the scale: multi-warehouse and both price-list types always exist.
MIN_COUNTS: dict[str, int] = {
    "items": 5,
    "customers": 3,
    "vendors": 2,
    "users": 2,
    "pricebooks": 3,
    "warehouses": 2,
}

NAMED_SCALES: dict[str, float] = {"full": 1.0, "small": 1 / 20, "tiny": 1 / 100}

#: Settings that ``Simulator.configure`` (and ``POST /_sim/config``) may change at run time.
RUNTIME_FIELDS = frozenset(
    {
        "token_lifetime",
        "token_refresh_limit",
        "rate_limit_per_minute",
        "daily_limit",
        "concurrency_limit",
        "error_rate",
        "error_kinds",
        "slow_rate",
        "slow_seconds",
        "drop_rate",
        "webhook_url",
        "webhook_secret",
        "webhook_payload",
        "webhook_timeout",
        "webhooks_enabled",
    }
)


@dataclass
class SimulatorConfig:
    organizations: tuple[str, ...] = ("60001234567", "60007654321")
    seed: int = 42
    scale: str | float = "full"
    full_counts: dict[str, int] | None = None  # None: FULL_COUNTS
    counts: dict | None = None
    client_id: str = "1000.SIMCLIENT"
    client_secret: str = "simsecret"
    refresh_token: str = "1000.simrefresh"
    grant_code: str = "1000.simgrant"
    token_lifetime: int = 3600
    token_refresh_limit: int = 10
    rate_limit_per_minute: int = 0
    daily_limit: int = 0
    concurrency_limit: int = 0
    error_rate: float = 0.0
    error_kinds: str = "mixed"  # mixed: 5xx and 429; 5xx: only 500/502/503 (an outage, never a rate limit)
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    drop_rate: float = 0.0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_payload: str = "detail"
    webhook_timeout: float = 5.0
    webhooks_enabled: bool = True
    timezone_offset: str = "+0300"
    shapes: str = "canonical"  # canonical | sparse | varied | minimal (see tds.simulator.shapes)

    def __post_init__(self) -> None:
        self.organizations = tuple(str(o) for o in self.organizations)
        if not self.organizations:
            raise ValueError("at least one organization is needed")
        for org in self.organizations:
            if not org.isdigit():
                raise ValueError(f"organization ids are numeric strings, not {org!r}")
        if self.shapes not in ("canonical", "sparse", "varied", "minimal"):
            raise ValueError("shapes is 'canonical', 'sparse', 'varied' or 'minimal'")
        if self.error_kinds not in ("mixed", "5xx"):
            raise ValueError("error_kinds is 'mixed' or '5xx'")
        if self.webhook_payload not in ("detail", "list"):
            raise ValueError("webhook_payload is 'detail' or 'list'")
        self.scale_factor()  # validates

    def scale_factor(self) -> float:
        if isinstance(self.scale, str):
            try:
                return NAMED_SCALES[self.scale]
            except KeyError:
                try:
                    return float(self.scale)
                except ValueError:
                    raise ValueError(f"scale is one of {sorted(NAMED_SCALES)} or a number, not {self.scale!r}")
        value = float(self.scale)
        if value <= 0:
            raise ValueError("scale must be positive")
        return value

    def resolved_counts(self) -> dict[str, int]:
        """Record counts per organization: ``full_counts`` after ``scale``, then the explicit
        ``counts`` override."""
        factor = self.scale_factor()
        full = FULL_COUNTS if self.full_counts is None else self.full_counts
        out = {}
        for name, value in full.items():
            out[name] = max(MIN_COUNTS.get(name, 0), round(value * factor))
        for name, value in (self.counts or {}).items():
            if name not in full:
                raise ValueError(f"unknown count {name!r}; known: {sorted(full)}")
            out[name] = int(value)
        return out

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.full_counts is None:
            del data["full_counts"]
        data["organizations"] = list(self.organizations)
        if data.get("client_secret"):
            data["client_secret"] = "***"
        for secret in ("webhook_secret", "refresh_token", "grant_code"):
            if data.get(secret):
                data[secret] = "***"
        return data
