"""The reading model: metric names, validation and unit normalisation (docs/semantics.md §1).

A reading is validated and normalised once, at ingest, so that storage and aggregation only ever see
canonical units (kWh, m3) and well-formed registers. There is one parser: msgspec decodes (or converts) the
wire shape into `WireReading`, which checks structure, types and unknown fields in C; `to_reading` then
applies the rules msgspec cannot state (units, required totals, non-negative registers, metric names). Its
errors become `InvalidReading` with a message naming the metric and field. (A batch of one shape is converted
a column at a time by `columns.to_readings` instead, to the same readings; any other batch, and every refusal,
goes through `to_reading`.)
"""

from __future__ import annotations

import json
import math
import re
import sys
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Union

import msgspec

from .errors import DomainError, quoted
from .timefmt import parse_datetime

TIERED_REGISTERS = ("positiveActiveEnergy", "negativeActiveEnergy")
VOLUME_REGISTERS = ("positiveGasVolume", "negativeGasVolume")
REGISTER_METRICS = frozenset(TIERED_REGISTERS + VOLUME_REGISTERS)
TIER_FIELDS = ("t1", "t2", "t3", "t4", "total")

# One flat, fixed order of every register series; storage keeps one named column per entry.
REGISTER_SERIES: tuple[tuple[str, str | None], ...] = tuple(
    (metric, field) for metric in TIERED_REGISTERS for field in TIER_FIELDS
) + tuple((metric, None) for metric in VOLUME_REGISTERS)
REGISTER_COUNT = len(REGISTER_SERIES)

# Gauges (docs/semantics.md §1): the numeric fields of the instantaneous metrics that have statistics, in one
# flat, fixed order; storage keeps one named column per entry (like the registers), in the unit given here.
PHASE_FIELDS = ("l1", "l2", "l3", "total")
PHASE_GAUGES = {  # metric → canonical unit
    "positiveActiveInstantaneousPower": "W",
    "negativeActiveInstantaneousPower": "W",
    "instantaneousVoltage": "V",
    "instantaneousCurrent": "A",
}
VALUE_GAUGES = {"stateOfCharge": "%", "range": "km"}
GAUGE_SERIES: tuple[tuple[str, str], ...] = tuple(
    (metric, field) for metric in PHASE_GAUGES for field in PHASE_FIELDS
) + tuple((metric, "value") for metric in VALUE_GAUGES)
GAUGE_COUNT = len(GAUGE_SERIES)
GAUGE_UNITS = {**PHASE_GAUGES, **VALUE_GAUGES}

# Lookups are by lower-cased name; the exact spellings are entered too so the common case skips .lower().
ENERGY_UNITS = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0, "Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}
VOLUME_UNITS = {"m3": 1.0, "m³": 1.0, "dm3": 0.001, "dm³": 0.001, "l": 0.001, "L": 0.001}
ENERGY_UNIT = "kWh"
VOLUME_UNIT = "m3"
# Instantaneous metrics with a fixed shape and unit (docs/semantics.md §1). Matched like the register units:
# exactly, else stripped and lower-cased, so "mw" (like "MW") is a megawatt, as "mwh" is a MWh, and "ma" (like
# "mA") a milliampere: no spelling of a milliwatt or a megaampere is accepted.
POWER_UNITS = {"w": 1.0, "kw": 1e3, "mw": 1e6, "W": 1.0, "kW": 1e3, "MW": 1e6}
VOLTAGE_UNITS = {"v": 1.0, "kv": 1e3, "V": 1.0, "kV": 1e3}
CURRENT_UNITS = {"a": 1.0, "ma": 1e-3, "A": 1.0, "mA": 1e-3}
PERCENT_UNITS = {"%": 1.0, "percent": 1.0}
DISTANCE_UNITS = {"km": 1.0, "m": 1e-3, "mi": 1.609344}
DISTANCE_COUNTERS = {"odometer": "km"}  # normalised like `range`, but not a gauge (it has no statistics)

