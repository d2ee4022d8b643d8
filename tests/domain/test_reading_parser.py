"""The one reading parser and the one date-time parser, as tables of inputs and expected outcomes.

Every input here was once an edge case. `reading_cases.json` holds the expected outcome of each row (the
timestamp, or the data and registers of the reading, or the error code), in the order of the lists below.
A new edge case becomes a new row: append the input, and its outcome to the JSON file.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain import timefmt
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import GAUGE_SERIES, GAUGE_UNITS, NO_GAUGES, REGISTER_SERIES, decode_reading
from connect_readings.domain.readings import gauge_values, parse_reading
from connect_readings.domain.timefmt import MAX_US, MIN_US, format_datetime, parse_datetime

EXPECTED = json.loads((Path(__file__).parent / "reading_cases.json").read_text())


def outcome(parse: Any, *args: Any) -> list[Any]:
    """What a parser made of its input: ["ok", µs] / ["ok", ts, data JSON, registers repr] / ["error", code];
    a reading with gauges adds their repr: ["ok", ts, data JSON, registers repr, gauges repr]."""
    try:
        result = parse(*args)
    except DomainError as exc:
        assert exc.message and "Traceback" not in exc.message
        return ["error", exc.code]
    if isinstance(result, int):
        return ["ok", result]
    found = ["ok", result.ts, orjson.dumps(result.data, option=orjson.OPT_SORT_KEYS).decode(), repr(result.registers)]
    if result.gauges != NO_GAUGES:
        found.append(repr(result.gauges))
    return found


def expected_reading(row: list[Any]) -> list[Any]:
    if row[0] != "ok":
        return row
    return [*row[:2], orjson.dumps(orjson.loads(row[2]), option=orjson.OPT_SORT_KEYS).decode(), *row[3:]]


# -- date-times ----------------------------------------------------------------------------------------
DATETIMES = [
    # canonical, in every spelling the fast path takes
    "2024-05-27T13:00:00Z", "2024-05-27T13:00:00z", "2024-05-27 13:00:00Z", "2024-05-27T13:00:00",
    "2024-05-27 13:00:59", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
    # fractions of 1..9 digits, and 10 (refused)
    "2024-05-27T13:00:00.5Z", "2024-05-27T13:00:00.12Z", "2024-05-27T13:00:00.123Z", "2024-05-27T13:00:00.1234Z",
    "2024-05-27T13:00:00.12345Z", "2024-05-27T13:00:00.123456Z", "2024-05-27T13:00:00.1234567Z",
    "2024-05-27T13:00:00.12345678Z", "2024-05-27T13:00:00.123456789Z", "2024-05-27T13:00:00.1234567890Z",
    "2024-05-27T13:00:00.123456789", "2024-05-27T13:00:00.1234567890", "2024-05-27T13:00:00.000000Z",
    "2024-05-27 13:00:00.999999999z", "2024-05-27T13:00:00.Z", "2024-05-27T13:00:00.", "2024-05-27T13:00:00.5ZZ",
    "2024-05-27T13:00:00.5zZ", "2024-05-27T13:00:00.5 Z", "2024-05-27T13:00:00.-5Z", "2024-05-27T13:00:00.+5Z",
    "2024-05-27T13:00:00.5_0Z", "2024-05-27T13:00:00,5Z",
    # leap days, month ends
    "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T12:00:00Z", "1900-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z", "2196-02-29T23:59:59Z", "2024-04-31T00:00:00Z", "2024-04-30T00:00:00Z",
    "2024-12-31T23:59:59.999999Z", "2024-01-32T00:00:00Z", "2024-00-10T00:00:00Z", "2024-13-01T00:00:00Z",
    "2024-01-00T00:00:00Z",
    # bounds 1900..2199
    "1900-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1899-12-31T23:59:59.999999Z", "2199-12-31T23:59:59Z",
    "2199-12-31T23:59:59.999999999Z", "2200-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "1900-01-01T00:30:00+01:00", "2199-12-31T23:30:00-01:00",
    # times out of range
    "2024-05-27T24:00:00Z", "2024-05-27T23:60:00Z", "2024-05-27T23:59:60Z", "2024-05-27T99:99:99Z",
    # offsets and other shapes the full parser handles
    "2024-05-27T15:00:00+02:00", "2024-05-27T15:00:00+0200", "2024-05-27T11:00:00-02:00", "2024-05-27T13:00:00+00:00",
    "2024-05-27T13:00:00-00:00", "2024-05-27T13:00:00+2", "2024-05-27T13:00:00.5+02:00", "2024-05-27T13:00Z",
    "2024-05-27T13:00", "2024-05-27", "2024-05-27Z", "2024-05-27T13", "2024-05-27T13Z",
    # separators, case (RFC 3339: a lower-case t is a T), whitespace
    "2024-05-27t13:00:00Z", "2024-05-27_13:00:00Z", "2024/05/27T13:00:00Z", "2024-05-27T13-00-00Z", "2024-05-27T13:00-00Z",
    " 2024-05-27T13:00:00Z", "2024-05-27T13:00:00Z ", "2024-05-27T13:00:00Z\n", "\t2024-05-27T13:00:00Z",
    "2024-05-27T13:00:00\u3000", "2024-05-27  13:00:00Z",
    # digits that are not ASCII digits, signs, underscores
    "２０２４-05-27T13:00:00Z", "2024-05-27T13:00:0٣Z", "2024-05-27T13:00:00.٣Z", "+024-05-27T13:00:00Z",
    "2024-+5-27T13:00:00Z", "2024-05-27T 3:00:00Z", "2024-05-27T13: 0:00Z", "2024-05-27T13:00: 0Z", "2_24-05-27T13:00:00Z",
    "2024-05-2_T13:00:00Z", "2024-05-27T13:00:00.1_2Z", "2024-05-27T13:00:+0Z",
    # junk
    "", "Z", "now", "yesterday", "27/05/2024", "2024-05-27T13:00:00ZZ", "2024-05-27T13:00:00Zjunk", "x" * 40,
    "2024-05-27T13:00:00Z" * 2,
]


@pytest.mark.parametrize("index", range(len(DATETIMES)))
def test_datetime_table(index: int) -> None:
    text = DATETIMES[index]
    timefmt._HOURS.clear()
    cold = outcome(parse_datetime, text, "timestamp")
    warm = outcome(parse_datetime, text, "timestamp")  # the remembered hour prefix gives the same answer
    assert cold == warm == EXPECTED["datetimes"][index], text


def test_hour_memo_is_bounded() -> None:
    timefmt._HOURS.clear()
    for hour in range(timefmt._HOURS_LIMIT + 10):
        us = MIN_US + hour * 3_600_000_000 + 59_999_999
        assert parse_datetime(format_datetime(us)) == us
    assert len(timefmt._HOURS) <= timefmt._HOURS_LIMIT


digits = st.sampled_from("0123456789")
date_times = st.one_of(
    # near-canonical: every field drawn from a range a little wider than valid
    st.builds(
        lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
        st.integers(1895, 2205), st.integers(0, 13), st.integers(0, 32), st.sampled_from(["T", " ", "t", "_"]),
        st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
        st.one_of(st.just(""), st.text(digits, min_size=0, max_size=11).map(lambda f: "." + f)),
        st.sampled_from(["Z", "z", "", "+00:00", "+02:00", "-05:30", "+0100", " ", "ZZ"]),
    ),
    # exact instants in range, formatted canonically
    st.integers(MIN_US, MAX_US - 1).map(format_datetime),
    st.integers(MIN_US - 10**9, MAX_US + 10**9).map(
        lambda us: (datetime(1970, 1, 1) + timedelta(microseconds=us)).isoformat(sep=" ")),
    # anything
    st.text(max_size=32),
    st.text(alphabet="0123456789-:TZz .+", max_size=32),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(date_times)
def test_datetime_memo_never_changes_an_answer(text: str) -> None:
    timefmt._HOURS.clear()
    cold = outcome(parse_datetime, text, "timestamp")
    assert outcome(parse_datetime, text, "timestamp") == cold
    if cold[0] == "ok":
        assert MIN_US <= cold[1] < MAX_US


def test_utc_round_trip_of_timestamps() -> None:
    start = datetime(2024, 2, 28, 23, 59, 0, tzinfo=timezone.utc)
    for i in range(200):
        moment = start + timedelta(seconds=i, microseconds=i * 4999)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert parse_datetime(text) == (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


# -- readings ------------------------------------------------------------------------------------------
def energy(total: Any = 1500, unit: Any = "Wh", **tiers: Any) -> dict[str, Any]:
    return {**tiers, "total": total, "unit": unit}


def reading(data: Any, timestamp: Any = "2024-05-27T13:00:00Z") -> dict[str, Any]:
    return {"timestamp": timestamp, "data": data}


HUGE = 10**400
READINGS: list[Any] = [
    # the common shapes
    reading({"positiveActiveEnergy": energy(21111110, t1=12345678, t2=8765432),
             "negativeActiveEnergy": energy(1234567, t1=1234567)}),
    reading({"positiveActiveEnergy": {"t1": 1.5, "t2": 2.5, "t3": 0.0, "t4": 3.25, "total": 7.25, "unit": "kWh"}}),
    reading({"positiveGasVolume": {"value": 2500, "unit": "l"}, "negativeGasVolume": {"value": 1.5, "unit": "m3"}}),
    reading({"positiveActiveInstantaneousPower": {"l1": 1.5, "l2": 2, "l3": -3, "total": 0.5, "unit": "kW"},
             "stateOfCharge": {"value": 55, "unit": "%"}}),
    reading({"voltage": {"unit": "V", "l1": 230.1}, "positiveActiveEnergy": energy(1.0, "kWh"), "zeta": {"value": -1e300}}),
    # key order in and out: tiers out of order, unit first, metrics in any order
    reading({"positiveActiveEnergy": {"unit": "Wh", "total": 3, "t1": 1, "t2": 2}}),
    reading({"positiveActiveEnergy": {"total": 3, "t2": 2, "t1": 1, "unit": "Wh"}}),
    reading({"negativeActiveEnergy": energy(1), "positiveActiveEnergy": energy(2)}),
    reading({"voltage": {"total": 1, "l3": 2, "l1": 3, "unit": None}}),
    # every unit spelling
    *[reading({"positiveActiveEnergy": energy(1000, unit)}) for unit in
      ["Wh", "kWh", "MWh", "wh", "kwh", "mwh", "WH", "KWH", " kWh ", "kWh\n", "J", "", "W h", 1, None, ["kWh"], {"u": 1}]],
    *[reading({"positiveGasVolume": {"value": 1000, "unit": unit}}) for unit in
      ["m3", "m³", "dm3", "dm³", "l", "L", "M3", " l", "ml", "", 3, None, ["l"]]],
    reading({"positiveActiveEnergy": {"total": 1}}),
    reading({"positiveGasVolume": {"value": 1}}),
    # numbers: ints vs floats, bools, NaN/inf, huge, negative, zero, -0.0
    *[reading({"positiveActiveEnergy": energy(value)}) for value in
      [0, 0.0, -0.0, 1, 1.0, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**1023, 2**1024, HUGE, -HUGE, 1e308, 1.7976931348623157e308,
       5e-324, -5e-324, -1, -1.0, -1e-300, math.nan, math.inf, -math.inf, True, False, None, "1", [1], {"v": 1}]],
    *[reading({"positiveActiveEnergy": energy(1, t1=value)}) for value in [None, -1, 2.5, True, math.nan, "x"]],
    *[reading({"positiveGasVolume": {"value": value, "unit": "dm3"}}) for value in
      [0, -0.0, 3, 2**63, HUGE, -1, math.nan, math.inf, True, None, "1"]],
    *[reading({"voltage": {"l1": value, "unit": "V"}}) for value in
      [0, -0.0, -5, -2**63, -(2**63) - 1, 2**63, HUGE, -HUGE, 1e308, -1e308, math.nan, math.inf, -math.inf, True, False,
       None, "230", [1]]],
    # units of instantaneous metrics
    *[reading({"voltage": {"l1": 1, "unit": unit}}) for unit in [None, "V", "", "x" * 16, "x" * 17, 5, ["V"]]],
    reading({"voltage": {"unit": "V"}}), reading({"voltage": {"l1": None}}),
    # unknown fields and metrics
    reading({"positiveActiveEnergy": {"total": 1, "unit": "kWh", "t5": 1}}),
    reading({"positiveActiveEnergy": {"total": 1, "unit": "kWh", "value": 1}}),
    reading({"positiveGasVolume": {"value": 1, "unit": "m3", "total": 1}}),
    reading({"voltage": {"l4": 1}}), reading({"voltage": {}}), reading({"voltage": 230}), reading({"voltage": [230]}),
    reading({"voltage": None}), reading({"positiveActiveEnergy": None}), reading({"positiveActiveEnergy": [1]}),
    reading({"positiveGasVolume": 5}),
    *[reading({name: {"value": 1}}) for name in
      ["Bad Name", "bad_name", "Voltage", "9volts", "", "a" * 64, "a" * 65, "é", "volt\n", "volt-age", "v"]],
    reading({"positiveActiveEnergy": energy(1)} | {f"m{i}": {"value": i} for i in range(31)}),
    reading({"positiveActiveEnergy": energy(1)} | {f"m{i}": {"value": i} for i in range(32)}),
    reading({1: {"value": 1}}),
    # first bad metric decides the message
    reading({"voltage": 5, "positiveActiveEnergy": {"total": -1, "unit": "kWh"}}),
    reading({"positiveActiveEnergy": {"total": -1, "unit": "J"}}),
    # the envelope
    reading({}), reading(None), reading([]), reading("data"), reading({"positiveActiveEnergy": energy(1)}, None),
    reading({"positiveActiveEnergy": energy(1)}, 1716814800), reading({"positiveActiveEnergy": energy(1)}, "yesterday"),
    reading({"positiveActiveEnergy": energy(1)}, "2024-05-27T15:00:00+02:00"),
    reading({"positiveActiveEnergy": energy(1)}, "2024-05-27 13:00:00.123456789z"),
    reading({"positiveActiveEnergy": energy(1)}, "2024-02-30T00:00:00Z"),
    reading({"positiveActiveEnergy": energy(1)}, "2200-01-01T00:00:00Z"),
    reading({"positiveActiveEnergy": energy(1)}, " 2024-05-27T13:00:00Z"),
    {"timestamp": "2024-05-27T13:00:00Z"}, {"data": {"positiveActiveEnergy": energy(1)}},
    {"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": energy(1)}, "id": 1},
    {"timestamp": "2024-05-27T13:00:00Z", "extra": {"positiveActiveEnergy": energy(1)}},
    {"time": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": energy(1)}},
    {}, None, [], "reading", 5,
    # bounds: registers up to 1e12 kWh or m3 after conversion, other metrics within ±1e15 (issue 10)
    *[reading({"positiveActiveEnergy": energy(value, unit)}) for value, unit in
      [(1e12, "kWh"), (1.0000000000001e12, "kWh"), (1e15, "Wh"), (1.000000000001e15, "Wh"), (1e9, "MWh"),
       (1.000000001e9, "MWh"), (1e308, "MWh"), (1e13, "kWh")]],
    *[reading({"negativeActiveEnergy": energy(1, "kWh", **{tier: value})}) for tier, value in
      [("t1", 1e12), ("t2", 2e12), ("t3", 1e15), ("t4", 1e300)]],
    *[reading({"positiveGasVolume": {"value": value, "unit": unit}}) for value, unit in
      [(1e12, "m3"), (1.0000000000001e12, "m3"), (1e15, "l"), (1.000000000001e15, "dm3"), (1.7e308, "m3")]],
    *[reading({"voltage": {field: value}}) for field, value in
      [("l1", 1e15), ("l2", -1e15), ("l3", 1.000000000001e15), ("total", -1.000000000001e15), ("value", 1.7e308)]],
    reading({"voltage": {"unit": "V", "l1": 230.1}, "positiveActiveEnergy": energy(1.0, "kWh"), "zeta": {"value": -1e15}}),
    # gauges (docs/semantics.md §1): every unit of every known instantaneous metric, normalised
    *[reading({metric: {"l1": 1.5, "l3": -2, "total": 0.25, "unit": unit}}) for metric, unit in
      [("positiveActiveInstantaneousPower", "W"), ("positiveActiveInstantaneousPower", "kW"),
       ("positiveActiveInstantaneousPower", "MW"), ("negativeActiveInstantaneousPower", "W"),
       ("negativeActiveInstantaneousPower", "kW"), ("negativeActiveInstantaneousPower", "MW"),
       ("instantaneousVoltage", "V"), ("instantaneousVoltage", "kV"),
       ("instantaneousCurrent", "A"), ("instantaneousCurrent", "mA")]],
    *[reading({metric: {"value": 12.5, "unit": unit}}) for metric, unit in
      [("stateOfCharge", "%"), ("stateOfCharge", "percent"), ("range", "km"), ("range", "m"), ("range", "mi"),
       ("odometer", "km"), ("odometer", "m"), ("odometer", "mi")]],
    # units: case-insensitive after strip ("mw" is a megawatt, like "mwh" a MWh; "MA" a milliampere), unknown ones
    *[reading({"positiveActiveInstantaneousPower": {"total": 2, "unit": unit}}) for unit in
      ["w", "kw", "KW", "mw", "mW", " kW ", "kW\n", "GW", "kVA", "", "W h", None]],
    *[reading({"instantaneousVoltage": {"l2": 0.4, "unit": unit}}) for unit in ["v", "KV", "mV", "volt"]],
    *[reading({"instantaneousCurrent": {"l1": 16, "unit": unit}}) for unit in ["a", "MA", "ma", "kA"]],
    *[reading({"stateOfCharge": {"value": 50, "unit": unit}}) for unit in ["PERCENT", " % ", "pct", "", None]],
    *[reading({"range": {"value": 100, "unit": unit}}) for unit in ["KM", "M", "Mi", "miles", "ft", None]],
    *[reading({"odometer": {"value": 100, "unit": unit}}) for unit in ["MI", "yd", None]],
    # unit missing or null: a 400 for every known metric (an unknown metric may go without)
    *[reading({metric: {"l1": 1}}) for metric in
      ["positiveActiveInstantaneousPower", "negativeActiveInstantaneousPower", "instantaneousVoltage",
       "instantaneousCurrent"]],
    *[reading({metric: {"value": 1}}) for metric in ["stateOfCharge", "range", "odometer"]],
    reading({"instantaneousVoltage": {"l1": 230, "unit": None}}), reading({"range": {"value": 1, "unit": None}}),
    # fields: phase metrics take l1, l2, l3, total; value metrics value; a null number is dropped
    *[reading({"positiveActiveInstantaneousPower": {field: 1, "l1": 1, "unit": "W"}}) for field in
      ["value", "t1", "t4"]],
    *[reading({metric: {"value": 1, field: 1, "unit": unit}}) for metric, unit in
      [("stateOfCharge", "%"), ("range", "km"), ("odometer", "km")] for field in ["total", "l1"]],
    reading({"instantaneousCurrent": {"l4": 1, "unit": "A"}}),
    reading({"instantaneousVoltage": {"l1": 230, "l2": None, "l3": 231, "total": None, "unit": "V"}}),
    reading({"instantaneousVoltage": {"unit": "V", "total": 400, "l3": 3, "l2": 2, "l1": 1}}),
    # no number
    reading({"instantaneousVoltage": {"unit": "V"}}),
    reading({"instantaneousVoltage": {"l1": None, "l2": None, "l3": None, "total": None, "unit": "V"}}),
    reading({"stateOfCharge": {"unit": "%"}}), reading({"stateOfCharge": {"value": None, "unit": "%"}}),
    reading({"range": {"unit": "km"}}), reading({"odometer": {"value": None, "unit": "km"}}),
    reading({"instantaneousCurrent": {}}), reading({"range": {}}), reading({"stateOfCharge": 50}),
    # state of charge in 0..100, range and odometer not negative
    *[reading({"stateOfCharge": {"value": value, "unit": "%"}}) for value in
      [0, -0.0, 100, 100.1, -1, -1e-9, 99.99999, 1e15, math.nan, math.inf]],
    *[reading({metric: {"value": value, "unit": "km"}}) for metric in ["range", "odometer"] for value in
      [0, -0.0, -1, -1e-300, 1e15, 1.000000000001e15, math.inf]],
    # ±1e15 in the canonical unit: after conversion
    *[reading({"positiveActiveInstantaneousPower": {"l1": value, "unit": unit}}) for value, unit in
      [(1e15, "W"), (-1e15, "W"), (1e12, "kW"), (1.000000000001e12, "kW"), (1e9, "MW"), (-1.000000001e9, "MW"),
       (1e15, "kW"), (math.nan, "W"), (math.inf, "kW"), (-math.inf, "MW"), (HUGE, "W")]],
    *[reading({"negativeActiveInstantaneousPower": {field: 2e9, "unit": "MW"}}) for field in ["l2", "l3", "total"]],
    reading({"instantaneousCurrent": {"l1": 1e18, "unit": "mA"}}),
    reading({"instantaneousVoltage": {"total": 1e12, "unit": "kV"}}),
    reading({"range": {"value": 1e18, "unit": "m"}}), reading({"range": {"value": 1e15, "unit": "mi"}}),
    reading({"odometer": {"value": 6.2e14, "unit": "mi"}}),
    # everything at once; the gauges keep GAUGE_SERIES order whatever the order of the metrics
    reading({"range": {"unit": "mi", "value": 100}, "instantaneousCurrent": {"total": 32000, "unit": "mA"},
             "positiveActiveEnergy": energy(2500), "stateOfCharge": {"value": 80, "unit": "percent"},
             "negativeActiveInstantaneousPower": {"l1": 0.5, "unit": "kW"}, "odometer": {"value": 1000, "unit": "m"},
             "instantaneousVoltage": {"l1": 230, "l2": 231, "l3": 229, "unit": "V"}, "voltage": {"l1": 1},
             "positiveActiveInstantaneousPower": {"total": -1.5, "unit": "kW"}}),
    # known metric names are matched exactly
    reading({"StateOfCharge": {"value": 500, "unit": "%"}}), reading({"stateofcharge": {"value": 500}}),
    reading({"instantaneousPower": {"l1": 5, "unit": "kW"}}),
]


@pytest.mark.parametrize("index", range(len(READINGS)))
def test_reading_table(index: int) -> None:
    item = READINGS[index]
    if index == 138:  # a non-string metric name cannot come from JSON; it is refused all the same
        assert outcome(parse_reading, item) == ["error", "InvalidReading"]
        return
    assert outcome(parse_reading, item) == expected_reading(EXPECTED["readings"][index]), item


LINE = (b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": '
        b'{"t1": 12345678, "t2": 8765432, "total": 21111110, "unit": "Wh"}, '
        b'"negativeActiveEnergy": {"t1": 1234567, "total": 1234567, "unit": "Wh"}}}')
LINES = [
    LINE, LINE + b"\n", LINE + b"\r\n", b"  " + LINE + b" \t", LINE.replace(b'"Wh"', b'"kWh"'),
    b'{"data": {"positiveGasVolume": {"unit": "l", "value": 2500}}, "timestamp": "2024-05-27 13:00:00.5z"}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"negativeGasVolume": {"value": 1.5e3, "unit": "dm3"}, '
    b'"positiveActiveEnergy": {"total": 0.1, "t4": 0, "t3": -0.0, "unit": "MWh"}}}',
    # values: JSON ints and floats, -0, exponents, huge, out of range
    *[b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": %s, "unit": "kWh"}}}' % v
      for v in [b"0", b"-0", b"-0.0", b"1", b"1.5", b"1e3", b"1E-400", b"1e400", b"-1", b"-1e-300", b"9007199254740993",
                b"18446744073709551615", b"18446744073709551616", b"123456789012345678901234567890", b"1" * 400,
                b"0.1000000000000000055511151231257827", b"2.4703282292062328e-324", b"1.7976931348623159e308",
                b"true", b"false", b"null", b'"1"', b"[1]", b"{}", b"NaN", b"Infinity", b"01", b"1.", b".5", b"+1"]],
    # nulls, absent and unknown fields, duplicate keys (DuplicateKey: no decoder silently keeps the last)
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh", "t1": null}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh", "value": null}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh", "t5": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "m3", "total": null}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": null, "unit": "m3"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": null}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "total": null, "unit": "kWh"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": null, "total": 2, "unit": "kWh"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}, '
    b'"negativeActiveEnergy": {"total": 2, "unit": "kWh"}, "positiveActiveEnergy": {"total": 3, "unit": "Wh"}}}',
    b'{"timestamp": "yesterday", "timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}, "data": {}}',
    # units and strings: escapes, other spellings, bad UTF-8 and surrogates, control characters
    b'{"timestamp": "2024-05-27T13:00:00\\u005a", "data": {"positiveActiveEnergy": {"total": 1, "unit": "k\\u0057h"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "m\\u00b3"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "m\xc2\xb3"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": " l"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "KWH"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "\xff"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "\\ud800"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh\x01"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z\xed\xa0\x80", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}}',
    # metrics the typed path leaves to the full path, and envelopes
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"l1": 230}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}, "voltage": {"l1": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {}}', b'{"timestamp": "2024-05-27T13:00:00Z"}',
    b'{"timestamp": "2024-05-27T15:00:00+02:00", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}}',
    b'{"timestamp": "2024-02-30T00:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}}',
    b'{"timestamp": 1716814800, "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "l"}}, "id": 1}',
    # not JSON, or not one JSON value
    b"", b"\n", b"   ", b"\x0c", b"null", b"[]", b"{", b"{not json", LINE + LINE, LINE + b" {}", LINE + b",",
    b"\xef\xbb\xbf" + LINE, LINE[:-1], LINE.replace(b": ", b":\x0c"), LINE.replace(b"}}}", b"},}}"),
    # keys given twice, found whatever the escapes (colons are counted: escaped ones must not hide a pair)
    b'{"timestamp": "2024-05-27T13\\u003a00\\u003A00Z", "data": {"voltage": {"value": 1}}}',
    b'{"timestamp": "2024-05-27T13\\u003a00:00Z", "timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1, "unit": "\\\\u003a"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1, "unit": "\\\\u003a", "unit": "V"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "tot\\u0061l": 2, "unit": "kWh"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "Total": 2, "unit": "kWh"}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1}, "voltage": {"value": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1, "l1": {"a": 1, "a": 2}}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1}}, "data": {"voltage": {"value": 1}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"v:a": {"value": 1}, "v:a": {"value": 2}}}',
    b'{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1, "unit": "a:b:c"}}}',
]


def line_outcome(line: bytes) -> list[Any]:
    return outcome(decode_reading, line)


@pytest.mark.parametrize("index", range(len(LINES)))
def test_line_table(index: int) -> None:
    assert line_outcome(LINES[index]) == expected_reading(EXPECTED["lines"][index]), LINES[index]


# Mostly valid pieces (so most readings reach the end of the fast path), with a share of every kind of bad one.
def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten (one_of would pick each branch alike)."""
    return st.integers(0, 9).flatmap(lambda i: bad if i == 0 else good)


