"""Signed, query-bound continuation tokens (docs/semantics.md §6).

A token carries where the next page starts and, when the client left `end` open, the "now" the first page
fixed. It is bound by HMAC to a digest of the query, so it cannot be altered or replayed on another query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import TypeGuard

import orjson

from .errors import DomainError
from .timefmt import MAX_US, MIN_US

_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class Cursor:
    position: int
    """Where the next page starts (µs UTC)."""
    now: int | None
    """The instant that stood in for an omitted `end` on the first page."""


def query_digest(*parts: object) -> str:
    """A stable digest of the query parameters that a token is bound to."""
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def encode_token(key: bytes, digest: str, cursor: Cursor) -> str:
    return _sign(key, {"q": digest, "p": cursor.position, "n": cursor.now})


def decode_token(key: bytes, digest: str, token: str) -> Cursor:
    """The cursor of a token issued for this very query; anything else is InvalidContinuationToken."""
    fields = _verify(key, digest, token)
    position, now = fields.get("p"), fields.get("n")
    if not _instant(position) or not (now is None or _instant(now)):
        raise _invalid("the continuation token is malformed")
    return Cursor(position=position, now=now)


def encode_id_token(key: bytes, digest: str, after: uuid.UUID) -> str:
    """A token for a list ordered by id (the entities): the next page starts after `after`."""
    return _sign(key, {"q": digest, "a": str(after)})


def decode_id_token(key: bytes, digest: str, token: str) -> uuid.UUID:
    """The id a token of `encode_id_token` for this very query continues after; else InvalidContinuationToken."""
    after = _verify(key, digest, token).get("a")
    try:
        if not isinstance(after, str):
            raise ValueError
        return uuid.UUID(after)
    except ValueError:
        raise _invalid("the continuation token is malformed") from None


def _sign(key: bytes, fields: dict[str, object]) -> str:
    payload = orjson.dumps(fields)
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return _b64(payload) + "." + _b64(mac)


def _verify(key: bytes, digest: str, token: str) -> dict[str, object]:
    """The fields of a token we signed for the query `digest`; else InvalidContinuationToken."""
    try:
        payload_text, mac_text = token.split(".")
        payload = _unb64(payload_text)
        mac = _unb64(mac_text)
    except (ValueError, TypeError):
        raise _invalid("the continuation token is malformed") from None
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise _invalid("the continuation token was altered or was not issued by this service")
    # A valid MAC proves we signed it, yet the shape is checked too: a bug or a leaked key must not be a 500.
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _invalid("the continuation token is malformed") from None
    if not isinstance(fields, dict):
        raise _invalid("the continuation token is malformed")
    if fields.get("q") != digest:
        raise _invalid("the continuation token belongs to a different query; repeat the same parameters")
    return fields


def _instant(value: object) -> TypeGuard[int]:
    return type(value) is int and MIN_US <= value < MAX_US


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 512:
        raise ValueError("bad length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidContinuationToken", message)
