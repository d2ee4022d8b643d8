"""Price series (the design doc on costs, §1): the pure rules of a series and of its intervals.

A price series is shared by many entities (e.g. `be-dayahead`) and named by a slug `[a-z0-9-]{1,64}`. It holds
half-open, non-overlapping intervals `[start, end)` in µs UTC, each with one price in the currency per kWh
(EUR/MWh ÷ 1000, exactly: the decimal digits as written, divided by 1000, then rounded once to a double).
Negative prices are valid. An interval written later replaces whatever it overlaps of the stored series
(`replace_overlapped`).

`PUT /v1/prices/{priceId}` body: `{"name": …, "unit": "EUR/MWh" | "EUR/kWh", "data": [{"start", "end",
"price"}]}`, read by `parse_price_body`. Files (ENTSO-E day-ahead XML, `start,end,price` CSV): ingest/entsoe.py.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from .documents import json_kind, json_object
from .errors import DomainError, quoted
from .timefmt import parse_datetime

PRICE_ID = re.compile(r"[a-z0-9-]{1,64}")
CURRENCY = "EUR"
UNITS: dict[str, Decimal] = {"EUR/MWh": Decimal("0.001"), "EUR/kWh": Decimal(1)}
"""The units a price may be given in → the factor to EUR/kWh (the stored unit)."""
MAX_INTERVALS = 100_000
"""Intervals per PUT body or per file (a year of quarter-hours is 35,040)."""
MAX_NAME = 200
"""Characters of a series' `name` (as an entity's name)."""
FIELDS = ("name", "unit", "data")
ITEM_FIELDS = ("start", "end", "price")


@dataclass(frozen=True, slots=True)
class PriceInterval:
    start: int
    """µs UTC, inclusive."""
    end: int
    """µs UTC, exclusive; > start."""
    price: float
    """Currency per kWh (finite; may be negative)."""


@dataclass(frozen=True, slots=True)
class PriceColumns:
    """Intervals of one series as three parallel columns (sorted by start, disjoint): what pricing reads.

    A year of hourly prices is 8,760 intervals; columns are built from the store's rows in a few list
    comprehensions, where as many `PriceInterval` objects cost more than the query (`python -m bench.costs`).

    >>> PriceColumns.of([PriceInterval(0, 10, 0.1), PriceInterval(10, 20, -0.2)]).ends
    [10, 20]
    """

    starts: list[int]
    ends: list[int]
    prices: list[float]

    @classmethod
    def of(cls, intervals: Sequence[PriceInterval]) -> PriceColumns:
        return cls([iv.start for iv in intervals], [iv.end for iv in intervals], [iv.price for iv in intervals])

    @classmethod
    def of_rows(cls, rows: Sequence[Sequence[Any]]) -> PriceColumns:
        """From (start, end, price) rows as both drivers return them (int, int, float)."""
        return cls([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


@dataclass(frozen=True, slots=True)
class PriceSeries:
    price_id: str
    name: str | None
    unit: str
    """The unit the series was last written in, as given (informational: every price is stored per kWh)."""
    currency: str = CURRENCY


def check_price_id(text: str) -> str:
    """The price id of a path, or InvalidPriceId.

    >>> check_price_id("be-dayahead")
    'be-dayahead'
    """
    if not isinstance(text, str) or not PRICE_ID.fullmatch(text):
        shown = quoted(text, 67) if isinstance(text, str) else "a " + type(text).__name__
        raise DomainError("InvalidPriceId",
                          f"a price id is 1 to 64 lower-case letters, digits and '-' (e.g. be-dayahead); got {shown}")
    return text


def per_kwh(amount: Decimal, unit: str) -> float:
    """A price as written (its exact decimal value) in `unit` → the stored double per kWh: one rounding.

    >>> per_kwh(Decimal("85.20"), "EUR/MWh"), per_kwh(Decimal("-0.01"), "EUR/MWh"), per_kwh(Decimal("0.25"), "EUR/kWh")
    (0.0852, -1e-05, 0.25)
    """
    return float(amount * UNITS[unit])


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidPrices", message)


def parse_price_body(body: bytes, price_id: str, zone: ZoneInfo | None) -> tuple[PriceSeries, list[PriceInterval]]:
    """A `PUT /v1/prices/{priceId}` body → the series and its intervals, sorted by start.

    A date-time without an offset is wall time in `zone` (UTC when None), as a query's `start` (semantics §2).
    `data` may be empty (the series is registered, or renamed, without intervals). Raises InvalidJson,
    DuplicateKey or InvalidPrices (the message names the field, e.g. `data[3]: end must be after start`).
    """
    document = json_object(body, FIELDS, "a price series", _invalid)
    name = document.get("name")
    if name is not None:
        if not isinstance(name, str):
            raise _invalid(f"'name' must be a string (or null); got {json_kind(name)}")
        if len(name) > MAX_NAME:
            raise _invalid(f"'name' must be at most {MAX_NAME} characters; got {len(name)}")
        if "\x00" in name:
            raise _invalid("'name' must not hold the character U+0000 (NUL)")
    unit = document.get("unit")
    if unit is None:
        raise _invalid(f"'unit' is required: one of {', '.join(UNITS)}")
    if not isinstance(unit, str) or unit not in UNITS:
        shown = quoted(unit, 40) if isinstance(unit, str) else json_kind(unit)
        raise _invalid(f"'unit' must be one of {', '.join(UNITS)}; got {shown}")
    data = document.get("data")
    if not isinstance(data, list):
        got = "nothing" if data is None else json_kind(data)
        raise _invalid(f"'data' must be an array of {{start, end, price}}; got {got}")
    if len(data) > MAX_INTERVALS:
        raise _invalid(f"'data' holds {len(data)} intervals; at most {MAX_INTERVALS} per request (send several)")
    intervals = [_interval(item, i, unit, zone) for i, item in enumerate(data)]
    order = sorted(range(len(intervals)), key=lambda i: intervals[i].start)
    for before, after in pairwise(order):
        if intervals[after].start < intervals[before].end:
            first, second = sorted((before, after))
            raise _invalid(f"data[{second}] overlaps data[{first}]; the intervals of one request must not overlap")
    return PriceSeries(price_id, name, unit), [intervals[i] for i in order]


def _interval(item: Any, i: int, unit: str, zone: ZoneInfo | None) -> PriceInterval:
    where = f"data[{i}]"
    if not isinstance(item, dict):
        raise _invalid(f"{where} must be an object {{start, end, price}}; got {json_kind(item)}")
    unknown = [key for key in item if key not in ITEM_FIELDS]
    if unknown:
        raise _invalid(f"{where}: unknown field {quoted(unknown[0], 40)}; an interval has start, end, price")
    for key in ITEM_FIELDS:
        if item.get(key) is None:
            raise _invalid(f"{where}: '{key}' is required")
    stamps = []
    for key in ("start", "end"):
        value = item[key]
        if not isinstance(value, str):
            raise _invalid(f"{where}: '{key}' must be an RFC 3339 date-time string; got {json_kind(value)}")
        try:
            stamps.append(parse_datetime(value, f"{where}.{key}", zone))
        except DomainError as exc:
            raise _invalid(exc.message) from None
    start, end = stamps
    if end <= start:
        raise _invalid(f"{where}: end must be after start")
    price = item["price"]
    if not is_number(price):
        raise _invalid(f"{where}: 'price' must be a finite number; got {json_kind(price)}")
    return PriceInterval(start, end, per_kwh(decimal_of(price), unit))


def is_number(value: Any) -> bool:
    """A finite JSON number (never a boolean, never a string)."""
    return (type(value) is int) or (type(value) is float and math.isfinite(value))


def decimal_of(value: float) -> Decimal:
    """A JSON number's decimal value as written: the shortest text of the double (what the client sent)."""
    return Decimal(value) if type(value) is int else Decimal(repr(value))


