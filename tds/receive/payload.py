"""What a Zoho webhook body holds, and how it becomes an inbox event.

Zoho's default payload is ``{"item": {...}}`` with no event type and no id of its own; a
user may also configure a bare record, or a form body whose ``JSONString`` field holds
either. This module finds the record, its id and its organization, builds the dedup key
and hands the event to :func:`tds.inbox.events.store`.

The dedup key is the entity, organization, Zoho id, Zoho's ``last_modified_time`` and a
hash of the body: Zoho resending the same webhook is stored once, while every new version
of a record, even two within one second, is a new event.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Mapping
from urllib.parse import parse_qsl

import simplejson
from sqlalchemy.engine import Connection

from tds import registry
from tds.inbox import events as inbox
from tds.mapping import MappingError, blank, parse_zoho_time, sane_time
from tds.mapping import record_id as checked_id
from tds.registry import Entity

CONTENT_TYPE_MAX = 100  # the width of tds_inbox_events.content_type
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Zoho-Event", "X-Zoho-Skip-Webhook-Trigger", "X-Request-Id")


class PayloadError(ValueError):
    """The webhook body is not a Zoho record TDS can use (answered 400, nothing stored)."""


def extract_record(entity: Entity, body: bytes | str, content_type: str | None) -> dict:
    """The Zoho record inside a webhook body.

    Accepts Zoho's default payload ``{"item": {...}}``, a bare record object, and a form
    body whose ``JSONString`` field holds either of those.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("body is not UTF-8 text") from None
    content_type = (content_type or "").lower()
    if "x-www-form-urlencoded" in content_type:
        form = dict(parse_qsl(body, keep_blank_values=True))
        if "JSONString" in form:
            return _unwrap(entity, _parse_json(form["JSONString"]))
        return _unwrap(entity, form)
    return _unwrap(entity, _parse_json(body))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(text: str):
    if not text.strip():
        raise PayloadError("empty body")
    try:
        return simplejson.loads(text, use_decimal=True, parse_constant=_refuse_constant)
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except (simplejson.JSONDecodeError, ValueError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None


def _unwrap(entity: Entity, payload) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    for key in (*entity.payload_keys, entity.detail_key):
        if key and isinstance(payload.get(key), dict):
            return payload[key]
    if isinstance(payload.get("JSONString"), str):
        return _unwrap(entity, _parse_json(payload["JSONString"]))
    if len(payload) == 1:
        (only,) = payload.values()
        if isinstance(only, dict) and entity.id_field in only:
            return only
    return payload


def needs_detail(entity: Entity, record: dict, mode: str) -> bool:
    """Whether a webhook body must be completed by fetching the record by id: when it lacks
    what lists lack, a required field, or Zoho's modified time; never for an optional figure.

    ``mode`` is ``TDS_FETCH_DETAIL``: ``auto`` (as just said), ``always`` or ``never``.
    """
    if not entity.detail_path or mode == "never":
        return False
    if mode == "always":
        return True
    if entity.list_omits and not any(key in record for key in entity.list_omits) and entity.carries_detail(record):
        return True
    # an identifying field missing, or Zoho's time (without it the version cannot be ordered)
    wanted = (*entity.required_fields, *((entity.modified_field,) if entity.modified_field else ()))
    return any(blank(record.get(name)) for name in wanted)


def record_id(entity: Entity, record: dict) -> str:
    value = record.get(entity.id_field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PayloadError(f"no {entity.id_field} in the {entity.name} record")
    try:
        return checked_id(value, entity.id_field)
    except MappingError as exc:
        raise PayloadError(str(exc)) from None


def organization_of(
    record: dict, query: Mapping[str, str], headers: Mapping[str, str], configured: tuple[str, ...]
) -> str:
    org = (
        query.get("organization_id")
        or headers.get("X-Zoho-Organization-Id")
        or (str(record["organization_id"]) if record.get("organization_id") else None)
    )
    if not org:
        if len(configured) == 1:
            return configured[0]
        raise PayloadError("no organization_id: add ?organization_id= to the webhook URL")
    try:
        org = checked_id(org, "organization_id")
    except MappingError as exc:
        raise PayloadError(str(exc)) from None
    if configured and org not in configured:
        raise PayloadError(f"organization {org} is not configured in ZOHO_ORGANIZATION_ID")
    return org


def dedup_key(entity: Entity, org: str, zoho_id: str, record: dict, body: bytes | str,
              source: str = "webhook") -> str:
    """Same record, same Zoho time, same body: the same event.

    Zoho's times have one-second resolution, so two edits within a second share a time;
    the body tells them apart, while a redelivery of one webhook (same body) collapses. A
    deletion's body is the record's last state, the same as its last edit's: the
    ``source`` keeps the two apart.
    """
    modified = record.get(entity.modified_field) if entity.modified_field else None
    raw = body.encode("utf-8") if isinstance(body, str) else body
    basis = f"{source}|{entity.name}|{org}|{zoho_id}|{modified or ''}|" + hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def event_source(query: Mapping[str, str]) -> inbox.Source:
    """What the webhook announces, from its URL (signed with it, never from the body): no
    ``event`` is a create or an edit, ``event=deleted`` a deletion (the URL of the
    deletion rule ``tds webhooks install`` creates)."""
    event = query.get("event")
    if event is None:
        return inbox.Source.WEBHOOK
    if event == "deleted":
        return inbox.Source.DELETION
    raise PayloadError(f"unknown event {event[:40]!r}: the webhook URL's event is 'deleted' or absent")


def receive(
    conn: Connection,
    slug_entity: Entity,
    body: bytes,
    content_type: str | None,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    configured_orgs: tuple[str, ...],
    *,
    sent: bool = False,
    fetch_detail: str = "auto",
    coalesce_seconds: float = 0,
) -> inbox.InboxEvent:
    """Parse and store one webhook; the caller commits and then enqueues.

    Everything that could keep the inbox from storing the body is refused here, with the
    reason (answered 400): the receiver answers 503 only when the database is unavailable,
    since Zoho retries a 503 for ever.

    ``sent``: the caller sends the event's message right after committing (see
    :func:`tds.inbox.events.store`). The event's ``countdown`` says when its message should be
    due: at once for a body complete enough to be written as it is, ``coalesce_seconds``
    for one that needs a Zoho fetch (:func:`needs_detail` with ``fetch_detail``), so that a
    burst of such webhooks for one record costs one fetch.
    """
    if content_type and len(content_type) > CONTENT_TYPE_MAX:
        raise PayloadError(f"Content-Type longer than {CONTENT_TYPE_MAX} characters")
    if b"\x00" in body or b"\\u0000" in body.lower() or b"%00" in body:
        raise PayloadError("body contains a NUL character, which cannot be stored")
    record = extract_record(slug_entity, body, content_type)
    entity = registry.route(slug_entity, record)
    zoho_id = record_id(entity, record)
    org = organization_of(record, query, headers, configured_orgs)
    try:
        modified = sane_time(parse_zoho_time(record.get(entity.modified_field), entity.modified_field),
                             entity.modified_field) \
            if entity.modified_field else None
    except MappingError as exc:
        raise PayloadError(str(exc)) from None
    kept = {h: headers[h] for h in KEPT_HEADERS if headers.get(h)}
    source = event_source(query)
    countdown = coalesce_seconds if (coalesce_seconds and source is inbox.Source.WEBHOOK
                                     and needs_detail(entity, record, fetch_detail)) else 0
    event = inbox.store(
        conn,
        source=source,
        entity=entity.name,
        organization_id=org,
        zoho_id=zoho_id,
        key=dedup_key(entity, org, zoho_id, record, body, str(source)),
        modified=modified,
        body=body.decode("utf-8"),
        content_type=content_type,
        headers=kept,
        sent=sent,
        due_in=countdown,
    )
    return dataclasses.replace(event, countdown=countdown) if countdown else event
