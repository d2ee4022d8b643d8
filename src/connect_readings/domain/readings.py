"""The reading model: metric names, validation and unit normalisation (semantics.md §1).

A reading is validated and normalised once, at ingest, so that storage and aggregation only ever see
canonical units (kWh, m3) and well-formed registers.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

import msgspec

from .errors import DomainError
from .timefmt import _HOURS, _TAILS, canonical_datetime, parse_datetime

TIERED_REGISTERS = ("positiveActiveEnergy", "negativeActiveEnergy")
VOLUME_REGISTERS = ("positiveGasVolume", "negativeGasVolume")
TIER_FIELDS = ("t1", "t2", "t3", "t4", "total")

# One flat, fixed order of every register series; storage keeps one column per entry.
REGISTER_SERIES: tuple[tuple[str, str | None], ...] = tuple(
    (metric, field) for metric in TIERED_REGISTERS for field in TIER_FIELDS
) + tuple((metric, None) for metric in VOLUME_REGISTERS)
REGISTER_COUNT = len(REGISTER_SERIES)

# Lookups are by lower-cased name; the exact spellings are entered too so the common case skips .lower().
ENERGY_UNITS = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0, "Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}
VOLUME_UNITS = {"m3": 1.0, "m³": 1.0, "dm3": 0.001, "dm³": 0.001, "l": 0.001, "L": 0.001}
ENERGY_UNIT = "kWh"
VOLUME_UNIT = "m3"

_METRIC_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")
_PHASE_FIELDS = frozenset({"l1", "l2", "l3", "total", "value", "unit"})
_TIERED_KEYS = frozenset(TIER_FIELDS) | {"unit"}
MAX_METRICS = 32

READING_NAMESPACE = uuid.UUID("5b0d7a8e-1f55-4a3c-9a53-6f3f5c1e2a01")


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalised reading: UTC microseconds, metric data, and its register values in series order."""

    ts: int
    data: dict[str, Any]
    registers: tuple[float | None, ...]


def last_per_timestamp(readings: Sequence[Reading]) -> list[Reading]:
    """Sorted by time; a timestamp given twice in one batch keeps its last reading (idempotent upsert)."""
    return sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)


def reading_id(entity_id: uuid.UUID, ts: int) -> uuid.UUID:
    """Deterministic id, so a replaced reading keeps its id."""
    return uuid.uuid5(READING_NAMESPACE, f"{entity_id}|{ts}")


def parse_reading(item: Any) -> Reading:
    """Validate one wire reading and normalise its units; raises DomainError(InvalidReading)."""
    if type(item) is dict:
        reading = _fast_reading(item)
        if reading is not None:
            return reading
    return _parse_reading(item)


def _parse_reading(item: Any) -> Reading:
    """The full validation: every shape, every error message (the fast path falls back to it)."""
    if not isinstance(item, dict):
        raise _invalid("a reading must be an object with 'timestamp' and 'data'")
    extra = set(item) - {"timestamp", "data"}
    if extra:
        raise _invalid(f"unknown field(s) {sorted(extra)}; a reading has only 'timestamp' and 'data'")
    if "timestamp" not in item:
        raise _invalid("'timestamp' is required")
    if not isinstance(item["timestamp"], str):
        raise _invalid("'timestamp' must be an RFC 3339 date-time string")
    ts = parse_datetime(item["timestamp"], "timestamp")
    data = item.get("data")
    if not isinstance(data, dict) or not data:
        raise _invalid("'data' must be a non-empty object of metrics")
    if len(data) > MAX_METRICS:
        raise _invalid(f"'data' holds more than {MAX_METRICS} metrics")
    normalised: dict[str, Any] = {}
    for name, value in data.items():
        if name in TIERED_REGISTERS:
            normalised[name] = _tiered(name, value)
        elif name in VOLUME_REGISTERS:
            normalised[name] = _volume(name, value)
        else:
            normalised[name] = _instantaneous(name, value)
    return Reading(ts=ts, data=normalised, registers=register_values(normalised))


# -- fast path -------------------------------------------------------------------------------------------
# `_fast_reading` accepts only readings it can prove valid with cheap exact-type checks (JSON's types:
# dict, str, int, float; canonical date-times) and builds exactly what `_parse_reading` builds; on anything
# else it returns None, and `_parse_reading` decides, so every error stays the full path's.

