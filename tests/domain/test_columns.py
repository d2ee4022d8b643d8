"""The column-at-a-time batch parser (domain/columns.py) and the timestamps it reads (timefmt.parse_remembered).

Two witnesses each: a table of batches with their readings computed by hand (or None: not of the column path's
shape, or refused, or a count that differs: a key given twice, a field not read), and properties against the
reading-by-reading parser as it was before the column path (`old_parse_batch`, `old_decode_readings`, written out
here): the same readings, key order included, or the same refusal (code, message, description).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connect_readings.domain import timefmt
from connect_readings.domain.columns import SPECS, to_readings
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import (
    GAUGE_COUNT, GAUGE_SERIES, REGISTER_COUNT, REGISTER_SERIES, Reading, Repeated, WireReading, colons,
    decode_readings, keys_unique, parse_reading, repeated_key, repeated_key_error, to_reading,
)
from connect_readings.domain.timefmt import MAX_US, MIN_US, format_datetime, parse_datetime, parse_remembered
from connect_readings.ingest.batch import parse_batch

_wires = msgspec.json.Decoder(list[WireReading]).decode


def columns_of(text: str) -> list[Reading] | None:
    """to_readings of a JSON array of readings (its brackets hold no ':')."""
    raw = text.encode()
    return to_readings(_wires(raw), colons(raw))


def registers(**values: float) -> tuple[float | None, ...]:
    """A registers tuple from 'metric__field' (or 'metric') = value, by hand."""
    slots = [None] * REGISTER_COUNT
    for key, value in values.items():
        metric, _, field = key.partition("__")
        slots[REGISTER_SERIES.index((metric, field or None))] = value
    return tuple(slots)


def gauges(**values: float) -> tuple[float | None, ...]:
    slots = [None] * GAUGE_COUNT
    for key, value in values.items():
        metric, _, field = key.partition("__")
        slots[GAUGE_SERIES.index((metric, field))] = value
    return tuple(slots)


T0 = 1_716_814_800_000_000  # 2024-05-27T13:00:00Z
S = 1_000_000


def energy_reading(ts: str, t1: Any, t2: Any, total: Any, unit: str = "Wh") -> str:
    return (f'{{"timestamp":"{ts}","data":{{"positiveActiveEnergy":{{"t1":{t1},"t2":{t2},"total":{total},'
            f'"unit":"{unit}"}},"negativeActiveEnergy":{{"t1":5,"total":5,"unit":"{unit}"}}}}}}')


def energy_readings(*rows: tuple[Any, ...]) -> str:
    return "[" + ",".join(energy_reading(*row) for row in rows) + "]"


# (batch text, readings by hand or None)
TABLE: list[tuple[str, list[Reading] | None]] = [
    # the benchmark's shape: two tiered registers in Wh, to kWh
    (energy_readings(("2024-05-27T13:00:00Z", 1500, 2500, 4000), ("2024-05-27T13:00:10Z", 1500, 3000, 4500)), [
        Reading(T0, {"positiveActiveEnergy": {"t1": 1.5, "t2": 2.5, "total": 4.0, "unit": "kWh"},
                     "negativeActiveEnergy": {"t1": 0.005, "total": 0.005, "unit": "kWh"}},
                registers(positiveActiveEnergy__t1=1.5, positiveActiveEnergy__t2=2.5, positiveActiveEnergy__total=4.0,
                          negativeActiveEnergy__t1=0.005, negativeActiveEnergy__total=0.005)),
        Reading(T0 + 10 * S, {"positiveActiveEnergy": {"t1": 1.5, "t2": 3.0, "total": 4.5, "unit": "kWh"},
                              "negativeActiveEnergy": {"t1": 0.005, "total": 0.005, "unit": "kWh"}},
                registers(positiveActiveEnergy__t1=1.5, positiveActiveEnergy__t2=3.0, positiveActiveEnergy__total=4.5,
                          negativeActiveEnergy__t1=0.005, negativeActiveEnergy__total=0.005)),
    ]),
    # a unit per reading (Wh, then kWh, then ' mwh ' stripped and lower-cased); -0.0 is not negative
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveEnergy":{"total":2000,"unit":"Wh"}}},'
     '{"timestamp":"2024-05-27T13:00:01Z","data":{"positiveActiveEnergy":{"total":2.5,"unit":"kWh"}}},'
     '{"timestamp":"2024-05-27T13:00:02Z","data":{"positiveActiveEnergy":{"total":-0.0,"unit":" mwh "}}}]', [
        Reading(T0, {"positiveActiveEnergy": {"total": 2.0, "unit": "kWh"}}, registers(positiveActiveEnergy__total=2.0)),
        Reading(T0 + S, {"positiveActiveEnergy": {"total": 2.5, "unit": "kWh"}},
                registers(positiveActiveEnergy__total=2.5)),
        Reading(T0 + 2 * S, {"positiveActiveEnergy": {"total": -0.0, "unit": "kWh"}},
                registers(positiveActiveEnergy__total=-0.0)),
    ]),
    # key order kept: unit first, tiers out of order, metrics in the order sent
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"negativeGasVolume":{"unit":"l","value":2500},'
     '"positiveActiveEnergy":{"unit":"kWh","t4":4,"total":9,"t1":1}}}]', [
        Reading(T0, {"negativeGasVolume": {"value": 2.5, "unit": "m3"},
                     "positiveActiveEnergy": {"t1": 1.0, "t4": 4.0, "total": 9.0, "unit": "kWh"}},
                registers(negativeGasVolume=2.5, positiveActiveEnergy__t1=1.0, positiveActiveEnergy__t4=4.0,
                          positiveActiveEnergy__total=9.0)),
    ]),
    # gauges: kW to W, mA to A, % as is; the odometer (mi to km) is no gauge
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveInstantaneousPower":{"l1":1.5,"total":-3,"unit":"kW"},'
     '"instantaneousCurrent":{"l2":250,"unit":"mA"},"stateOfCharge":{"value":55,"unit":"percent"},'
     '"odometer":{"value":10,"unit":"mi"}}}]', [
        Reading(T0, {"positiveActiveInstantaneousPower": {"l1": 1500.0, "total": -3000.0, "unit": "W"},
                     "instantaneousCurrent": {"l2": 0.25, "unit": "A"}, "stateOfCharge": {"value": 55.0, "unit": "%"},
                     "odometer": {"value": 16.09344, "unit": "km"}},
                registers(), gauges(positiveActiveInstantaneousPower__l1=1500.0,
                                    positiveActiveInstantaneousPower__total=-3000.0, instantaneousCurrent__l2=0.25,
                                    stateOfCharge__value=55.0)),
    ]),
    # timestamps the memo does not take: an offset, a fraction, a space; an escaped ':' counts as one
    ('[{"timestamp":"2024-05-27T15:00:00+02:00","data":{"positiveGasVolume":{"value":1,"unit":"m3"}}},'
     '{"timestamp":"2024-05-27 13:00:00.5","data":{"positiveGasVolume":{"value":2,"unit":"m3"}}},'
     '{"timestamp":"2024-05-27T13\\u003a00:01Z","data":{"positiveGasVolume":{"value":3,"unit":"m\\u00b3"}}}]', [
        Reading(T0, {"positiveGasVolume": {"value": 1.0, "unit": "m3"}}, registers(positiveGasVolume=1.0)),
        Reading(T0 + S // 2, {"positiveGasVolume": {"value": 2.0, "unit": "m3"}}, registers(positiveGasVolume=2.0)),
        Reading(T0 + S, {"positiveGasVolume": {"value": 3.0, "unit": "m3"}}, registers(positiveGasVolume=3.0)),
    ]),
    # bounds, at them: 1e15 Wh, 1e15 W, 100 %
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"negativeActiveEnergy":{"t2":1e15,"total":1e15,"unit":"Wh"},'
     '"negativeActiveInstantaneousPower":{"l3":-1e15,"unit":"W"},"stateOfCharge":{"value":100,"unit":"%"}}}]', [
        Reading(T0, {"negativeActiveEnergy": {"t2": 1e12, "total": 1e12, "unit": "kWh"},
                     "negativeActiveInstantaneousPower": {"l3": -1e15, "unit": "W"},
                     "stateOfCharge": {"value": 100.0, "unit": "%"}},
                registers(negativeActiveEnergy__t2=1e12, negativeActiveEnergy__total=1e12),
                gauges(negativeActiveInstantaneousPower__l3=-1e15, stateOfCharge__value=100.0)),
    ]),
    # -- not the column path's: None ----------------------------------------------------------------------
    ("[]", None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{}}]', None),  # no metric: refused
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"voltage":{"value":1}}}]', None),  # a metric of no spec
    # another layout in the second reading: other metrics, or the same in another order
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveGasVolume":{"value":1,"unit":"l"}}},'
     '{"timestamp":"2024-05-27T13:00:01Z","data":{"negativeGasVolume":{"value":1,"unit":"l"}}}]', None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveGasVolume":{"value":1,"unit":"l"},'
     '"negativeGasVolume":{"value":1,"unit":"l"}}},{"timestamp":"2024-05-27T13:00:01Z","data":'
     '{"negativeGasVolume":{"value":1,"unit":"l"},"positiveGasVolume":{"value":1,"unit":"l"}}}]', None),
    # a null tier (dropped, reading by reading), a field the first reading lacks, one it has that another lacks
    (energy_readings(("2024-05-27T13:00:00Z", "null", 1, 1)), None),
    ("[" + energy_reading("2024-05-27T13:00:00Z", 1, 1, 1) + ","
     + energy_reading("2024-05-27T13:00:01Z", 1, 1, 1).replace('"t1":5,', '"t1":5,"t3":1,') + "]", None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveEnergy":{"total":1,"unit":"Wh"}}},'
     '{"timestamp":"2024-05-27T13:00:01Z","data":{"positiveActiveEnergy":{"total":1,"unit":"Wh","t1":1}}}]', None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveEnergy":{"t1":1,"total":1,"unit":"Wh"}}},'
     '{"timestamp":"2024-05-27T13:00:01Z","data":{"positiveActiveEnergy":{"total":1,"unit":"Wh"}}}]', None),
    # a field of another metric: l1 on a register, value on a phase metric
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveEnergy":{"l1":1,"total":1,"unit":"Wh"}}}]', None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"instantaneousVoltage":{"l1":1,"value":1,"unit":"V"}}}]', None),
    # a key given twice: in a measurement, in data, in a reading (msgspec keeps the last, silently)
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1)).replace('"total":5', '"total":5,"total":5', 1), None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1)).replace(
        '"data":{', '"data":{"negativeActiveEnergy":{"t1":5,"total":5,"unit":"Wh"},', 1), None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1)).replace(
        '{"timestamp"', '{"timestamp":"2024-05-27T13:00:00Z","timestamp"', 1), None),
    # refusals: no unit, a unit unknown or null, a negative total, above the bounds, a bad timestamp
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveActiveEnergy":{"total":1}}}]', None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1, "J")), None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"positiveGasVolume":{"value":1,"unit":null}}}]', None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1), ("2024-05-27T13:00:01Z", 1, 1, -1)), None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1e-320)).replace("1e-320", "-5e-324"), None),  # -0.0 in kWh
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1.000000000001e15, 1)), None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"stateOfCharge":{"value":100.1,"unit":"%"}}}]', None),
    ('[{"timestamp":"2024-05-27T13:00:00Z","data":{"instantaneousVoltage":{"l1":1.000000000001e12,"unit":"kV"}}}]',
     None),
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1), ("2024-02-30T13:00:01Z", 1, 1, 1)), None),
    # a ':' in a unit: it would count as a pair (no unit that converts holds one)
    (energy_readings(("2024-05-27T13:00:00Z", 1, 1, 1, "W:h")), None),
]


@pytest.mark.parametrize("index", range(len(TABLE)))
def test_column_table(index: int) -> None:
    text, expected = TABLE[index]
    found = columns_of(text)
    assert repr(found) == repr(expected)  # (repr: key order and -0.0 too)
    if expected is not None:  # and what the reading-by-reading parser makes of each
        assert repr(found) == repr([to_reading(wire) for wire in _wires(text.encode())])


def test_the_benchmarks_batches_take_the_column_path() -> None:
    from bench.ingest_client import bodies

    body = bodies(0, 1, 1000)[0]
    wires = msgspec.json.decode(body, type=dict[str, list[WireReading]])["data"]
    parse_datetime("2024-01-01T00:00:00Z")
    assert to_readings(wires, colons(body) - 1) == [to_reading(wire) for wire in wires]


# -- properties: the parsers as they were, written out ----------------------------------------------------------
class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    data: list[WireReading]


def old_parse_batch(body: bytes, max_batch: int) -> list[Reading]:
    """ingest.batch.parse_batch before the column path (commit 502dc51)."""
    try:
        envelope = msgspec.json.decode(body, type=_Envelope)
    except msgspec.ValidationError:
        try:
            document: Any = msgspec.json.decode(body)
        except msgspec.ValidationError as exc:
            raise DomainError("InvalidReading", "a number in the body is out of range (beyond ±1.8e308)") from exc
        except msgspec.DecodeError:
            raise DomainError("InvalidJson", "the request body is not valid JSON") from None
        except RecursionError:
            raise DomainError("InvalidJson", "the request body nests arrays or objects too deeply") from None
        old_refuse_repeated_keys(body, document)
        if not isinstance(document, dict) or not isinstance(document.get("data"), list) or set(document) - {"data"}:
            raise DomainError("InvalidBatch", "the body must be an object {\"data\": [reading, …]}")
        items = document["data"]
        old_check_size(len(items), max_batch)
        return old_each(items, parse_reading)
    except msgspec.DecodeError:
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    old_refuse_repeated_keys(body, envelope)
    old_check_size(len(envelope.data), max_batch)
    return old_each(envelope.data, to_reading)


def old_refuse_repeated_keys(body: bytes, decoded: Any) -> None:
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


def old_check_size(count: int, max_batch: int) -> None:
    if not count:
        raise DomainError("InvalidBatch", "'data' must hold at least one reading")
    if count > max_batch:
        raise DomainError("BatchTooLarge", f"a batch holds at most {max_batch} readings; got {count}")


def old_each(items: list[Any], convert: Any) -> list[Reading]:
    readings = []
    for index, item in enumerate(items):
        try:
            readings.append(convert(item))
        except DomainError as exc:
            raise DomainError(exc.code, f"data[{index}]: {exc.message}", f"index {index}") from None
    return readings


def old_decode_readings(lines: list[bytes]) -> list[Reading]:
    """readings.decode_readings before the column path."""
    try:
        wires = [msgspec.json.decode(line, type=WireReading) for line in lines]
    except msgspec.DecodeError:
        raise DomainError("InvalidJson", "a line is not a reading") from None
    if not keys_unique(b"".join(lines), wires):
        raise DomainError("DuplicateKey", "a line may hold a key twice")
    return [to_reading(wire) for wire in wires]


def outcome(parse: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", repr(parse(*args)))  # (repr: key order, -0.0 and every field of every reading)
    except DomainError as exc:
        return ("error", exc.code, exc.message, exc.description)


# -- random batches: mostly of one shape, with every kind of departure from it, written as JSON text by hand ------
class Obj(list):  # type: ignore[type-arg]
    """A JSON object as its pairs, in order (a key may be given twice)."""


def text(value: Any) -> str:
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(k)}:{text(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(text, value)) + "]"
    if isinstance(value, str) and value.startswith("@"):  # raw JSON text
        return value[1:]
    return json.dumps(value).replace("\\\\u003a", "\\u003a")  # (an escaped ':' the strategies wrote)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 12) -> st.SearchStrategy[Any]:
    return st.integers(0, one_in - 1).flatmap(lambda i: bad if i == 0 else good)


GOOD_UNITS = {name: sorted({u for u in spec.units}) + [" " + spec.unit.upper() + " "] for name, spec in SPECS.items()}
good_numbers = st.one_of(st.integers(0, 100), st.floats(0, 100), st.just(-0.0), st.integers(0, 10**9))
bad_numbers = st.one_of(
    st.sampled_from([None, -1, -5e-324, 1e13, 1.000000000001e15, 1e16, 2e15, 101, "1", True, "@1e400", "@-0"]),
    st.floats(-1e16, 1e16), st.integers(-(10**16), 10**16),
)
good_times = st.integers(MIN_US, MAX_US - 1).map(format_datetime)
times = mostly(st.one_of(good_times, st.integers(T0, T0 + 3600 * S).map(format_datetime)), st.one_of(
    good_times.map(lambda t: t.replace("T", " ")), good_times.map(lambda t: t.replace(":", "\\u003a", 1)),
    st.sampled_from(["2024-05-27T15:00:00+02:00", "2024-02-30T00:00:00Z", "2024-05-27T13:00:00.5Z", "x", "",
                     "2024-05-27T13:00:00Z ", "2200-01-01T00:00:00Z"]),
))


@st.composite
def batch_bodies(draw: Any) -> tuple[bytes, int, list[bytes]]:
    """(body, max_batch, the readings' texts)"""
    clean = draw(st.booleans())  # half of them with no departure at all (the column path's), half with some
    rate = 10**9 if clean else 1

    def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 12) -> st.SearchStrategy[Any]:
        return st.integers(0, one_in * rate - 1).flatmap(lambda i: bad if i == 0 else good)

    names = draw(st.lists(st.sampled_from(sorted(SPECS)), min_size=int(clean), max_size=4, unique=True))
    shape = {name: draw(st.lists(st.sampled_from(SPECS[name].fields), min_size=1, unique=True)) for name in names}
    unit = {name: draw(st.sampled_from(GOOD_UNITS[name])) for name in names}
    values = mostly(good_numbers, bad_numbers, 40)
    readings = []
    for _ in range(draw(st.integers(1, 6))):
        data = Obj()
        for name in names:
            measurement = Obj((field, draw(values)) for field in shape[name])
            measurement.append(("unit", draw(mostly(st.just(unit[name]), st.one_of(
                st.sampled_from(GOOD_UNITS[name]), st.sampled_from([None, "J", "W:h", 5, "@[]"]))))))
            departure = draw(mostly(st.none(), st.sampled_from(["reorder", "drop", "add", "twice", "null"]), 15))
            if departure == "reorder":
                measurement.reverse()
            elif departure == "drop":
                measurement.pop(draw(st.integers(0, len(measurement) - 1)))
            elif departure == "add":
                measurement.insert(draw(st.integers(0, len(measurement))),
                                   (draw(st.sampled_from(["t1", "t3", "l1", "l2", "value", "total", "x"])), 1))
            elif departure == "twice":
                measurement.append(draw(st.sampled_from(measurement)))
            data.append((name, measurement if departure != "null" else draw(st.sampled_from([None, 5, "@[]"]))))
        departure = draw(mostly(st.none(), st.sampled_from(["reorder", "unknown", "twice", "empty"]), 20))
        if departure == "reorder":
            data.reverse()
        elif departure == "unknown":
            data.append(("voltage", Obj([("l1", 230)])))
        elif departure == "twice" and data:
            data.append(draw(st.sampled_from(data)))
        elif departure == "empty":
            data.clear()
        reading = Obj([("timestamp", draw(times)), ("data", data)])
        departure = draw(mostly(st.none(), st.sampled_from(["twice", "extra", "not an object"]), 30))
        if departure == "twice":
            reading.insert(0, ("timestamp", draw(times)))
        elif departure == "extra":
            reading.append(("id", 1))
        readings.append(reading if departure != "not an object" else 5)
    envelope = draw(mostly(st.just(Obj([("data", readings)])), st.sampled_from([
        Obj([("data", []), ("data", readings)]), Obj([("data", readings), ("x", 1)]), readings])))
    max_batch = draw(mostly(st.just(10), st.integers(1, 6), 4))
    return text(envelope).encode(), max_batch, [text(reading).encode() for reading in readings]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(batch_bodies())
