"""Users of the organization: the first is the admin and the current user."""

from __future__ import annotations

import random

from ..datasets import OrgData
from ..resources import Family, Resource, numbered
from ..vocabulary import FIRST, LAST, ROLES


def make_user(org: OrgData, i: int, ts: int | None = None) -> dict:
    rng = org.rng
    role, label = ROLES[0] if i == 0 else rng.choice(ROLES[1:])
    first, last = rng.choice(FIRST), rng.choice(LAST)
    uid = org.ids.next()
    record = {
        "user_id": uid, "role_id": org.role_ids[label], "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower().replace('-', '')}{i}@{org.email_domain}",
        "user_role": role, "role_name": label, "status": "active" if i == 0 or rng.random() < 0.85 else "inactive",
        "is_current_user": i == 0, "user_type": "zoho", "is_customer_segmented": False,
        "is_vendor_segmented": False, "photo_url": "",
    }
    org.place("users", uid, record, ts)
    return record


seed_users, _create_user = numbered(make_user, "users")


def _user_changes(org: OrgData, record: dict, rng: random.Random) -> dict:
    return {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}"}


FAMILY = Family(
    name="users",
    resources=(
        Resource("users", "users", "user", "user_id", "User", "Users", ("name", "A"), name_field="name",
                 slug="users", list_mtime=False, always=("email",), create=_create_user, random_changes=_user_changes),
    ),
    seed=((30, seed_users),),
)