def check_disjoint(intervals: Sequence[PriceInterval]) -> None:
    """ValueError unless `intervals` are sorted by start and do not overlap (the invariant of a stored series)."""
    for a, b in pairwise(intervals):
        if b.start < a.end:
            raise ValueError(f"intervals overlap or are out of order: {a} and {b}")


def replace_overlapped(stored: Sequence[PriceInterval], new: Sequence[PriceInterval]) -> list[PriceInterval]:
    """The series after writing `new`: each new interval replaces whatever it overlaps. A stored interval keeps
    the parts no new interval covers (with its own price); both inputs are sorted and disjoint, and so is the
    result.

    >>> stored = [PriceInterval(0, 60, 1.0), PriceInterval(60, 120, 2.0)]
    >>> replace_overlapped(stored, [PriceInterval(15, 30, 9.0)])  # doctest: +NORMALIZE_WHITESPACE
    [PriceInterval(start=0, end=15, price=1.0), PriceInterval(start=15, end=30, price=9.0),
     PriceInterval(start=30, end=60, price=1.0), PriceInterval(start=60, end=120, price=2.0)]
    >>> replace_overlapped(stored, [PriceInterval(30, 90, 9.0)])  # doctest: +NORMALIZE_WHITESPACE
    [PriceInterval(start=0, end=30, price=1.0), PriceInterval(start=30, end=90, price=9.0),
     PriceInterval(start=90, end=120, price=2.0)]
    >>> replace_overlapped(stored, [PriceInterval(0, 120, 5.0)])
    [PriceInterval(start=0, end=120, price=5.0)]
    """
    result: list[PriceInterval] = list(new)
    for old in stored:
        cursor = old.start
        i = bisect_right(new, old.start, key=_end)  # the first new interval ending after the old one starts
        while i < len(new) and new[i].start < old.end:
            if new[i].start > cursor:
                result.append(PriceInterval(cursor, new[i].start, old.price))
            cursor = max(cursor, new[i].end)
            i += 1
        if cursor < old.end:
            result.append(PriceInterval(cursor, old.end, old.price))
    result.sort(key=_start)
    return result