_BIG = 1 << 63  # ints beyond are left to the full path (float() could overflow there)
_INF = math.inf
_TIER_SLOTS = {  # metric → {tier field: (position in TIER_FIELDS, register index)}
    metric: {field: (i, REGISTER_SERIES.index((metric, field))) for i, field in enumerate(TIER_FIELDS)}
    for metric in TIERED_REGISTERS
}
_TOTAL_POSITION = TIER_FIELDS.index("total")
_VOLUME_SLOT = {metric: REGISTER_SERIES.index((metric, None)) for metric in VOLUME_REGISTERS}
_VOLUME_KEYS = frozenset({"value", "unit"})
_NO_REGISTERS: tuple[None, ...] = (None,) * REGISTER_COUNT
_GOOD_NAMES: set[str] = set()  # instantaneous metric names already matched by _METRIC_NAME (bounded)
_new = object.__new__
_set_ts = Reading.__dict__["ts"].__set__  # slot descriptors: a frozen dataclass built without __init__
_set_data = Reading.__dict__["data"].__set__
_set_registers = Reading.__dict__["registers"].__set__


def _plain_register(raw: Any) -> bool:
    """A register value the fast path may take as is: a finite, non-negative int or float, not a bool."""
    kind = type(raw)
    if kind is int:
        return 0 <= raw < _BIG
    return kind is float and 0.0 <= raw < _INF


def _fast_timestamp(text: str) -> int | None:
    """Canonical date-times by two table lookups (hour prefix, ':MM:SS' tail), else the canonical parser."""
    ts = _HOURS.get(text[:13])
    tail = _TAILS.get(text[13:]) if ts is not None else None
    if ts is not None and tail is not None:
        return ts + tail
    return canonical_datetime(text)


def _fast_reading(item: dict[str, Any]) -> Reading | None:
    if len(item) != 2:
        return None
    text = item.get("timestamp")
    data = item.get("data")
    if type(text) is not str or type(data) is not dict or not data or len(data) > MAX_METRICS:
        return None
    ts = _fast_timestamp(text)
    if ts is None:
        return None
    registers: list[float | None] | None = None
    normalised: dict[str, Any] = {}
    for name, value in data.items():
        if type(value) is not dict:
            return None
        tiers = _TIER_SLOTS.get(name)
        if tiers is not None:
            unit = value.get("unit")
            if type(unit) is not str or (factor := ENERGY_UNITS.get(unit)) is None:
                return None
            if registers is None:
                registers = list(_NO_REGISTERS)
            measurement: dict[str, Any] = {}
            last = -1  # position of the last tier seen: tiers must come in TIER_FIELDS order, 'total' last
            for field, raw in value.items():
                slot = tiers.get(field)
                if slot is None:
                    if field == "unit":
                        continue
                    return None  # an unknown field
                if raw is None:
                    continue
                position, k = slot
                if position < last:
                    return None
                last = position
                if not _plain_register(raw):
                    return None
                measurement[field] = registers[k] = raw * factor  # int * float == float(int) * float
            if last != _TOTAL_POSITION:  # no 'total' (or null): the full path names the error
                return None
            measurement["unit"] = ENERGY_UNIT
            normalised[name] = measurement
            continue
        k = _VOLUME_SLOT.get(name)
        if k is not None:
            unit = value.get("unit")
            raw = value.get("value")
            if type(unit) is not str or (factor := VOLUME_UNITS.get(unit)) is None or not value.keys() <= _VOLUME_KEYS:
                return None
            if not _plain_register(raw):
                return None
            if registers is None:
                registers = list(_NO_REGISTERS)
            registers[k] = number = raw * factor
            normalised[name] = {"value": number, "unit": VOLUME_UNIT}
            continue
        # an instantaneous metric, kept as sent
        if name not in _GOOD_NAMES:
            if type(name) is not str or not _METRIC_NAME.match(name):
                return None
            if len(_GOOD_NAMES) < 4096:
                _GOOD_NAMES.add(name)
        if not value or not value.keys() <= _PHASE_FIELDS:
            return None
        measurement = {}
        for field, raw in value.items():
            if field == "unit":
                if raw is not None and (type(raw) is not str or len(raw) > 16):
                    return None
                measurement[field] = raw
            elif raw is not None:
                kind = type(raw)
                if kind is float:
                    if not -_INF < raw < _INF:
                        return None
                elif kind is not int or not -_BIG < raw < _BIG:
                    return None
                measurement[field] = raw if kind is float else float(raw)
        normalised[name] = measurement
    reading = _new(Reading)
    _set_ts(reading, ts)
    _set_data(reading, normalised)
    _set_registers(reading, _NO_REGISTERS if registers is None else tuple(registers))
    return reading


# -- typed JSON decoding ---------------------------------------------------------------------------------
# msgspec decodes JSON straight into these Structs, so structure, types, unknown fields and non-negative numbers
# are checked in C; `_from_wire` then does what `_fast_reading` does. They take only register metrics in their
# common shapes; whatever they refuse or cannot prove (instantaneous metrics, unusual units, non-canonical
# date-times, nulls where values belong, bad JSON) makes the callers decode the same bytes with orjson and
# validate with `parse_reading`, so results and errors are that path's. msgspec turns JSON numbers into the
# same doubles as orjson + float() (correctly rounded; tests compare both). The Structs are short-lived and
# acyclic, so the cyclic collector does not track them (gc=False).