good_numbers = st.one_of(st.integers(0, 2**64), st.integers(0, 10**7), st.floats(0, 1e15), st.just(-0.0))
bad_numbers = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.just(HUGE), st.just(-HUGE), st.sampled_from(["1", [1]]),
)
numbers = mostly(good_numbers, bad_numbers)
signed = st.one_of(st.integers(-(2**64), 2**64), st.floats(-1e15, 1e15), numbers)
energy_units = mostly(st.sampled_from(["Wh", "kWh", "MWh", "kwh"]), st.sampled_from([" kWh", "J", None, 1, "WH"]))
volume_units = mostly(st.sampled_from(["m3", "m³", "dm3", "l", "L"]), st.sampled_from(["M3", "gal", None, " l"]))
good_tiered = st.builds(  # tiers in order, 'total' and 'unit' present
    lambda tiers, total, unit: {**dict(sorted(tiers.items())), "total": total, "unit": unit},
    st.dictionaries(st.sampled_from(["t1", "t2", "t3", "t4"]), st.one_of(good_numbers, st.none()), max_size=4),
    numbers, energy_units)
tiered = mostly(good_tiered, st.one_of(
    st.builds(  # anything: keys in any order, missing or unknown fields
        lambda d, unit: d | ({"unit": unit} if unit != "-" else {}),
        st.dictionaries(st.sampled_from(["t1", "t2", "t3", "t4", "total", "t5", "value"]), numbers, max_size=6),
        st.one_of(energy_units, st.just("-"))),
    bad_numbers,
))
good_volume = st.one_of(
    st.builds(lambda v, u: {"value": v, "unit": u}, numbers, volume_units),
    st.builds(lambda u, v: {"unit": u, "value": v}, volume_units, numbers),
)
volume = mostly(good_volume, st.one_of(
    st.dictionaries(st.sampled_from(["value", "unit", "total"]), st.one_of(numbers, volume_units), max_size=3),
    bad_numbers,
))
phase_units = st.sampled_from(["V", "kW", "%", None, "x" * 16, "x" * 17, 5, "W", "MW", "mA", "A", "kV", "km", "mi",
                               "percent", " w "])
