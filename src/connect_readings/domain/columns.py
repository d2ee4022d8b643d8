"""Many wire readings → readings a column at a time: the fast path of the batch parsers (`ingest.batch.parse_batch`,
`readings.decode_readings`).

`readings.to_reading` takes one reading at a time, a Python loop over its metrics and fields. A batch whose
readings all hold the same metrics in the same order, each a register or a known instantaneous metric whose
fields (and a unit) are those of the first reading, all numbers, is converted here field by field instead: each
column gathered, scaled and bounded in C (map, min, max), the dicts and tuples of the readings built from the
columns. The readings are those `to_reading` gives, equal and in the same key order. Anything else (another
shape, a null, a refusal) gives None: the caller then converts reading by reading, which names the refusal.

The same pass counts the pairs and the ':' in strings of what msgspec decoded: equal to the ':' of the JSON text
(`readings.colons`) only when no object held a key twice and no reading held a field the first one lacks (both
only add to the text's count: `readings.keys_unique`). So a count that differs gives None too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import attrgetter, itemgetter, mul
from typing import Any

import msgspec

from .errors import DomainError
from .readings import (
    ENERGY_UNIT, ENERGY_UNITS, GAUGE_COUNT, MAX_INSTANTANEOUS, MAX_METRICS, MAX_REGISTER, NO_GAUGES, PHASE_FIELDS,
    REGISTER_COUNT, TIER_FIELDS, VOLUME_UNIT, VOLUME_UNITS, Reading, WireReading, _NO_REGISTERS, _PHASE_SPEC,
    _TIER_BASE, _VALUE_SPEC, _VOLUME_SLOT, _unit_factor,
)
from .timefmt import parse_datetime, parse_remembered

_UNSET = msgspec.UNSET
_REGISTERS, _GAUGES = 0, 1


class _Spec(msgspec.Struct, frozen=True):
    """How one metric converts: its fields in output order, those required (none: at least one), its units, the
    canonical unit, the fields whose number as sent must not be negative (a register's tiers are checked so by
    msgspec), the bounds of a converted number (`low` None: not negative, as sent), and where the numbers go
    (`into`: registers or gauges, from `slot`, one slot a field; slot -1: nowhere)."""

    fields: tuple[str, ...]
    required: tuple[str, ...]
    units: dict[str, float]
    unit: str
    nonnegative: tuple[str, ...]
    low: float | None
    high: float
    into: int
    slot: int


def _specs() -> dict[str, _Spec]:
    """The rules of `to_reading`, per metric, as data (its tests compare the two on random batches)."""
    specs = {name: _Spec(TIER_FIELDS, ("total",), ENERGY_UNITS, ENERGY_UNIT, ("total",), None, MAX_REGISTER,
                         _REGISTERS, base) for name, base in _TIER_BASE.items()}
    specs |= {name: _Spec(("value",), ("value",), VOLUME_UNITS, VOLUME_UNIT, ("value",), None, MAX_REGISTER,
                          _REGISTERS, slot) for name, slot in _VOLUME_SLOT.items()}
    specs |= {name: _Spec(PHASE_FIELDS, (), units, unit, (), -MAX_INSTANTANEOUS, MAX_INSTANTANEOUS, _GAUGES, base)
              for name, (units, unit, base) in _PHASE_SPEC.items()}
    specs |= {name: _Spec(("value",), ("value",), units, unit, (), low, high, _GAUGES, slot)
              for name, (units, unit, slot, low, high) in _VALUE_SPEC.items()}
    return specs


SPECS = _specs()
assert len(SPECS) <= MAX_METRICS  # (so a reading whose metrics all have a spec is never too wide)
_timestamp = attrgetter("timestamp")
_data = attrgetter("data")
_unit = attrgetter("unit")


def to_readings(wires: Sequence[WireReading], colons: int) -> list[Reading] | None:
    """The readings of `wires`, or None (see the module). `colons`: the ':' of their JSON text (`readings.colons`),
    without those of any envelope around them."""
    n = len(wires)
    if not n:
        return None
    datas = list(map(_data, wires))
    layouts = set(map(tuple, datas))
    if len(layouts) != 1:
        return None
    (names,) = layouts
    if not names:  # (refused; more than MAX_METRICS cannot all be in SPECS)
        return None
    stamps = list(map(_timestamp, wires))
    stamps_us = parse_remembered(stamps)
    if stamps_us is None:
        try:
            stamps_us = [parse_datetime(text, "timestamp") for text in stamps]
        except DomainError:
            return None
        counted = sum(map(str.count, stamps, repeat(":")))
    else:
        counted = 2 * n  # (parse_remembered: two in each)
    counted += n * (2 + len(names))  # the pairs timestamp, data and each metric (the names of SPECS hold no ':')
    registers: list[Iterable[float | None]] | None = None
    gauges: list[Iterable[float | None]] | None = None
    measurements = []
    for name in names:
        spec = SPECS.get(name)
        if spec is None:
            return None
        try:
            column = list(map(itemgetter(name), datas))
        except KeyError:  # (cannot happen: one layout; never let it pass unchecked)
            return None
        converted = _measurements(spec, name, column)
        if converted is None:
            return None
        dicts, fields, values, pairs = converted
        counted += pairs
        measurements.append(dicts)
        if spec.into == _REGISTERS:
            registers = registers or [repeat(None, n) for _ in range(REGISTER_COUNT)]
            target = registers
        elif spec.slot >= 0:
            gauges = gauges or [repeat(None, n) for _ in range(GAUGE_COUNT)]
            target = gauges
        else:
            continue
        for field, numbers in zip(fields, values):
            target[spec.slot + spec.fields.index(field)] = numbers
    if counted != colons:
        return None
    return list(map(Reading, stamps_us, _dicts(names, measurements),
                    repeat(_NO_REGISTERS) if registers is None else zip(*registers),
                    repeat(NO_GAUGES) if gauges is None else zip(*gauges)))


def _measurements(spec: _Spec, name: str, column: list[Any]
                  ) -> tuple[list[dict[str, Any]], list[str], list[list[float]], int] | None:
    """One metric of every reading: its normalised dicts, the fields they hold, those fields' numbers (converted)
    and the ':' counted (one a pair); None unless every reading holds those fields, all numbers, and a unit."""
    n = len(column)
    first = column[0]
    fields = [field for field in spec.fields if getattr(first, field) is not _UNSET]
    if not fields or not all(field in fields for field in spec.required):
        return None
    units = set(map(_unit, column))
    factors: dict[Any, float] = {}
    for unit in units:
        if type(unit) is not str or ":" in unit:  # (a unit that converts holds none)
            return None
        try:
            factors[unit] = _unit_factor(name, unit, spec.units)
        except DomainError:
            return None
    factor = factors.popitem()[1] if len(factors) == 1 else None
    scale = None if factor is not None else list(map(factors.__getitem__, map(_unit, column)))
    values = []
    for field in fields:
        as_sent = field in spec.nonnegative  # (checked as sent: a tiny negative number may convert to -0.0)
        raw: Iterable[Any] = list(map(attrgetter(field), column)) if as_sent else map(attrgetter(field), column)
        try:  # (TypeError: a null, or a field some reading lacks)
            numbers = list(map(mul, raw, repeat(factor) if scale is None else scale))
        except TypeError:
            return None
        if max(numbers) > spec.high or (as_sent and not min(raw) >= 0.0):  # type: ignore[type-var]
            return None
        if spec.low is not None and not min(numbers) >= spec.low:
            return None
        values.append(numbers)
    dicts = _dicts((*fields, "unit"), [*values, repeat(spec.unit, n)])
    return dicts, fields, values, n * (len(fields) + 1)


def _dicts(keys: Sequence[str], columns: Sequence[Iterable[Any]]) -> list[dict[str, Any]]:
    """One dict a row: {keys[0]: columns[0][i], …}, in the order of `keys` (displays for the usual widths)."""
    if len(keys) == 1:
        (a,) = keys
        return [{a: x} for x in columns[0]]
    if len(keys) == 2:
        a, b = keys
        return [{a: x, b: y} for x, y in zip(*columns)]
    if len(keys) == 3:
        a, b, c = keys
        return [{a: x, b: y, c: z} for x, y, z in zip(*columns)]
    if len(keys) == 4:
        a, b, c, d = keys
        return [{a: x, b: y, c: z, d: w} for x, y, z, w in zip(*columns)]
    if len(keys) == 5:
        a, b, c, d, e = keys
        return [{a: x, b: y, c: z, d: w, e: v} for x, y, z, w, v in zip(*columns)]
    return list(map(dict, map(zip, repeat(keys), zip(*columns))))
