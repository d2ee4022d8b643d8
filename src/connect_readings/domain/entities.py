"""The entity registry (docs/semantics.md §12): what an entity is, and the rules of its description.

An entity is registered by `PUT /v1/entities/{id}` or by its first ingest (then with every descriptive field
unknown, null). The descriptive fields are the client's; `created` and `lastSeen` are the server's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import DomainError, quoted
from .timefmt import parse_time_zone

ENTITY_TYPES = ("Battery", "ChargePoint", "EV", "HeatPump", "SolarPlant", "RetrofitMeter", "Meter", "Inverter")
MAX_TEXT = 200
"""Characters of `name`, `brand`, `identifier`."""
MAX_PROPERTIES_BYTES = 16 * 1024
"""`properties`, encoded as compact JSON (UTF-8)."""
MAX_PARENT_DEPTH = 64
"""Ancestors followed when checking that a parent does not make a cycle."""
FIELDS = ("type", "name", "brand", "identifier", "parentId", "properties", "timeZone")


@dataclass(frozen=True, slots=True)
class EntityRecord:
    entity_id: uuid.UUID
    type: str | None = None
    name: str | None = None
    brand: str | None = None
    identifier: str | None = None
    parent_id: uuid.UUID | None = None
    properties: dict[str, Any] | None = None
    time_zone: str | None = None
    """An IANA name as given (the entity's default `timeZone`); None: UTC."""
    created: int = 0
    """µs UTC: when it was registered (by PUT or first ingest), or for an entity of before the registry
    (migration 0006) its first reading."""
    last_seen: int | None = None
    """µs UTC: its latest reading's timestamp; None without readings."""


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidEntity", message)


def parse_entity(
    body: bytes, entity_id: uuid.UUID, now: int, parent_allowed: Callable[[uuid.UUID], bool],
    parent_of: Callable[[uuid.UUID], uuid.UUID | None],
) -> EntityRecord:
    """A PUT body → the record it describes (`created` = `now`, used only when the PUT registers the entity).

    PUT replaces the description: a field left out is null. `parent_allowed(id)` says whether an entity is
    registered and visible to the token; `parent_of(id)` gives a registered entity's parent (cycle check).
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise _invalid("the body must be a JSON object {type, name, brand, identifier, parentId, properties, timeZone}")
    unknown = [key for key in document if key not in FIELDS]
    if unknown:
        raise _invalid(f"unknown field {quoted(unknown[0], 40)}; an entity has {', '.join(FIELDS)}")
    kind = document.get("type")
    if kind is not None and kind not in ENTITY_TYPES:
        shown = quoted(kind, 40) if isinstance(kind, str) else "a " + _json_kind(kind)
        raise _invalid(f"'type' must be one of {', '.join(ENTITY_TYPES)} (or null); got {shown}")
    texts = {name: _text(document, name) for name in ("name", "brand", "identifier")}
    zone = document.get("timeZone")
    if zone is not None:
        if not isinstance(zone, str):
            raise _invalid(f"'timeZone' must be an IANA time zone name (or null); got a {_json_kind(zone)}")
        try:
            parse_time_zone(zone)
        except DomainError as exc:
            raise _invalid(exc.message) from None
    properties = document.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise _invalid(f"'properties' must be a JSON object (or null); got a {_json_kind(properties)}")
        if len(orjson.dumps(properties)) > MAX_PROPERTIES_BYTES:
            raise _invalid(f"'properties' must encode to at most {MAX_PROPERTIES_BYTES} bytes of JSON")
    parent = _parent(document.get("parentId"), entity_id, parent_allowed, parent_of)
    return EntityRecord(entity_id, kind, texts["name"], texts["brand"], texts["identifier"], parent, properties,
                        zone, created=now)


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"'{name}' must be a string (or null); got a {_json_kind(value)}")
    if len(value) > MAX_TEXT:
        raise _invalid(f"'{name}' must be at most {MAX_TEXT} characters; got {len(value)}")
    return value


def _parent(value: Any, entity_id: uuid.UUID, allowed: Callable[[uuid.UUID], bool],
            parent_of: Callable[[uuid.UUID], uuid.UUID | None]) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        parent = uuid.UUID(value)
    except ValueError:
        raise _invalid("'parentId' must be an entity id (a UUID) or null") from None
    if parent == entity_id:
        raise _invalid("'parentId' must not be the entity itself")
    if not allowed(parent):
        raise _invalid("'parentId' names no registered entity visible to this token")
    seen, step = parent, 0
    while step < MAX_PARENT_DEPTH:
        ancestor = parent_of(seen)
        if ancestor is None:
            return parent
        if ancestor == entity_id:
            raise _invalid("'parentId' would make the entity its own ancestor")
        seen, step = ancestor, step + 1
    raise _invalid(f"'parentId' has more than {MAX_PARENT_DEPTH} ancestors")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"