good_phase = st.dictionaries(
    st.sampled_from(["l1", "l2", "l3", "total", "value", "unit"]), signed, min_size=1, max_size=5,
).flatmap(lambda d: st.builds(lambda u: d | {"unit": u} if "unit" in d else d, phase_units))
phase = mostly(good_phase, st.one_of(
    st.dictionaries(st.sampled_from(["l1", "l2", "l3", "total", "value", "unit", "l4"]),
                    st.one_of(signed, phase_units), max_size=6),
    bad_numbers,
))
good_names = st.sampled_from(["voltage", "stateOfCharge", "positiveActiveInstantaneousPower", "v9", "range",
                               "odometer", "instantaneousVoltage", "instantaneousCurrent",
                               "negativeActiveInstantaneousPower"])
metric_names = mostly(good_names, st.sampled_from(["Bad Name", "x_y", "9v", ""]))
metric_data = st.dictionaries(
    st.sampled_from(["positiveActiveEnergy", "negativeActiveEnergy"]), tiered, max_size=2
).flatmap(lambda d: st.builds(
    lambda vol, other, first: ({**other, **vol, **d} if first else {**d, **vol, **other}),
    st.dictionaries(st.sampled_from(["positiveGasVolume", "negativeGasVolume"]), volume, max_size=2),
    st.dictionaries(metric_names, phase, max_size=2),  # (a reading with no metric at all is refused)
    st.booleans(),
))
good_times = st.integers(MIN_US, MAX_US - 1).map(format_datetime)
good_items = st.builds(reading, metric_data, good_times)
items = mostly(good_items, st.one_of(
    st.builds(reading, metric_data, date_times),
    st.dictionaries(st.sampled_from(["timestamp", "data", "id"]),
                    st.one_of(good_times, metric_data, numbers), max_size=3),
))