_Amount = Union[Annotated[float, msgspec.Meta(ge=0)], None, msgspec.UnsetType]  # UNSET: the key is absent
_UNSET = msgspec.UNSET


class _WireRegister(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    unit: str
    t1: _Amount = _UNSET
    t2: _Amount = _UNSET
    t3: _Amount = _UNSET
    t4: _Amount = _UNSET
    total: _Amount = _UNSET
    value: _Amount = _UNSET


_RegisterName = Literal["positiveActiveEnergy", "negativeActiveEnergy", "positiveGasVolume", "negativeGasVolume"]


class _WireReading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: str
    data: dict[_RegisterName, _WireRegister]  # a dict, so the metrics keep their order


class _WireBatch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    data: list[_WireReading]


class _NotFast(ValueError):
    """The typed path cannot decide this input; the full path will."""


_TIER_BASE = {metric: REGISTER_SERIES.index((metric, "t1")) for metric in TIERED_REGISTERS}
_TOTAL_OFFSET = REGISTER_SERIES.index((TIERED_REGISTERS[0], "total")) - _TIER_BASE[TIERED_REGISTERS[0]]
assert all(REGISTER_SERIES[b:b + 5] == tuple((m, f) for f in TIER_FIELDS) for m, b in _TIER_BASE.items())
_decode_line = msgspec.json.Decoder(_WireReading).decode
_decode_body = msgspec.json.Decoder(_WireBatch).decode


def _from_wire(wire: _WireReading) -> Reading:
    text = wire.timestamp
    ts = _fast_timestamp(text)
    if ts is None:
        raise _NotFast
    data = wire.data
    if not data:
        raise _NotFast
    registers = list(_NO_REGISTERS)
    normalised: dict[str, Any] = {}
    for name, register in data.items():
        base = _TIER_BASE.get(name)
        if base is not None:
            factor = ENERGY_UNITS.get(register.unit)
            total = register.total
            if factor is None or type(total) is not float or register.value is not _UNSET:
                raise _NotFast
            measurement: dict[str, Any] = {}
            if type(x := register.t1) is float:
                measurement["t1"] = registers[base] = x * factor
            if type(x := register.t2) is float:
                measurement["t2"] = registers[base + 1] = x * factor
            if type(x := register.t3) is float:
                measurement["t3"] = registers[base + 2] = x * factor
            if type(x := register.t4) is float:
                measurement["t4"] = registers[base + 3] = x * factor
            measurement["total"] = registers[base + _TOTAL_OFFSET] = total * factor
            measurement["unit"] = ENERGY_UNIT
            normalised[name] = measurement
        else:
            factor = VOLUME_UNITS.get(register.unit)
            value = register.value
            if (factor is None or type(value) is not float or register.total is not _UNSET or register.t1 is not _UNSET
                    or register.t2 is not _UNSET or register.t3 is not _UNSET or register.t4 is not _UNSET):
                raise _NotFast
            registers[_VOLUME_SLOT[name]] = number = value * factor
            normalised[name] = {"value": number, "unit": VOLUME_UNIT}
    reading = _new(Reading)
    _set_ts(reading, ts)
    _set_data(reading, normalised)
    _set_registers(reading, tuple(registers))
    return reading


def decode_reading(line: bytes) -> Reading | None:
    """One JSON reading → Reading by the typed path, or None: then `parse_reading(orjson.loads(line))` decides."""
    try:
        return _from_wire(_decode_line(line))
    except ValueError:  # msgspec's errors, UnicodeDecodeError, _NotFast
        return None


def decode_readings(lines: Sequence[bytes]) -> list[Reading] | None:
    """Many JSON lines → Readings by the typed path, or None when any one of them needs the full path."""
    try:
        return [_from_wire(_decode_line(line)) for line in lines]
    except ValueError:
        return None


def decode_batch(body: bytes) -> list[Reading] | None:
    """A request body `{"data": [reading, …]}` → Readings by the typed path, or None when it needs the full path
    (`orjson.loads` + `parse_reading` per item, which also names the first bad item). An empty list is None too."""
    try:
        readings = [_from_wire(wire) for wire in _decode_body(body).data]
    except ValueError:
        return None
    return readings or None


_SERIES_KEYS = tuple((metric, field or "value") for metric, field in REGISTER_SERIES)


def register_values(data: dict[str, Any]) -> tuple[float | None, ...]:
    """The register series of a normalised reading, in REGISTER_SERIES order (None where absent)."""
    return tuple(
        None if (measurement := data.get(metric)) is None else measurement.get(field)
        for metric, field in _SERIES_KEYS
    )


def _tiered(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"'{name}' must be an object {{t1,t2,t3,t4,total,unit}}")
    if not value.keys() <= _TIERED_KEYS:
        raise _invalid(f"'{name}' has unknown field(s) {sorted(set(value) - _TIERED_KEYS)}")
    if value.get("total") is None:
        raise _invalid(f"'{name}.total' is required")
    factor = _unit_factor(name, value.get("unit"), ENERGY_UNITS, ENERGY_UNIT)
    out: dict[str, Any] = {}
    for field in TIER_FIELDS:
        raw = value.get(field)
        if raw is not None:
            out[field] = _register_number(f"{name}.{field}", raw) * factor
    out["unit"] = ENERGY_UNIT
    return out


def _volume(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"'{name}' must be an object {{value,unit}}")
    extra = set(value) - {"value", "unit"}
    if extra:
        raise _invalid(f"'{name}' has unknown field(s) {sorted(extra)}")
    if value.get("value") is None:
        raise _invalid(f"'{name}.value' is required")
    factor = _unit_factor(name, value.get("unit"), VOLUME_UNITS, VOLUME_UNIT)
    return {"value": _register_number(f"{name}.value", value["value"]) * factor, "unit": VOLUME_UNIT}


def _instantaneous(name: str, value: Any) -> dict[str, Any]:
    """Other metrics (power, voltage, state of charge…) are kept as sent, but must be well formed."""
    if not _METRIC_NAME.match(name):
        raise _invalid(f"metric name '{name[:64]}' is not a camelCase identifier")
    if not isinstance(value, dict) or not value:
        raise _invalid(f"'{name}' must be an object such as {{l1,l2,l3,total,unit}} or {{value,unit}}")
    extra = set(value) - _PHASE_FIELDS
    if extra:
        raise _invalid(f"'{name}' has unknown field(s) {sorted(extra)}")
    out: dict[str, Any] = {}
    for field, raw in value.items():
        if field == "unit":
            if raw is not None and (not isinstance(raw, str) or len(raw) > 16):
                raise _invalid(f"'{name}.unit' must be a short string")
            out[field] = raw
        elif raw is not None:
            out[field] = _number(f"{name}.{field}", raw)
    return out


def _unit_factor(name: str, unit: Any, units: dict[str, float], canonical: str) -> float:
    factor = units.get(unit) if isinstance(unit, str) else None
    if factor is not None:
        return factor
    if unit is None:
        raise _invalid(f"'{name}.unit' is required (one of {_unit_list(units)})")
    if not isinstance(unit, str) or unit.strip().lower() not in units:
        raise _invalid(f"'{name}.unit' must be one of {_unit_list(units)}; got {str(unit)[:16]!r}")
    return units[unit.strip().lower()]


def _unit_list(units: dict[str, float]) -> str:
    return ", ".join(sorted({unit.lower() for unit in units}))


def _number(name: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise _invalid(f"'{name}' must be a number")
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise _invalid(f"'{name}' must be finite")
    return value


def _register_number(name: str, raw: Any) -> float:
    if type(raw) is float and 0.0 <= raw < math.inf:  # the common case, checked without a call
        return raw
    value = _number(name, raw)
    if value < 0:
        raise _invalid(f"'{name}' is a cumulative register and cannot be negative")
    return value


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidReading", message)


_REGISTER_METRICS = frozenset(TIERED_REGISTERS + VOLUME_REGISTERS)


def stored_data(data: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a reading not kept in register columns (instantaneous metrics), or None."""
    if data.keys() <= _REGISTER_METRICS:  # the common case, checked in C
        return None
    rest = {name: value for name, value in data.items() if name not in TIERED_REGISTERS + VOLUME_REGISTERS}
    return rest or None


def data_from_storage(registers: Sequence[float | None], rest: dict[str, Any] | None) -> dict[str, Any]:
    """Rebuild a reading's data from its register columns and the rest (inverse of `stored_data`)."""
    data: dict[str, Any] = {}
    by_series = dict(zip(REGISTER_SERIES, registers))
    for metric in TIERED_REGISTERS:
        if by_series[(metric, "total")] is not None:
            measurement = {f: by_series[(metric, f)] for f in TIER_FIELDS if by_series[(metric, f)] is not None}
            measurement["unit"] = ENERGY_UNIT
            data[metric] = measurement
    for metric in VOLUME_REGISTERS:
        if by_series[(metric, None)] is not None:
            data[metric] = {"value": by_series[(metric, None)], "unit": VOLUME_UNIT}
    if rest:
        data.update(rest)
    return data
