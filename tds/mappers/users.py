"""Zoho Books users → ``users``."""

from __future__ import annotations

from tds import registry
from tds.mapping import MapContext, Mapped, base, parse_zoho_time, require, text, zoho_id


def map_user(record: dict, ctx: MapContext) -> Mapped:
    entity = registry.get("users")
    require(record, *entity.required_fields)
    status = text(record.get("status"), 32) or "active"
    return base(
        entity,
        record,
        ctx,
        {
            "name": text(record.get("name"), 255),
            "email": text(record.get("email"), 255),
            "role": text(record.get("user_role"), 100),
            "role_name": text(record.get("role_name"), 100),
            "zoho_role_id": zoho_id(record.get("role_id")),
            "status": status,
            "is_active": status == "active",
            "user_type": text(record.get("user_type"), 32),
            "zoho_created_time": parse_zoho_time(record.get("created_time")),
        },
    )