def check_invariants(result: list[Any]) -> None:
    """A parsed reading's registers are exactly its register fields, in canonical units and non-negative; its
    gauges exactly its gauge fields, in canonical units and bounded."""
    if result[0] != "ok":
        return
    data = orjson.loads(result[2])
    registers = eval(result[3])  # noqa: S307 - our own repr of a tuple of floats and None
    for (metric, field), value in zip(REGISTER_SERIES, registers):
        measurement = data.get(metric)
        assert value == (None if measurement is None else measurement.get(field or "value"))
        assert value is None or (0.0 <= value <= 1e12)
        if measurement is not None:
            assert measurement["unit"] in ("kWh", "m3")
    gauges = eval(result[4]) if len(result) > 4 else NO_GAUGES  # noqa: S307
    assert gauges != NO_GAUGES or len(result) == 4
    assert gauges == gauge_values(data)
    for (metric, field), value in zip(GAUGE_SERIES, gauges):
        measurement = data.get(metric)
        assert value == (None if measurement is None else measurement.get(field))
        assert value is None or -1e15 <= value <= 1e15
        if measurement is not None:
            assert measurement["unit"] == GAUGE_UNITS[metric]
            assert list(measurement)[-1] == "unit"
    if "stateOfCharge" in data:
        assert 0 <= data["stateOfCharge"]["value"] <= 100
    if "odometer" in data:
        assert data["odometer"]["unit"] == "km" and 0 <= data["odometer"]["value"] <= 1e15


