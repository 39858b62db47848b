"""Zoho Books users → ``users``."""

from __future__ import annotations

import sqlalchemy as sa

from tds.db import UTCDateTime
from tds.mapping import Fields, MapContext, parse_zoho_time, text, texts, zoho_id
from tds.models import mirrored_table, strings

users = mirrored_table(
    "users",
    "zoho_user_id",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("email", sa.String(255), nullable=False, index=True),
    *strings(role=100, role_name=100),
    sa.Column("zoho_role_id", sa.String(32), index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("user_type", sa.String(32)),
    sa.Column("zoho_created_time", UTCDateTime()),
)


def map_user(entity, record: dict, ctx: MapContext) -> Fields:
    status = text(record.get("status"), 32) or "active"
    return Fields(
        {
            **texts(record, users, "name", "email", "role_name", "user_type", role="user_role"),
            "zoho_role_id": zoho_id(record.get("role_id")),
            "status": status,
            "is_active": status == "active",
            "zoho_created_time": parse_zoho_time(record.get("created_time"), "created_time"),
        }
    )
