"""Zoho webhook signatures.

Zoho's Finance platform signs a webhook with HMAC-SHA256 keyed by the secret the user typed
into the webhook form. The signed string is every query-string and form pair sorted by key
and written as ``key`` + ``value`` (form values URL-decoded), followed by the raw body when
it is JSON. Whether the digest arrives as hex or base64 is not documented, so both are
accepted. Where a Zoho product does not sign, the documented fallback is the secret itself
in a custom header (``X-Webhook-Token``) or query parameter (``?token=``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable, Mapping

SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"
TOKEN_HEADER = "X-Webhook-Token"
TOKEN_PARAM = "token"


def signed_string(pairs: Iterable[tuple[str, str]], raw_body: bytes) -> bytes:
    """The bytes Zoho signs: sorted ``keyvalue`` pairs, then the raw JSON body."""
    joined = "".join(f"{k}{v}" for k, v in sorted(pairs, key=lambda kv: kv[0]))
    return joined.encode("utf-8") + (raw_body or b"")


def sign(secret: str, raw_body: bytes, pairs: Iterable[tuple[str, str]] = ()) -> str:
    """Hex HMAC-SHA256 signature, as a Zoho webhook carries it."""
    return hmac.new(secret.encode("utf-8"), signed_string(pairs, raw_body), hashlib.sha256).hexdigest()


def verify_signature(secret: str, signature: str, raw_body: bytes, pairs: Iterable[tuple[str, str]] = ()) -> bool:
    """True when ``signature`` (hex or base64) is the HMAC of the request; constant time."""
    digest = hmac.new(secret.encode("utf-8"), signed_string(pairs, raw_body), hashlib.sha256).digest()
    given = (signature or "").strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    candidates = (digest.hex(), base64.b64encode(digest).decode("ascii"))
    return any(hmac.compare_digest(given.encode("utf-8"), c.encode("ascii")) for c in candidates)


def verify_token(secret: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token.encode("utf-8"), secret.encode("utf-8"))


def authenticate(
    secret: str,
    headers: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    form: Iterable[tuple[str, str]],
    raw_body: bytes,
    is_form: bool,
) -> bool:
    """Whether a webhook request proves it knows ``secret``.

    For a JSON body the signed string is the query pairs then the raw body; for a form body
    it is the query and form pairs with nothing appended (the form *is* the pairs). The
    ``token`` query parameter is never part of the signed string.
    """
    query = list(query)
    query_token = next((v for k, v in query if k == TOKEN_PARAM), None)
    signed_query = [(k, v) for k, v in query if k != TOKEN_PARAM]
    signature = headers.get(SIGNATURE_HEADER)
    if signature:
        pairs = signed_query + (list(form) if is_form else [])
        body = b"" if is_form else raw_body
        if verify_signature(secret, signature, body, pairs):
            return True
    return verify_token(secret, headers.get(TOKEN_HEADER) or query_token)