GAUGE_MESSAGES = [
    ({"instantaneousVoltage": {"l1": 230}}, "'instantaneousVoltage.unit' is required (one of kv, v)"),
    ({"positiveActiveInstantaneousPower": {"l1": 1, "unit": "GW"}},
     "'positiveActiveInstantaneousPower.unit' must be one of kw, mw, w; got 'GW'"),
    ({"stateOfCharge": {"value": 1, "unit": "pct"}}, "'stateOfCharge.unit' must be one of %, percent; got 'pct'"),
    ({"range": {"value": 1, "unit": None}}, "'range.unit' is required (one of km, m, mi)"),
    ({"instantaneousCurrent": {"l1": 1, "value": 2, "unit": "A"}},
     "'instantaneousCurrent' has unknown field(s) 'value'; it has only 'l1', 'l2', 'l3', 'total' and 'unit'"),
    ({"odometer": {"value": 1, "total": 2, "unit": "km"}},
     "'odometer' has unknown field(s) 'total'; it has only 'value' and 'unit'"),
    ({"instantaneousVoltage": {"l1": None, "unit": "V"}},
     "'instantaneousVoltage' needs a number in at least one of 'l1', 'l2', 'l3', 'total'"),
    ({"stateOfCharge": {"unit": "%"}}, "'stateOfCharge.value' is required"),
    ({"stateOfCharge": {"value": 100.1, "unit": "%"}}, "'stateOfCharge.value' must be a percentage from 0 to 100"),
    ({"range": {"value": -1, "unit": "mi"}},
     "'range.value' must be a finite number from 0 to 1e15 km (after unit conversion)"),
    ({"negativeActiveInstantaneousPower": {"total": 2e9, "unit": "MW"}},
     "'negativeActiveInstantaneousPower.total' must be a finite number from -1e15 to 1e15 W (after unit conversion)"),
]


