"""The fast paths of reading validation and date-time parsing give exactly what the full paths give.

`parse_reading` tries `_fast_reading` (exact-type checks, canonical date-times) and falls back to
`_parse_reading`; `parse_datetime` tries a cached/sliced canonical parser and falls back to `_parse_datetime`.
Each case below runs through both, and the results must be identical (same timestamp, same data with the same
key order and float bits, same registers) or the errors identical (same code and message).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain import timefmt
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import (
    _fast_reading,
    _parse_reading,
    decode_batch,
    decode_reading,
    decode_readings,
    parse_reading,
    stored_data,
)
from connect_readings.domain.timefmt import (
    MAX_US,
    MIN_US,
    _parse_datetime,
    canonical_datetime,
    days_from_civil,
    format_datetime,
    parse_datetime,
)


def outcome(parse: Any, *args: Any) -> tuple[Any, ...]:
    """What a parser made of its input, in a form that tells apart key order, -0.0 and int/float."""
    try:
        result = parse(*args)
    except DomainError as exc:
        return ("error", exc.code, exc.message, exc.description)
    except Exception as exc:  # noqa: BLE001 - a non-domain error must be the same one too
        return ("raised", type(exc).__name__, str(exc))
    if isinstance(result, int):
        return ("ok", result)
    return ("ok", type(result).__name__, result.ts, repr(result.data), repr(result.registers),
            [type(v).__name__ for v in result.registers])


def same_reading(item: Any) -> tuple[Any, ...]:
    fast, slow = outcome(parse_reading, item), outcome(_parse_reading, item)
    assert fast == slow, (item, fast, slow)
    return fast


def same_datetime(text: str) -> tuple[Any, ...]:
    slow = outcome(_parse_datetime, text, "timestamp")
    timefmt._HOURS.clear()
    cold = outcome(parse_datetime, text, "timestamp")
    warm = outcome(parse_datetime, text, "timestamp")
    assert cold == warm == slow, (text, cold, warm, slow)
    quick = canonical_datetime(text)
    assert quick is None or slow == ("ok", quick), (text, quick, slow)
    return slow


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
    # separators, case, whitespace
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


@pytest.mark.parametrize("text", DATETIMES)
def test_datetime_fast_path_matches_full_parser(text: str) -> None:
    same_datetime(text)


@pytest.mark.parametrize("text", ["2024-05-27T13:00:00Z", "2024-05-27 13:00:00z", "2024-05-27T13:00:00",
                                  "2024-05-27T13:00:00.5Z", "2024-05-27T13:00:00.123456789Z", "1900-01-01T00:00:00Z",
                                  "2199-12-31T23:59:59.999999Z", "2024-02-29T00:00:00Z"])
def test_canonical_shapes_take_the_fast_path(text: str) -> None:
    assert canonical_datetime(text) == _parse_datetime(text, "t")


def test_days_from_civil_matches_the_calendar() -> None:
    day, one = datetime(1900, 1, 1), timedelta(days=1)
    while day.year < 2200:
        assert days_from_civil(day.year, day.month, day.day) == (day - datetime(1970, 1, 1)).days
        day += one


def test_hour_cache_is_bounded() -> None:
    timefmt._HOURS.clear()
    for hour in range(timefmt._CACHE_LIMIT + 10):
        us = MIN_US + hour * 3_600_000_000 + 59_999_999
        assert parse_datetime(format_datetime(us)) == us
    assert len(timefmt._HOURS) <= timefmt._CACHE_LIMIT


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


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(date_times)
def test_datetime_fast_path_matches_full_parser_on_random_input(text: str) -> None:
    same_datetime(text)


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
]


@pytest.mark.parametrize("item", READINGS, ids=range(len(READINGS)))
def test_reading_fast_path_matches_full_path(item: Any) -> None:
    same_reading(item)


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 7, 8])
def test_common_shapes_take_the_fast_path(index: int) -> None:
    assert _fast_reading(READINGS[index]) is not None  # (tiers out of order, 5 and 6, take the full path)


def test_stored_data_keeps_only_other_metrics() -> None:
    assert stored_data({"positiveActiveEnergy": {}, "positiveGasVolume": {}}) is None
    assert stored_data({"positiveActiveEnergy": {}, "zeta": {"value": 1}, "alpha": {}}) == {"zeta": {"value": 1}, "alpha": {}}
    assert list(stored_data({"zeta": {}, "alpha": {}}) or {}) == ["zeta", "alpha"]


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
phase_units = st.sampled_from(["V", "kW", "%", None, "x" * 16, "x" * 17, 5])
good_phase = st.dictionaries(
    st.sampled_from(["l1", "l2", "l3", "total", "value", "unit"]), signed, min_size=1, max_size=5,
).flatmap(lambda d: st.builds(lambda u: d | {"unit": u} if "unit" in d else d, phase_units))
phase = mostly(good_phase, st.one_of(
    st.dictionaries(st.sampled_from(["l1", "l2", "l3", "total", "value", "unit", "l4"]),
                    st.one_of(signed, phase_units), max_size=6),
    bad_numbers,
))
good_names = st.sampled_from(["voltage", "stateOfCharge", "positiveActiveInstantaneousPower", "v9"])
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


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_reading_fast_path_matches_full_path_on_random_input(item: Any) -> None:
    same_reading(item)


def test_utc_round_trip_of_fast_timestamps() -> None:
    start = datetime(2024, 2, 28, 23, 59, 0, tzinfo=timezone.utc)
    for i in range(200):
        moment = start + timedelta(seconds=i, microseconds=i * 4999)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert parse_datetime(text) == (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


# -- the typed path: msgspec decodes JSON text into Structs ---------------------------------------------
def full_path(line: bytes) -> tuple[Any, ...]:
    """What the importer's full path makes of a line: orjson, then parse_reading."""
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ("json-error",)
    return outcome(parse_reading, item)