def test_batches_parse_as_before(case: tuple[bytes, int, list[bytes]]) -> None:
    body, max_batch, _ = case
    expected = outcome(old_parse_batch, body, max_batch)
    assert outcome(parse_batch, body, max_batch) == expected, body
    try:
        wires = msgspec.json.decode(body, type=_Envelope).data
    except msgspec.DecodeError:
        event("not an envelope of readings")
        return
    event("column path" if to_readings(wires, colons(body) - 1) is not None else "reading by reading")
    event(expected[0] if expected[0] == "ok" else expected[1])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_bodies())
def test_lines_parse_as_before(case: tuple[bytes, int, list[bytes]]) -> None:
    """decode_readings (a chunk of a JSONL file): the same batches' readings, one a line."""
    lines = case[2]
    assert outcome(decode_readings, lines) == outcome(old_decode_readings, lines), lines


# -- parse_remembered ---------------------------------------------------------------------------------------
REMEMBERED = [  # (texts, µs or None), after parse_datetime("2024-05-27T13:00:00Z") and ("2024-05-27 14:00:00")
    (["2024-05-27T13:00:00Z"], [T0]),
    (["2024-05-27T13:59:59Z", "2024-05-27T13:00:01z", "2024-05-27T13:30:00"], [T0 + 3599 * S, T0 + S, T0 + 1800 * S]),
    (["2024-05-27 14:00:00Z", "2024-05-27 14:00:01"], [T0 + 3600 * S, T0 + 3601 * S]),
    ([], []),
    (["2024-05-27T13:00:00Z", "2187-11-03T07:00:00Z"], None),  # an hour not seen yet (no other test uses it)
    (["2187-11-03t13:00:00Z"], None),  # 't': another prefix, not seen yet
    (["2024-05-27T13:00:00+00:00"], None), (["2024-05-27T13:00:00.5Z"], None), (["2024-05-27T13:00"], None),
    (["2024-05-27T13:60:00Z"], None), (["2024-05-27T13:00:00ZZ"], None), (["2024-05-27T13"], None),
]