_METRIC_NAME = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")
MAX_METRICS = 32
MAX_UNIT_CHARS = 16
# Bounds keep every stored and aggregated number finite (JSON has no inf: it would be served as null).
# Registers: 1e12 kWh or m3 after unit conversion (1e15 Wh, 1e9 MWh, 1e15 l), a thousand times the lifetime
# count of the largest meter. Other metrics, in any unit: 1e15, below 2**53 so a double still has 1/8 resolution.
MAX_REGISTER = 1e12
MAX_INSTANTANEOUS = 1e15
MAX_PERCENT = 100.0

READING_NAMESPACE = uuid.UUID("5b0d7a8e-1f55-4a3c-9a53-6f3f5c1e2a01")


NO_GAUGES: tuple[None, ...] = (None,) * GAUGE_COUNT


class Reading(msgspec.Struct, frozen=True, gc=False):
    """One normalised reading: UTC microseconds, metric data, its register values in REGISTER_SERIES order and
    its gauge values in GAUGE_SERIES order (all None when it has none)."""

    ts: int
    data: dict[str, Any]
    registers: tuple[float | None, ...]
    gauges: tuple[float | None, ...] = NO_GAUGES


def last_per_timestamp(readings: Sequence[Reading]) -> list[Reading]:
    """Sorted by time; a timestamp given twice in one batch keeps its last reading (idempotent upsert)."""
    return sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)


def reading_id(entity_id: uuid.UUID, ts: int) -> uuid.UUID:
    """Deterministic id, so a replaced reading keeps its id."""
    return uuid.uuid5(READING_NAMESPACE, f"{entity_id}|{ts}")


# -- the wire shape ----------------------------------------------------------------------------------------
_UNSET = msgspec.UNSET
_Number = Union[float, None, msgspec.UnsetType]  # UNSET: the key is absent; None: it is null
# Tiers belong to registers only: msgspec checks in C that they are finite and not negative.
_Tier = Union[Annotated[float, msgspec.Meta(ge=0.0, le=sys.float_info.max)], None, msgspec.UnsetType]


