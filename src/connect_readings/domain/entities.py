"""The entity registry (docs/semantics.md §12): what an entity is, and the rules of its description.

An entity is registered by `PUT /v1/entities/{id}` or by its first ingest (then with every descriptive field
unknown, null). The descriptive fields are the client's; `created` and `lastSeen` are the server's.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .documents import json_kind, json_object
from .errors import DomainError, quoted
from .timefmt import parse_time_zone

ENTITY_TYPES = ("Battery", "ChargePoint", "EV", "HeatPump", "SolarPlant", "RetrofitMeter", "Meter", "Inverter")
MAX_TEXT = 200
"""Characters of `name`, `brand`, `identifier`."""
MAX_PROPERTIES_BYTES = 16 * 1024
"""`properties`, encoded as compact JSON (UTF-8)."""
MAX_PROPERTIES_DEPTH = 32
"""Levels of objects and arrays in `properties` (the object itself is level 1): every encoder and reader of the
stored description, ours and the clients', can follow it."""
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
) -> EntityRecord:
    """A PUT body → the record it describes (`created` = `now`, used only when the PUT registers the entity).

    PUT replaces the description: a field left out is null. `parent_allowed(id)` says whether an entity is
    registered and visible to the token. That the parent makes no cycle is checked by the store, in the write's
    transaction (`check_parent`): a check made here could be overtaken by a concurrent PUT.
    """
    document = json_object(body, FIELDS, "an entity", _invalid, _decode(body), check=_check_values)
    kind = document.get("type")
    if kind is not None and kind not in ENTITY_TYPES:
        shown = quoted(kind, 40) if isinstance(kind, str) else json_kind(kind)
        raise _invalid(f"'type' must be one of {', '.join(ENTITY_TYPES)} (or null); got {shown}")
    texts = {name: _text(document, name) for name in ("name", "brand", "identifier")}
    zone = document.get("timeZone")
    if zone is not None:
        if not isinstance(zone, str):
            raise _invalid(f"'timeZone' must be an IANA time zone name (or null); got {json_kind(zone)}")
        try:
            parse_time_zone(zone)
        except DomainError as exc:
            raise _invalid(exc.message) from None
    properties = document.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise _invalid(f"'properties' must be a JSON object (or null); got {json_kind(properties)}")
        if len(orjson.dumps(properties)) > MAX_PROPERTIES_BYTES:
            raise _invalid(f"'properties' must encode to at most {MAX_PROPERTIES_BYTES} bytes of JSON")
    parent = _parent(document.get("parentId"), entity_id, parent_allowed)
    return EntityRecord(entity_id, kind, texts["name"], texts["brand"], texts["identifier"], parent, properties,
                        zone, created=now)


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"'{name}' must be a string (or null); got {json_kind(value)}")
    if len(value) > MAX_TEXT:
        raise _invalid(f"'{name}' must be at most {MAX_TEXT} characters; got {len(value)}")
    return value


def _decode(body: bytes) -> Any:
    """The body as JSON. What orjson refuses is explained by a second, slower reader: a number beyond a double
    (InvalidEntity, naming the field), nesting beyond any reader, or not JSON at all (InvalidJson)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass

    def number(text: str) -> float:
        return float(text)  # (an integer too: never int(), whose digits are bounded; the value is only looked at)

    def constant(name: str) -> Any:
        raise ValueError(name)  # NaN, Infinity: not JSON

    try:
        document = json.loads(body.decode("utf-8"), parse_float=number, parse_int=number, parse_constant=constant)
    except RecursionError:
        raise DomainError("InvalidJson", "the request body nests arrays or objects too deeply") from None
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError too)
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    for key, value in document.items() if isinstance(document, dict) else ():
        if any(type(item) is float and math.isinf(item) for item in _walk(value)):
            raise _invalid(f"{quoted(key, 40)} holds a number beyond the range of a double (±1.8e308)")
    if not isinstance(document, dict):
        raise _invalid("the body must be a JSON object {type, name, brand, identifier, parentId, properties, timeZone}")
    raise DomainError("InvalidJson", "the request body is not valid JSON")  # (e.g. a lone UTF-16 surrogate)


def _walk(value: Any) -> Iterator[Any]:
    """Every value inside `value` (itself included) and every key of its objects, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)


def _check_values(document: dict[str, Any]) -> None:
    """Each field's value nests at most MAX_PROPERTIES_DEPTH levels, and no string in it (a key included) holds
    U+0000, which PostgreSQL's text cannot store; one rule for both backends. Without recursion: orjson reads
    1,024 levels."""
    for key, value in document.items():
        stack = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if type(item) is str:
                if "\x00" in item:
                    raise _invalid(f"{quoted(key, 40)} must not hold the character U+0000 (NUL)")
            elif type(item) is dict or type(item) is list:
                if depth > MAX_PROPERTIES_DEPTH:
                    raise _invalid(f"{quoted(key, 40)} must nest objects and arrays at most {MAX_PROPERTIES_DEPTH} "
                                   "levels deep")
                if type(item) is dict:
                    stack.extend((name, depth) for name in item)
                    stack.extend((child, depth + 1) for child in item.values())
                else:
                    stack.extend((child, depth + 1) for child in item)


def check_parent(entity_id: uuid.UUID, parent: uuid.UUID, parent_of: Callable[[uuid.UUID], uuid.UUID | None]) -> None:
    """InvalidEntity when `parent` as the parent of `entity_id` would make a cycle, or a chain of more than
    MAX_PARENT_DEPTH ancestors. `parent_of(id)` is a registered entity's parent (None: none, or not registered);
    the store calls this inside the write's transaction, serialised with every other PUT that sets a parent, so
    that two concurrent PUTs cannot each pass it and together make a cycle."""
    seen, step = parent, 0
    while step < MAX_PARENT_DEPTH:
        ancestor = parent_of(seen)
        if ancestor is None:
            return
        if ancestor == entity_id:
            raise _invalid("'parentId' would make the entity its own ancestor")
        seen, step = ancestor, step + 1
    raise _invalid(f"'parentId' has more than {MAX_PARENT_DEPTH} ancestors")


def _parent(value: Any, entity_id: uuid.UUID, allowed: Callable[[uuid.UUID], bool]) -> uuid.UUID | None:
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
    return parent