@pytest.mark.parametrize("data, message", GAUGE_MESSAGES)
def test_gauge_refusals_name_the_metric_and_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_reading(reading(data))
    assert (caught.value.code, caught.value.message) == ("InvalidReading", message)


def test_gauge_values_reads_normalised_data_back() -> None:
    """copy.py rebuilds a Reading from stored data: its gauges are those the parser gave, and a metric kept as
    sent (not in its canonical unit) has none."""
    parsed = parse_reading(READINGS[311])
    assert gauge_values(parsed.data) == parsed.gauges != NO_GAUGES
    assert gauge_values({"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}) is NO_GAUGES
    kept = {"positiveActiveInstantaneousPower": {"l1": 5.0, "unit": "kW"}, "stateOfCharge": {"value": 50},
            "range": {"value": 3, "unit": "km"}, "instantaneousVoltage": 230}
    assert gauge_values(kept) == (None,) * 17 + (3.0,)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_random_readings_parse_alike_from_objects_and_json(item: Any) -> None:
    parsed = outcome(parse_reading, item)
    check_invariants(parsed)
    try:
        line = orjson.dumps(item)
    except orjson.JSONEncodeError:  # ints beyond 64 bits: not JSON
        return
    if orjson.loads(line) != item:  # orjson writes NaN and ±inf as null: the line is another reading
        return
    if parsed[0] == "ok" or parsed[1] == "InvalidReading":
        assert outcome(decode_reading, line) == parsed, line