def same_line(line: bytes) -> bool:
    """The typed path either declines a line or gives what the full path gives; returns whether it took it."""
    typed = decode_reading(line)
    if typed is None:
        return False
    assert outcome(lambda: typed) == full_path(line), line
    return True


def same_body(lines: list[bytes]) -> bool:
    body = b'{"data": [' + b", ".join(lines) + b"]}"
    typed = decode_batch(body)
    if typed is None:
        return False
    items = orjson.loads(body)["data"]
    assert [outcome(lambda r=r: r) for r in typed] == [outcome(parse_reading, item) for item in items], body
    assert decode_readings(lines) is not None
    return True


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
    # nulls, absent and unknown fields, duplicate keys (the last wins in both decoders)
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
]


@pytest.mark.parametrize("line", LINES, ids=range(len(LINES)))
def test_typed_path_matches_the_full_path(line: bytes) -> None:
    same_line(line)


def test_typed_path_takes_the_common_lines() -> None:
    assert all(same_line(line) for line in LINES[:7])
    assert same_body(LINES[:7])
    assert decode_readings(LINES[:7]) is not None
    assert decode_readings([*LINES[:7], b""]) is None  # (a blank line or a reading it declines: all declined)
    assert decode_batch(b'{"data": []}') is None and decode_batch(b'{"data": [], "x": 1}') is None


json_numbers = mostly(
    st.one_of(  # non-negative JSON numbers in every spelling (digits beyond double precision, exponents, -0)
        st.from_regex(r"-?0|(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
        st.integers(0, 2**70).map(str), st.floats(0, 1e20).map(repr),
    ),
    st.one_of(st.from_regex(r"-(0|[1-9][0-9]{0,5})(\.[0-9]{1,3})?", fullmatch=True),
              st.sampled_from(["null", "true", '"1"', "1e400", "{}", "NaN"])),
)
json_units = st.sampled_from(['"kWh"', '"Wh"', '"MWh"', '"kwh"', '"m3"', '"l"', '"dm3"', '"m\\u00b3"', '" kWh"', "null", "1"])
register_text = st.lists(
    st.tuples(st.sampled_from(["t1", "t2", "t3", "t4", "total", "value", "unit", "total", "l1"]),
              st.one_of(json_numbers, json_units)),
    max_size=7,
).map(lambda fields: "{" + ", ".join(f'"{k}": {v}' for k, v in fields) + "}")
tiered_text = st.builds(
    lambda tiers, total, unit: "{" + "".join(f'"{k}": {v}, ' for k, v in tiers) + f'"total": {total}, "unit": {unit}}}',
    st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3", "t4"]), st.one_of(json_numbers, st.just("null"))), max_size=4),
    json_numbers, st.sampled_from(['"kWh"', '"Wh"', '"MWh"', '"k\\u0057h"']),
)
volume_text = st.builds(lambda value, unit: f'{{"value": {value}, "unit": {unit}}}', json_numbers,
                        st.sampled_from(['"m3"', '"l"', '"dm3"', '"m\\u00b3"']))
metric_text = mostly(
    st.one_of(st.tuples(st.sampled_from(["positiveActiveEnergy", "negativeActiveEnergy"]), tiered_text),
              st.tuples(st.sampled_from(["positiveGasVolume", "negativeGasVolume"]), volume_text)),
    st.tuples(st.sampled_from(["positiveActiveEnergy", "positiveGasVolume", "voltage"]), register_text),
)
json_timestamps = mostly(good_times.map(lambda t: f'"{t}"'), date_times.map(lambda t: orjson.dumps(t).decode()))
reading_text = st.builds(
    lambda ts, metrics, extra: '{"timestamp": ' + ts + ', "data": {'
    + ", ".join(f'"{name}": {value}' for name, value in metrics) + "}" + extra + "}",
    json_timestamps,
    st.lists(metric_text, min_size=1, max_size=3),
    mostly(st.just(""), st.sampled_from([', "id": 1', ', "timestamp": "2024-05-27T13:00:00Z"', ', "data": {}'])),
).map(str.encode)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(reading_text)
def test_typed_path_matches_the_full_path_on_random_json(line: bytes) -> None:
    same_line(line)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reading_text, min_size=1, max_size=5))
def test_typed_batch_matches_the_full_path_on_random_json(lines: list[bytes]) -> None:
    same_body(lines)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_typed_path_matches_the_full_path_on_random_readings(item: Any) -> None:
    try:
        line = orjson.dumps(item)
    except orjson.JSONEncodeError:  # ints beyond 64 bits
        return
    same_line(line)
