"""Price series (domain/prices.py): the PUT body, and the pure rules of intervals."""

from __future__ import annotations

import json
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_readings.domain import prices
from connect_readings.domain.errors import DomainError
from connect_readings.domain.prices import (
    MAX_INTERVALS,
    PriceInterval,
    PriceSeries,
    check_price_id,
    parse_price_body,
    price_at,
    price_edges,
    replace_overlapped,
)
from connect_readings.domain.timefmt import parse_datetime

BRUSSELS = ZoneInfo("Europe/Brussels")


def t(text: str) -> int:
    return parse_datetime(text)


def body(data: list[object] | object, unit: object = "EUR/MWh", **more: object) -> bytes:
    return json.dumps({"unit": unit, "data": data, **more}).encode()


def item(start: str, end: str, price: object) -> dict[str, object]:
    return {"start": start, "end": end, "price": price}


@pytest.mark.parametrize("text", ["be-dayahead", "a", "0", "-", "x" * 64, "nl-epex-15min"])
def test_price_ids(text: str) -> None:
    assert check_price_id(text) == text


@pytest.mark.parametrize("text", ["", "x" * 65, "BE-dayahead", "be_dayahead", "be dayahead", "é", "be-dayahead\n"])
def test_bad_price_ids(text: str) -> None:
    with pytest.raises(DomainError) as error:
        check_price_id(text)
    assert error.value.code == "InvalidPriceId"
    assert "1 to 64 lower-case letters, digits and '-'" in error.value.message


def test_a_body() -> None:
    series, intervals = parse_price_body(body(
        [item("2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z", 85.2),
         item("2025-01-01T00:00:00Z", "2025-01-01T00:15:00Z", -0.01),
         item("2025-01-01T00:15:00+00:00", "2025-01-01T01:00:00Z", 100)],
        name="Belgian day-ahead"), "be-dayahead", None)
    assert series == PriceSeries("be-dayahead", "Belgian day-ahead", "EUR/MWh", "EUR")
    assert intervals == [  # sorted by start; EUR/MWh ÷ 1000 exactly
        PriceInterval(t("2025-01-01T00:00:00Z"), t("2025-01-01T00:15:00Z"), -0.00001),
        PriceInterval(t("2025-01-01T00:15:00Z"), t("2025-01-01T01:00:00Z"), 0.1),
        PriceInterval(t("2025-01-01T01:00:00Z"), t("2025-01-01T02:00:00Z"), 0.0852),
    ]


@pytest.mark.parametrize(
    ("mwh", "kwh"),
    [(85.2, 0.0852), (0.1, 0.0001), (-499.99, -0.49999), (3000, 3.0), (1e-3, 1e-6), (12.345, 0.012345), (0, 0.0)],
)
def test_exact_conversion(mwh: float, kwh: float) -> None:
    _, intervals = parse_price_body(body([item("2025-01-01", "2025-01-02", mwh)]), "x", None)
    assert intervals[0].price == kwh


def test_per_kwh_unit_and_wall_times() -> None:
    series, intervals = parse_price_body(
        body([item("2025-01-01", "2025-01-01T01:00", 0.25)], unit="EUR/kWh"), "x", BRUSSELS)
    assert series == PriceSeries("x", None, "EUR/kWh")
    assert intervals == [PriceInterval(t("2024-12-31T23:00:00Z"), t("2025-01-01T00:00:00Z"), 0.25)]


def test_empty_data_registers_the_series() -> None:
    assert parse_price_body(body([], name=None), "x", None) == (PriceSeries("x", None, "EUR/MWh"), [])


def test_adjacent_intervals_do_not_overlap() -> None:
    data = [item("2025-01-01T00:00Z", "2025-01-01T01:00Z", 1), item("2025-01-01T01:00Z", "2025-01-01T02:00Z", 2)]
    assert len(parse_price_body(body(data), "x", None)[1]) == 2