class WireMeasurement(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Every field any metric may have; which ones a metric may use is checked by `to_reading`.

    The order is the order fields are written back in (registers: tiers then unit; others: phases, total,
    value, unit).
    """

    t1: _Tier = _UNSET
    t2: _Tier = _UNSET
    t3: _Tier = _UNSET
    t4: _Tier = _UNSET
    l1: _Number = _UNSET
    l2: _Number = _UNSET
    l3: _Number = _UNSET
    total: _Number = _UNSET
    value: _Number = _UNSET
    unit: Union[str, None, msgspec.UnsetType] = _UNSET


class WireReading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: str
    data: dict[str, WireMeasurement]


_NO_REGISTERS: tuple[None, ...] = (None,) * REGISTER_COUNT
_TIER_BASE = {metric: REGISTER_SERIES.index((metric, "t1")) for metric in TIERED_REGISTERS}
assert all(REGISTER_SERIES[b:b + 5] == tuple((m, f) for f in TIER_FIELDS) for m, b in _TIER_BASE.items())
_VOLUME_SLOT = {metric: REGISTER_SERIES.index((metric, None)) for metric in VOLUME_REGISTERS}
# Known instantaneous metrics: name → (accepted units, canonical unit, slot in GAUGE_SERIES: of l1 for a phase
# metric, of value for a value metric, -1 for a counter that is no gauge), and for value metrics the bounds.
_PHASE_UNITS = {"W": POWER_UNITS, "V": VOLTAGE_UNITS, "A": CURRENT_UNITS}
_PHASE_SPEC = {metric: (_PHASE_UNITS[unit], unit, GAUGE_SERIES.index((metric, "l1")))
               for metric, unit in PHASE_GAUGES.items()}
assert all(GAUGE_SERIES[b:b + 4] == tuple((m, f) for f in PHASE_FIELDS) for m, (_, _, b) in _PHASE_SPEC.items())
_VALUE_SPEC = {
    "stateOfCharge": (PERCENT_UNITS, "%", GAUGE_SERIES.index(("stateOfCharge", "value")), 0.0, MAX_PERCENT),
    "range": (DISTANCE_UNITS, "km", GAUGE_SERIES.index(("range", "value")), 0.0, MAX_INSTANTANEOUS),
    "odometer": (DISTANCE_UNITS, "km", -1, 0.0, MAX_INSTANTANEOUS),
}
assert set(_VALUE_SPEC) == set(VALUE_GAUGES) | set(DISTANCE_COUNTERS)
assert all(GAUGE_UNITS[m] == spec[1] for m, spec in (_PHASE_SPEC | _VALUE_SPEC).items() if m in GAUGE_UNITS)
KNOWN_INSTANTANEOUS = frozenset(_PHASE_SPEC) | frozenset(_VALUE_SPEC)
_INF = math.inf
_MAX = MAX_INSTANTANEOUS
_decode_line = msgspec.json.Decoder(WireReading).decode


def decode_reading(line: bytes) -> Reading:
    """One JSON reading (a line of a JSONL file) → Reading; InvalidJson, DuplicateKey or InvalidReading otherwise."""
    try:
        wire = _decode_line(line)
    except msgspec.ValidationError:  # (a subclass of DecodeError)
        try:
            item = msgspec.json.decode(line)
        except (msgspec.DecodeError, RecursionError):
            raise DomainError("InvalidJson", "not a JSON object") from None
        _refuse_repeated_keys(line, item)
        return parse_reading(item)
    except msgspec.DecodeError:
        raise DomainError("InvalidJson", "not a JSON object") from None
    _refuse_repeated_keys(line, wire)
    return to_reading(wire)


def decode_readings(lines: Sequence[bytes]) -> list[Reading]:
    """Many JSON readings (a chunk of a JSONL file) at once, their keys checked in one go. Any refusal raises
    without saying which line: the caller then decodes line by line (decode_reading) to name each bad one."""
    try:
        wires = list(map(_decode_line, lines))
    except msgspec.DecodeError:  # (ValidationError too)
        raise DomainError("InvalidJson", "a line is not a reading") from None
    from .columns import to_readings  # (it builds on this module)

    text = b"".join(lines)
    if (readings := to_readings(wires, colons(text))) is not None:  # the usual chunk: a column at a time
        return readings
    if not keys_unique(text, wires):  # (each line's count can only err upwards: a sum proves all)
        raise DomainError("DuplicateKey", "a line may hold a key twice")
    return list(map(to_reading, wires))


def _refuse_repeated_keys(line: bytes, decoded: Any) -> None:
    if (repeated := repeated_key(line, decoded)) is not None:
        raise repeated_key_error(repeated[0])


# -- keys given twice ---------------------------------------------------------------------------------------
class Repeated(dict):  # type: ignore[type-arg]
    """A parsed object that holds a key twice, or holds (directly or in a list) an object that does."""


_encode = msgspec.json.encode


def keys_unique(text: bytes, decoded: Any) -> bool:
    """True when no object of the JSON `text` can hold a key twice; `decoded` is what msgspec made of it.

    msgspec keeps the last of repeated keys, silently. Two counts in C tell: each pair of a JSON object has one
    ':' outside strings; re-encoding what msgspec kept gives its pairs, plus the colons inside its strings, which
    `text` holds literally or as an escape \\u003a. So `text`'s colons plus its escapes equal the re-encoded
    colons exactly when no pair was dropped (a dropped pair, its strings, or a look-alike escape such as
    \\\\u003a can only add to the left side). False means "look closer" (repeated_key), not "repeated".
    """
    return colons(text) == _encode(decoded).count(b":")


def colons(text: bytes) -> int:
    """The ':' of a JSON text plus its escapes \\u003a (see keys_unique), counted in C."""
    escapes = text.count(b"\\u003a") + text.count(b"\\u003A") if b"\\" in text else 0  # (memchr: ~free)
    return text.count(b":") + escapes


def repeated_key(text: bytes, decoded: Any) -> tuple[str, Any] | None:
    """The first key some object of the JSON `text` holds twice, and the document parsed with the objects on the
    way to it as `Repeated`; None when every key is unique. `decoded` is what msgspec made of `text`.

    Only when the counts of `keys_unique` differ is the text parsed again, slowly, to find the key.
    """
    if keys_unique(text, decoded):
        return None
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) < len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    found.append(key)
                    break
                seen.add(key)
            return Repeated(pairs)
        for _, value in pairs:
            if type(value) is Repeated or (type(value) is list and any(type(x) is Repeated for x in value)):
                return Repeated(pairs)
        return dict(pairs)

    try:
        document = json.loads(text, object_pairs_hook=hook)
    except RecursionError:
        raise DomainError("InvalidJson", "the JSON nests arrays or objects too deeply") from None
    except ValueError:  # (msgspec read it, so this cannot happen; never let it pass unchecked)
        raise DomainError("InvalidJson", "the JSON could not be read") from None
    return (found[0], document) if found else None


def repeated_key_error(key: str) -> DomainError:
    return DomainError("DuplicateKey",
                       f"the key {quoted(key, 67)} appears twice in one object; each key may appear once")


def parse_reading(item: Any) -> Reading:
    """An already decoded reading (a dict, as from a CSV row or a JSON document) → Reading."""
    try:
        wire = msgspec.convert(item, WireReading)
    except msgspec.ValidationError as exc:
        raise _invalid(_explain(item, exc)) from None
    return to_reading(wire)


def to_reading(wire: WireReading) -> Reading:
    """Validate what msgspec cannot state and normalise units; raises DomainError(InvalidReading)."""
    ts = parse_datetime(wire.timestamp, "timestamp")
    data = wire.data
    if not data:
        raise _invalid("'data' must be a non-empty object of metrics")
    if len(data) > MAX_METRICS:
        raise _invalid(f"'data' holds more than {MAX_METRICS} metrics")
    registers: list[float | None] | None = None
    gauges: list[float | None] | None = None
    normalised: dict[str, Any] = {}
    for name, m in data.items():
        base = _TIER_BASE.get(name)
        if base is not None:
            if m.l1 is not _UNSET or m.l2 is not _UNSET or m.l3 is not _UNSET or m.value is not _UNSET:
                raise _invalid(f"'{name}' has unknown field(s) {_present(m, ('l1', 'l2', 'l3', 'value'))}")
            total = m.total
            if total is None or total is _UNSET:
                raise _invalid(f"'{name}.total' is required")
            if not 0.0 <= total < _INF:
                raise _register_error(name, "total", total)
            factor = ENERGY_UNITS.get(m.unit) if type(m.unit) is str else None  # type: ignore[arg-type]
            if factor is None:
                factor = _unit_factor(name, m.unit, ENERGY_UNITS)
            if registers is None:
                registers = list(_NO_REGISTERS)
            measurement: dict[str, Any] = {}
            # (tiers: finite and not negative, checked by msgspec; the bound applies in kWh)
            if type(x := m.t1) is float:
                if (x := x * factor) > MAX_REGISTER:
                    raise _above_bound(name, "t1")
                measurement["t1"] = registers[base] = x
            if type(x := m.t2) is float:
                if (x := x * factor) > MAX_REGISTER:
                    raise _above_bound(name, "t2")
                measurement["t2"] = registers[base + 1] = x
            if type(x := m.t3) is float:
                if (x := x * factor) > MAX_REGISTER:
                    raise _above_bound(name, "t3")
                measurement["t3"] = registers[base + 2] = x
            if type(x := m.t4) is float:
                if (x := x * factor) > MAX_REGISTER:
                    raise _above_bound(name, "t4")
                measurement["t4"] = registers[base + 3] = x
            if (x := total * factor) > MAX_REGISTER:
                raise _above_bound(name, "total")
            measurement["total"] = registers[base + 4] = x
            measurement["unit"] = ENERGY_UNIT
            normalised[name] = measurement
            continue
        slot = _VOLUME_SLOT.get(name)
        if slot is not None:
            if (m.t1 is not _UNSET or m.t2 is not _UNSET or m.t3 is not _UNSET or m.t4 is not _UNSET
                    or m.total is not _UNSET or m.l1 is not _UNSET or m.l2 is not _UNSET or m.l3 is not _UNSET):
                fields = ("t1", "t2", "t3", "t4", "total", "l1", "l2", "l3")
                raise _invalid(f"'{name}' has unknown field(s) {_present(m, fields)}")
            raw = m.value
            if raw is None or raw is _UNSET:
                raise _invalid(f"'{name}.value' is required")
            factor = _unit_factor(name, m.unit, VOLUME_UNITS)
            if not 0.0 <= raw < _INF:
                raise _register_error(name, "value", raw)
            if (number := raw * factor) > MAX_REGISTER:
                raise _above_bound(name, "value")
            if registers is None:
                registers = list(_NO_REGISTERS)
            registers[slot] = number
            normalised[name] = {"value": number, "unit": VOLUME_UNIT}
            continue
        phase = _PHASE_SPEC.get(name)
        if phase is not None:
            if (m.t1 is not _UNSET or m.t2 is not _UNSET or m.t3 is not _UNSET or m.t4 is not _UNSET
                    or m.value is not _UNSET):
                raise _invalid(f"'{name}' has unknown field(s) {_present(m, ('t1', 't2', 't3', 't4', 'value'))}"
                               "; it has only 'l1', 'l2', 'l3', 'total' and 'unit'")
            units, unit, base = phase
            factor = units.get(m.unit) if type(m.unit) is str else None  # type: ignore[arg-type]
            if factor is None:
                factor = _unit_factor(name, m.unit, units)
            if gauges is None:
                gauges = list(NO_GAUGES)
            measurement = {}
            # (finite and within ±1e15 in the canonical unit: NaN fails every comparison)
            if type(x := m.l1) is float:
                if not -_MAX <= (x := x * factor) <= _MAX:
                    raise _gauge_bound(name, "l1", unit)
                measurement["l1"] = gauges[base] = x
            if type(x := m.l2) is float:
                if not -_MAX <= (x := x * factor) <= _MAX:
                    raise _gauge_bound(name, "l2", unit)
                measurement["l2"] = gauges[base + 1] = x
            if type(x := m.l3) is float:
                if not -_MAX <= (x := x * factor) <= _MAX:
                    raise _gauge_bound(name, "l3", unit)
                measurement["l3"] = gauges[base + 2] = x
            if type(x := m.total) is float:
                if not -_MAX <= (x := x * factor) <= _MAX:
                    raise _gauge_bound(name, "total", unit)
                measurement["total"] = gauges[base + 3] = x
            if not measurement:
                raise _invalid(f"'{name}' needs a number in at least one of 'l1', 'l2', 'l3', 'total'")
            measurement["unit"] = unit
            normalised[name] = measurement
            continue
        single = _VALUE_SPEC.get(name)
        if single is not None:
            if (m.t1 is not _UNSET or m.t2 is not _UNSET or m.t3 is not _UNSET or m.t4 is not _UNSET
                    or m.l1 is not _UNSET or m.l2 is not _UNSET or m.l3 is not _UNSET or m.total is not _UNSET):
                fields = ("t1", "t2", "t3", "t4", "l1", "l2", "l3", "total")
                raise _invalid(f"'{name}' has unknown field(s) {_present(m, fields)}; it has only 'value' and 'unit'")
            raw = m.value
            if raw is None or raw is _UNSET:
                raise _invalid(f"'{name}.value' is required")
            units, unit, slot, low, high = single
            factor = units.get(m.unit) if type(m.unit) is str else None  # type: ignore[arg-type]
            if factor is None:
                factor = _unit_factor(name, m.unit, units)
            if not low <= (x := raw * factor) <= high:
                raise _value_bound(name, unit, high)
            if slot >= 0:
                if gauges is None:
                    gauges = list(NO_GAUGES)
                gauges[slot] = x
            normalised[name] = {"value": x, "unit": unit}
            continue
        normalised[name] = _instantaneous(name, m)
    return Reading(ts, normalised, _NO_REGISTERS if registers is None else tuple(registers),
                   NO_GAUGES if gauges is None else tuple(gauges))


def _instantaneous(name: str, m: WireMeasurement) -> dict[str, Any]:
    """Other metrics (not registers, not KNOWN_INSTANTANEOUS) are kept as sent, but must be well formed."""
    if not _METRIC_NAME.match(name):
        raise _invalid(f"metric name {quoted(name, 67)} is not a camelCase identifier")
    if m.t1 is not _UNSET or m.t2 is not _UNSET or m.t3 is not _UNSET or m.t4 is not _UNSET:
        raise _invalid(f"'{name}' has unknown field(s) {_present(m, ('t1', 't2', 't3', 't4'))}")
    out: dict[str, Any] = {}
    for field in ("l1", "l2", "l3", "total", "value"):
        raw = getattr(m, field)
        if raw is not None and raw is not _UNSET:
            if not -MAX_INSTANTANEOUS <= raw <= MAX_INSTANTANEOUS:
                raise _invalid(f"'{name}.{field}' must be a finite number from -1e15 to 1e15")
            out[field] = raw
    unit = m.unit
    if unit is not _UNSET:
        if unit is not None and len(unit) > MAX_UNIT_CHARS:
            raise _invalid(f"'{name}.unit' must be a short string")
        out["unit"] = unit
    elif not out and all(getattr(m, field) is _UNSET for field in ("l1", "l2", "l3", "total", "value")):
        raise _invalid(f"'{name}' must be an object such as {{l1,l2,l3,total,unit}} or {{value,unit}}")
    return out


def _unit_factor(name: str, unit: Any, units: dict[str, float]) -> float:
    factor = units.get(unit) if isinstance(unit, str) else None
    if factor is not None:
        return factor
    if unit is None or unit is _UNSET:
        raise _invalid(f"'{name}.unit' is required (one of {_unit_list(units)})")
    factor = units.get(unit.strip().lower())
    if factor is None:
        raise _invalid(f"'{name}.unit' must be one of {_unit_list(units)}; got {quoted(unit, 19)}")
    return factor


def _unit_list(units: dict[str, float]) -> str:
    return ", ".join(sorted({unit.lower() for unit in units}))


def _register_error(name: str, field: str, raw: float) -> DomainError:
    if raw < 0:
        return _invalid(f"'{name}.{field}' is a cumulative register and cannot be negative")
    return _invalid(f"'{name}.{field}' must be a finite number")


def _above_bound(name: str, field: str) -> DomainError:
    if name in _VOLUME_SLOT:
        return _invalid(f"'{name}.{field}' exceeds the largest register value accepted, 1e12 m3 (1e15 l)")
    return _invalid(f"'{name}.{field}' exceeds the largest register value accepted, 1e12 kWh (1e15 Wh)")


def _gauge_bound(name: str, field: str, unit: str) -> DomainError:
    return _invalid(f"'{name}.{field}' must be a finite number from -1e15 to 1e15 {unit} (after unit conversion)")


def _value_bound(name: str, unit: str, high: float) -> DomainError:
    if high == MAX_PERCENT:
        return _invalid(f"'{name}.value' must be a percentage from 0 to 100")
    return _invalid(f"'{name}.value' must be a finite number from 0 to 1e15 {unit} (after unit conversion)")


def _present(m: WireMeasurement, fields: tuple[str, ...]) -> str:
    """The fields of `fields` that `m` has, for a message: 'l1', 'value'."""
    return ", ".join(f"'{field}'" for field in sorted(fields) if getattr(m, field) is not _UNSET)


# -- msgspec's refusals, in our words ----------------------------------------------------------------------
_KINDS = {"float | null": "a number", "str | null": "a string", "str": "a string", "object": "an object"}


def _explain(item: Any, exc: msgspec.ValidationError) -> str:
    """A message naming the metric and field for a reading msgspec refused (the error path only)."""
    if not isinstance(item, dict):
        return "a reading must be an object with 'timestamp' and 'data'"
    data = item.get("data")
    if isinstance(data, dict) and all(isinstance(name, str) for name in data):
        for name, value in data.items():  # find the first metric the Struct refuses, to name it
            try:
                msgspec.convert(value, WireMeasurement)
            except msgspec.ValidationError as inner:
                return _phrase(str(inner), name)
    return _phrase(str(exc), None)


def _phrase(text: str, metric: str | None) -> str:
    """'Expected `float | null`, got `bool` - at `$.total`' → "'positiveActiveEnergy.total' must be a number"."""
    message, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".").replace("[...]", "")
    subject = ".".join(part for part in (metric, path) if part) or "the reading"
    if message.startswith("Object missing required field `"):
        field = message.split("`")[1]
        return f"'{field}' is required" if not path else f"'{subject}.{field}' is required"
    if message.startswith("Object contains unknown field `"):
        field = message.split("`")[1]
        if metric is None and not path:
            return f"unknown field(s) {quoted(field)}; a reading has only 'timestamp' and 'data'"
        return f"'{subject}' has unknown field(s) {quoted(field)}"
    if message.startswith("Number out of range") or message.startswith("Expected `float` <="):
        return f"'{subject}' must be finite"
    if message.startswith("Expected `float` >="):
        return f"'{subject}' is a cumulative register and cannot be negative"
    if message.startswith("Expected `"):
        expected = message.split("`")[1]
        if path == "timestamp":
            return "'timestamp' must be an RFC 3339 date-time string"
        if metric is not None and not path:
            return f"'{metric}' must be an object such as {{l1,l2,l3,total,unit}} or {{value,unit}}"
        return f"'{subject}' must be {_KINDS.get(expected, expected)}"
    return f"'{subject}' is not valid"  # (never msgspec's own words)


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidReading", message)


def register_values(data: dict[str, Any]) -> tuple[float | None, ...]:
    """The register series of a normalised reading's data, in REGISTER_SERIES order (None where absent)."""
    return tuple(
        None if (measurement := data.get(metric)) is None else measurement.get(field or "value")
        for metric, field in REGISTER_SERIES
    )


def gauge_values(data: dict[str, Any]) -> tuple[float | None, ...]:
    """The gauge series of a normalised reading's data, in GAUGE_SERIES order (None where absent).

    Only a measurement in its metric's canonical unit counts: one stored as sent because it did not normalise
    (kept by migration 0005, docs/semantics.md §1) has no gauge values.
    """
    if data.keys().isdisjoint(GAUGE_UNITS):  # the common case, checked in C
        return NO_GAUGES
    values: list[float | None] = []
    for metric, field in GAUGE_SERIES:
        measurement = data.get(metric)
        value = None
        if type(measurement) is dict and measurement.get("unit") == GAUGE_UNITS[metric]:
            number = measurement.get(field)
            if type(number) is float or type(number) is int:
                value = float(number)
        values.append(value)
    return tuple(values)