def _start(interval: PriceInterval) -> int:
    return interval.start


def _end(interval: PriceInterval) -> int:
    return interval.end


def price_at(intervals: Sequence[PriceInterval], t: int) -> float | None:
    """The price at instant `t` (µs UTC) of a sorted, disjoint series; None in a gap.

    >>> series = [PriceInterval(0, 60, 1.0), PriceInterval(90, 120, 2.0)]
    >>> price_at(series, 0), price_at(series, 59), price_at(series, 60), price_at(series, 90), price_at(series, -1)
    (1.0, 1.0, None, 2.0, None)
    """
    i = bisect_right(intervals, t, key=_start) - 1
    if i >= 0 and t < intervals[i].end:
        return intervals[i].price
    return None


def price_edges(intervals: Sequence[PriceInterval], lo: int, hi: int) -> list[int]:
    """Every start and end of a sorted, disjoint series strictly inside `(lo, hi)`, ascending, each once: where
    the price may change within a window.

    >>> series = [PriceInterval(0, 60, 1.0), PriceInterval(60, 90, 2.0), PriceInterval(100, 120, 3.0)]
    >>> price_edges(series, 0, 120), price_edges(series, 30, 100), price_edges(series, 61, 89)
    ([60, 90, 100], [60, 90], [])
    """
    edges: list[int] = []
    i = bisect_right(intervals, lo, key=_end)  # the first interval ending after lo
    while i < len(intervals) and intervals[i].start < hi:
        for edge in (intervals[i].start, intervals[i].end):
            if lo < edge < hi and (not edges or edges[-1] != edge):
                edges.append(edge)
        i += 1
    return edges
