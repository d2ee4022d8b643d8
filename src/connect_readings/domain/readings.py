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
from typing import Any

from .errors import DomainError
from .timefmt import parse_datetime

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


def reading_id(entity_id: uuid.UUID, ts: int) -> uuid.UUID:
    """Deterministic id, so a replaced reading keeps its id."""
    return uuid.uuid5(READING_NAMESPACE, f"{entity_id}|{ts}")


def parse_reading(item: Any) -> Reading:
    """Validate one wire reading and normalise its units; raises DomainError(InvalidReading)."""
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


def stored_data(data: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a reading not kept in register columns (instantaneous metrics), or None."""
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
