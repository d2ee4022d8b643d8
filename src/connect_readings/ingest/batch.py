"""The ingest envelope `{"data": [reading, …]}` → readings: the one batch parser of every channel that takes a
batch (the HTTP body, MQTT's `readings` topics).

Each reading in it is the domain's `WireReading`, decoded by msgspec in the same pass (structure, types and
unknown fields checked in C), then converted a column at a time (`columns.to_readings`, which also proves that
no key was given twice) or, when the batch is not of its shape, validated reading by reading by
`readings.to_reading`; the error path explains the first refusal, naming the index of its reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..domain.columns import to_readings
from ..domain.errors import DomainError
from ..domain.readings import (
    Reading, Repeated, WireReading, colons, parse_reading, repeated_key, repeated_key_error, to_reading,
)


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    data: list[WireReading]


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


def parse_batch(body: bytes, max_batch: int) -> list[Reading]:
    """The whole batch is validated before anything is written; the first bad item names its index."""
    try:
        envelope = _decode_envelope(body)
    except msgspec.ValidationError:  # (a subclass of DecodeError) refused by the types: find what and where
        return _explain(body, max_batch)
    except msgspec.DecodeError:
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    wire = envelope.data
    if 0 < len(wire) <= max_batch:  # the usual batch, a column at a time (the envelope holds one ':' of its own)
        readings = to_readings(wire, colons(body) - 1)
        if readings is not None:
            return readings
    _refuse_repeated_keys(body, envelope)
    _check_size(len(wire), max_batch)
    return _each(wire, to_reading)


def _refuse_repeated_keys(body: bytes, decoded: Any) -> None:
    """A key given twice in any object of the body is DuplicateKey, naming the reading it is in."""
    repeated = repeated_key(body, decoded)
    if repeated is None:
        return
    key, document = repeated
    error = repeated_key_error(key)
    items = document.get("data") if isinstance(document, dict) else None
    for index, item in enumerate(items if type(items) is list else ()):
        if type(item) is Repeated:
            raise DomainError(error.code, f"data[{index}]: {error.message}", f"index {index}")
    raise error


def _explain(body: bytes, max_batch: int) -> list[Reading]:
    """The error path: decode without types, check the envelope, then each item in order (it raises)."""
    try:
        document: Any = msgspec.json.decode(body)
    except msgspec.ValidationError as exc:  # a number beyond a double, with no type to blame it on
        raise DomainError("InvalidReading", "a number in the body is out of range (beyond ±1.8e308)") from exc
    except msgspec.DecodeError:
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    except RecursionError:
        raise DomainError("InvalidJson", "the request body nests arrays or objects too deeply") from None
    _refuse_repeated_keys(body, document)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list) or set(document) - {"data"}:
        raise DomainError("InvalidBatch", "the body must be an object {\"data\": [reading, …]}")
    items = document["data"]
    _check_size(len(items), max_batch)
    return _each(items, parse_reading)


def _check_size(count: int, max_batch: int) -> None:
    if not count:
        raise DomainError("InvalidBatch", "'data' must hold at least one reading")
    if count > max_batch:
        raise DomainError("BatchTooLarge", f"a batch holds at most {max_batch} readings; got {count}")


def _each(items: list[Any], convert: Callable[[Any], Reading]) -> list[Reading]:
    """Every item converted, or the first refusal naming its index."""
    readings = []
    for index, item in enumerate(items):
        try:
            readings.append(convert(item))
        except DomainError as exc:
            raise DomainError(exc.code, f"data[{index}]: {exc.message}", f"index {index}") from None
    return readings