GOOD = item("2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z", 1.0)


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b"", "InvalidJson", "not valid JSON"),
        (b"{", "InvalidJson", "not valid JSON"),
        (b'{"unit": "EUR/MWh", "data": [{"start": "2025-01-01", "end": "2025-01-02", "price": 1e999}]}',
         "InvalidJson", "numbers must lie within a double"),
        (b'{"unit": "EUR/MWh", "data": [{"start": "2025-01-01", "end": "2025-01-02", "price": NaN}]}',
         "InvalidJson", "not valid JSON"),
        (b"[]", "InvalidPrices", "the body must be a JSON object {name, unit, data}"),
        (b'{"unit": "EUR/MWh", "unit": "EUR/kWh", "data": []}', "DuplicateKey", "'unit' appears twice"),
        ((b'{"unit": "EUR/MWh", "data": [{"start": "2025-01-01", "start": "2025-01-02", "end": "2025-01-03", '
          b'"price": 1}]}'), "DuplicateKey", "'start' appears twice"),
        (body([], currency="EUR"), "InvalidPrices", "unknown field 'currency'; a price series has name, unit, data"),
        (json.dumps({"data": []}).encode(), "InvalidPrices", "'unit' is required: one of EUR/MWh, EUR/kWh"),
        (body([], unit="EUR/MWH"), "InvalidPrices", "'unit' must be one of EUR/MWh, EUR/kWh; got 'EUR/MWH'"),
        (body([], unit="USD/MWh"), "InvalidPrices", "got 'USD/MWh'"),
        (body([], unit=1000), "InvalidPrices", "'unit' must be one of EUR/MWh, EUR/kWh; got a number"),
        (json.dumps({"unit": "EUR/MWh"}).encode(), "InvalidPrices",
         "'data' must be an array of {start, end, price}; got nothing"),
        (body({"start": "2025-01-01"}), "InvalidPrices", "got an object"),
        (body([], name=5), "InvalidPrices", "'name' must be a string (or null); got a number"),
        (body([], name="x" * 201), "InvalidPrices", "'name' must be at most 200 characters; got 201"),
        (body([], name="a\x00b"), "InvalidPrices", "'name' must not hold the character U+0000"),
        (body([GOOD, 5]), "InvalidPrices", "data[1] must be an object {start, end, price}; got a number"),
        (body([GOOD, {**GOOD, "currency": "EUR"}]), "InvalidPrices", "data[1]: unknown field 'currency'"),
        (body([{"start": "2025-01-01", "price": 1}]), "InvalidPrices", "data[0]: 'end' is required"),
        (body([{**GOOD, "price": None}]), "InvalidPrices", "data[0]: 'price' is required"),
        (body([{**GOOD, "start": 1735689600}]), "InvalidPrices",
         "data[0]: 'start' must be an RFC 3339 date-time string; got a number"),
        (body([GOOD, {**GOOD, "end": "soon"}]), "InvalidPrices",
         "'data[1].end' must be an RFC 3339 date-time such as 2024-05-27T13:00:00Z; got 'soon'"),
        (body([{**GOOD, "end": GOOD["start"]}]), "InvalidPrices", "data[0]: end must be after start"),
        (body([GOOD, GOOD, GOOD, item("2025-01-02T00:00Z", "2025-01-01T00:00Z", 1)]), "InvalidPrices",
         "data[3]: end must be after start"),
        (body([{**GOOD, "price": "0.25"}]), "InvalidPrices",
         "data[0]: 'price' must be a finite number; got a string"),
        (body([{**GOOD, "price": True}]), "InvalidPrices",
         "data[0]: 'price' must be a finite number; got a boolean"),
        (body([{**GOOD, "price": [1]}]), "InvalidPrices", "got an array"),
        (body([item("2025-01-01T00:00Z", "2025-01-01T02:00Z", 1),
               item("2025-01-01T03:00Z", "2025-01-01T04:00Z", 1),
               item("2025-01-01T01:00Z", "2025-01-01T01:15Z", 1)]), "InvalidPrices",
         "data[2] overlaps data[0]; the intervals of one request must not overlap"),
        (body([GOOD, GOOD]), "InvalidPrices", "data[1] overlaps data[0]"),
    ],
)
def test_bad_bodies(raw: bytes, code: str, fragment: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_price_body(raw, "x", None)
    assert error.value.code == code
    assert fragment in error.value.message, error.value.message


def test_too_many_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_INTERVALS == 100_000
    monkeypatch.setattr(prices, "MAX_INTERVALS", 3)
    with pytest.raises(DomainError, match=r"'data' holds 4 intervals; at most 3 per request \(send several\)"):
        parse_price_body(body([GOOD] * 4), "x", None)


# --- replace_overlapped, price_at, price_edges -------------------------------------------------------------------

P = PriceInterval


@pytest.mark.parametrize(
    ("stored", "new", "expected"),
    [
        ([], [P(0, 60, 1.0)], [P(0, 60, 1.0)]),
        ([P(0, 60, 1.0)], [], [P(0, 60, 1.0)]),
        ([P(0, 60, 1.0)], [P(15, 30, 2.0)], [P(0, 15, 1.0), P(15, 30, 2.0), P(30, 60, 1.0)]),
        ([P(0, 60, 1.0)], [P(0, 60, 2.0)], [P(0, 60, 2.0)]),
        ([P(0, 60, 1.0)], [P(60, 120, 2.0)], [P(0, 60, 1.0), P(60, 120, 2.0)]),  # adjacent: untouched
        ([P(0, 60, 1.0)], [P(-10, 10, 2.0), P(50, 70, 3.0)], [P(-10, 10, 2.0), P(10, 50, 1.0), P(50, 70, 3.0)]),
        ([P(0, 60, 1.0)], [P(10, 20, 2.0), P(20, 30, 3.0), P(40, 50, 4.0)],
         [P(0, 10, 1.0), P(10, 20, 2.0), P(20, 30, 3.0), P(30, 40, 1.0), P(40, 50, 4.0), P(50, 60, 1.0)]),
        ([P(0, 15, 1.0), P(15, 30, 2.0), P(30, 45, 3.0), P(45, 60, 4.0)], [P(0, 60, 9.0)], [P(0, 60, 9.0)]),
        ([P(0, 15, 1.0), P(15, 30, 2.0), P(45, 60, 4.0)], [P(10, 50, 9.0)],
         [P(0, 10, 1.0), P(10, 50, 9.0), P(50, 60, 4.0)]),
        ([P(0, 10, 1.0), P(100, 110, 2.0)], [P(40, 50, 3.0)], [P(0, 10, 1.0), P(40, 50, 3.0), P(100, 110, 2.0)]),
    ],
)
def test_replace_overlapped(stored: list[P], new: list[P], expected: list[P]) -> None:
    assert replace_overlapped(stored, new) == expected


def _series(draw: st.DrawFn) -> list[P]:
    edges = sorted(set(draw(st.lists(st.integers(0, 40), max_size=12))))
    keep = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    return [P(a, b, float(draw(st.integers(-3, 3)))) for a, b, k in zip(edges, edges[1:], keep, strict=False) if k]


series = st.composite(_series)


@given(series(), series())
def test_replace_overlapped_against_a_model(stored: list[P], new: list[P]) -> None:
    result = replace_overlapped(stored, new)
    assert all(a.end <= b.start for a, b in pairwise(result))
    assert all(i.start < i.end for i in result)
    for instant in range(-1, 42):
        fresh = price_at(new, instant)
        assert price_at(result, instant) == (fresh if fresh is not None else price_at(stored, instant))


SERIES = [P(0, 60, 1.0), P(60, 90, 2.0), P(100, 120, -3.0)]


@pytest.mark.parametrize(
    ("instant", "price"),
    [(-1, None), (0, 1.0), (59, 1.0), (60, 2.0), (89, 2.0), (90, None), (99, None), (100, -3.0), (119, -3.0),
     (120, None)],
)
def test_price_at(instant: int, price: float | None) -> None:
    assert price_at(SERIES, instant) == price
    assert price_at([], instant) is None


@pytest.mark.parametrize(
    ("lo", "hi", "edges"),
    [(0, 120, [60, 90, 100]), (-10, 130, [0, 60, 90, 100, 120]), (30, 100, [60, 90]), (61, 89, []), (60, 90, []),
     (95, 105, [100]), (120, 200, []), (-50, -10, [])],
)
def test_price_edges(lo: int, hi: int, edges: list[int]) -> None:
    assert price_edges(SERIES, lo, hi) == edges


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(prices).failed == 0
