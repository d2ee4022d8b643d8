"""What every JSON request body of ours shares: decoding it as one object of known fields, and naming a value's
JSON kind in a message (entities, price series, tariffs)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from .errors import DomainError, quoted
from .readings import repeated_key, repeated_key_error


def json_object(body: bytes, fields: Sequence[str], what: str, invalid: Callable[[str], DomainError],
                document: Any = None, check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The body as a JSON object holding only `fields`, once each. `what` names it in messages ('a tariff');
    `document`: the body already decoded (by a reader that explains more than orjson does); `check`: run on the
    object before the duplicate-key check (which re-encodes it: a check that bounds its nesting goes first).

    >>> json_object(b'{"a": 1}', ("a", "b"), "a thing", lambda m: DomainError("Invalid", m))
    {'a': 1}
    """
    if document is None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise DomainError("InvalidJson",
                              "the request body is not valid JSON (numbers must lie within a double)") from None
    if not isinstance(document, dict):
        raise invalid(f"the body must be a JSON object {{{', '.join(fields)}}}")
    if check is not None:
        check(document)
    if (repeated := repeated_key(body, document)) is not None:
        raise repeated_key_error(repeated[0])
    unknown = [key for key in document if key not in fields]
    if unknown:
        raise invalid(f"unknown field {quoted(unknown[0], 40)}; {what} has {', '.join(fields)}")
    return document


def json_kind(value: Any) -> str:
    """What a JSON value is, with its article, for a message: 'a number', 'an array', 'null'…

    >>> json_kind([]), json_kind(True), json_kind(float("nan"))
    ('an array', 'a boolean', 'a non-finite number')
    """
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number" if isinstance(value, int) or math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"