@pytest.mark.parametrize("index", range(len(REMEMBERED)))
def test_remembered_table(index: int) -> None:
    parse_datetime("2024-05-27T13:00:00Z")
    parse_datetime("2024-05-27 14:00:00")
    texts, expected = REMEMBERED[index]
    assert parse_remembered(texts) == expected


digits = st.sampled_from("0123456789")
near_times = st.one_of(
    good_times, good_times.map(lambda t: t.replace("Z", "")), good_times.map(lambda t: t.replace("T", " ")),
    st.lists(st.sampled_from("0123456789-:TtZz +."), max_size=22).map("".join),
    good_times.flatmap(lambda t: st.integers(0, len(t) - 1).flatmap(
        lambda i: st.sampled_from("0123456789:Z-").map(lambda c: t[:i] + c + t[i + 1:]))),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(near_times, max_size=5), st.lists(near_times, max_size=5))
def test_remembered_is_parse_datetime(seen: list[str], texts: list[str]) -> None:
    """None, or parse_datetime of each text, every one of which holds exactly two ':'."""
    for t in seen:
        try:
            parse_datetime(t)
        except DomainError:
            pass
    found = parse_remembered(texts)
    if found is None:
        return
    assert found == [parse_datetime(t) for t in texts]
    assert all(t.count(":") == 2 for t in texts)
    assert all(len(t) >= 19 and t[:13] in timefmt._HOURS for t in texts)
