"""Peak demand per bucket and the capacity tariff (docs/semantics.md §10, §6).

Tables of inputs and expected outputs (an edge case found once becomes a row), then property tests against
a brute-force reference: every demand window's `/aggregations` value, its coverage read off the series.
"""

from __future__ import annotations

import doctest
import itertools
from datetime import UTC, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain import demand
from connect_readings.domain.demand import (
    MonthPeak,
    MonthTariff,
    Peak,
    capacity_months,
    demand_grid,
    largest_window,
    valid_demand_window,
)
from connect_readings.domain.errors import DomainError
from connect_readings.domain.grid import month_label
from connect_readings.domain.interval import Interval
from connect_readings.domain.registers import (
    Bracket, ResetOffsets, Sample, bucket_deltas, reset_deltas, value_at, with_offsets)

MIN = 60_000_000  # µs per minute: table times read as minutes
BRUSSELS = ZoneInfo("Europe/Brussels")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def continuous(raw: list[tuple[int, float]]) -> list[Sample]:
    """A raw register series (minutes, value) made continuous across resets, as storage hands it over."""
    offsets = ResetOffsets()
    for ts, offset in reset_deltas([t * MIN for t, _ in raw], [v for _, v in raw], None):
        offsets.add(ts, offset)
    return [with_offsets((t * MIN, v), offsets) for t, v in raw]  # type: ignore[misc]


def bracket(series: list[Sample], t: int) -> Bracket:
    """The readings at or before and at or after t."""
    before = [p for p in series if p[0] <= t]
    after = [p for p in series if p[0] >= t]
    return (before[-1] if before else None, after[0] if after else None)


def demand_edges(start: int, end: int, w: int, tz: ZoneInfo | None = None) -> list[int]:
    return demand_grid(w, tz).edges(start, end)


def peak_demand(edges: list[int], series: list[Sample], w: int) -> Peak | None:
    """`largest_window` over the edges inside the series' coverage, as `/statistics` asks it."""
    if len(series) < 2:
        return None
    inside = [e for e in edges if series[0][0] <= e <= series[-1][0]]
    return largest_window(inside, [value_at(e, bracket(series, e)) for e in inside], w)


def M(key: str) -> int:
    """'YYYY-MM' → the month index `capacity_months` takes."""
    year, month = key.split("-")
    return int(year) * 12 + int(month) - 1


def peak(value: float, energy: float, start: int, end: int) -> Peak:
    return Peak(value, energy, start * MIN, end * MIN)


# raw readings (minutes, kWh), window edges (minutes), w (minutes) → Peak or None
PEAKS: list[tuple[str, list[tuple[int, float]], list[int], int, Peak | None]] = [
    ("even consumption: every window ties, the earliest wins",
     [(0, 10.0), (30, 11.5)], [0, 15, 30], 15, peak(3.0, 0.75, 0, 15)),
    ("the largest window wins",
     [(0, 0.0), (15, 0.5), (30, 2.0), (45, 2.25)], [0, 15, 30, 45], 15, peak(6.0, 1.5, 15, 30)),
    ("ties after a smaller window: the earliest of the largest",
     [(0, 0.0), (15, 1.0), (30, 3.0), (45, 5.0)], [0, 15, 30, 45], 15, peak(8.0, 2.0, 15, 30)),
    ("a meter reset inside a window: the new raw value counts, never a negative amount",
     [(0, 100.0), (15, 100.2), (20, 2.0), (30, 2.2)], [0, 15, 30], 15, peak(8.8, 2.2, 15, 30)),
    ("a partly covered first window is left out, however large",
     [(5, 0.0), (15, 5.0), (30, 6.0)], [0, 15, 30], 15, peak(4.0, 1.0, 15, 30)),
    ("a partly covered last window is left out, however large",
     [(0, 0.0), (15, 1.0), (25, 9.0)], [0, 15, 30], 15, peak(4.0, 1.0, 0, 15)),
    ("coverage ending exactly on a window's end covers it",
     [(0, 0.0), (15, 1.0)], [0, 15, 30], 15, peak(4.0, 1.0, 0, 15)),
    ("coverage starting exactly on a window's start covers it",
     [(15, 0.0), (30, 2.0)], [0, 15, 30], 15, peak(8.0, 2.0, 15, 30)),
    ("coverage touching the window only at its start instant",
     [(0, 0.0), (15, 1.0)], [15, 30], 15, None),
    ("coverage touching the window only at its end instant",
     [(15, 0.0), (30, 1.0)], [0, 15], 15, None),
    ("a gap in the data is covered: the consumption is spread evenly over it",
     [(0, 0.0), (60, 4.0)], [0, 15, 30, 45, 60], 15, peak(4.0, 1.0, 0, 15)),
    ("no consumption: a peak of zero",
     [(0, 5.0), (30, 5.0)], [0, 15, 30], 15, peak(0.0, 0.0, 0, 15)),
    ("an hour window: kW equals kWh",
     [(0, 0.0), (60, 3.0)], [0, 60], 60, peak(3.0, 3.0, 0, 60)),
    ("five-minute windows: twelve to the hour",
     [(0, 0.0), (5, 0.1), (10, 0.3)], [0, 5, 10], 5, peak(2.4, 0.2, 5, 10)),
    ("float noise is rounded away",
     [(0, 0.1), (15, 0.3)], [0, 15], 15, peak(0.8, 0.2, 0, 15)),
    ("two edges less than w apart are no window (a DST remainder between windows)",
     [(0, 0.0), (15, 1.0), (25, 5.0), (40, 6.0)], [0, 15, 25, 40], 15, peak(4.0, 1.0, 0, 15)),
    ("a single reading covers no window", [(10, 1.0)], [0, 15, 30], 15, None),
    ("no readings", [], [0, 15, 30], 15, None),
    ("no whole window in the bucket", [(0, 0.0), (60, 1.0)], [], 15, None),
    ("one edge is no window", [(0, 0.0), (60, 1.0)], [15], 15, None),
]


@pytest.mark.parametrize(("raw", "edges", "w", "expected"), [case[1:] for case in PEAKS],
                         ids=[case[0] for case in PEAKS])
def test_peak_demand(raw: list[tuple[int, float]], edges: list[int], w: int, expected: Peak | None) -> None:
    series = continuous(raw)
    us = [e * MIN for e in edges]
    assert peak_demand(us, series, w * MIN) == expected


def test_largest_window_refuses_a_window_of_no_length() -> None:
    with pytest.raises(ValueError):
        largest_window([0, 15 * MIN], [0.0, 1.0], 0)


def test_peak_value_comes_from_the_unrounded_energy() -> None:
    """E = 0.1000000004 kWh over a minute: value = E × 60 rounded once (6.000000024), not the rounded E × 60
    (6.0); energy is E rounded once (0.1)."""
    result = largest_window([0, MIN], [0.0, 0.1000000004], MIN)
    assert result == Peak(6.000000024, 0.1, 0, MIN)


WINDOWS = [
    ("1 minute", 1), ("2 min", 2), ("3 minutes", 3), ("4 minutes", 4), ("5 minutes", 5), ("6 minutes", 6),
    ("10 minutes", 10), ("12 minutes", 12), ("15 minutes", 15), ("PT15M", 15), ("15 min", 15),
    ("900", 15), ("0.25 hours", 15), ("20 minutes", 20), ("PT30M", 30), ("1 hour", 60), ("PT1H", 60),
    ("60 minutes", 60), ("1 hour(s)", 60), (Interval(0, 0, 15 * MIN), 15),
]
BAD_WINDOWS = [
    "7 minutes", "45 minutes", "90 minutes", "2 hours", "1 day", "1 mon", "30 seconds", "15.5 minutes",
    "0 minutes", "-15 minutes", "1 hour ago", "banana", "", "pt15m", "x" * 300, Interval(0, 1, 0),
    Interval(1, 0, 0), Interval(0, 0, 15 * MIN + 1),
]


@pytest.mark.parametrize(("text", "minutes"), WINDOWS)
def test_valid_demand_window(text: str | Interval, minutes: int) -> None:
    assert valid_demand_window(text) == minutes * MIN


@pytest.mark.parametrize("text", BAD_WINDOWS)
def test_invalid_demand_window(text: str | Interval) -> None:
    with pytest.raises(DomainError) as error:
        valid_demand_window(text)
    assert error.value.code == "InvalidDemandWindow"
    assert "1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes" in error.value.message
    assert len(error.value.message) < 250


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp()) * 1_000_000


# bucket [start, end), w (minutes), zone → number of windows, first edge, last edge
EDGES = [
    ("a clipped bucket keeps its whole windows only",
     "2024-05-01T00:05:00+00:00", "2024-05-01T00:50:00+00:00", 15, None,
     2, "2024-05-01T00:15:00+00:00", "2024-05-01T00:45:00+00:00"),
    ("aligned edges are kept",
     "2024-05-01T00:00:00+00:00", "2024-05-01T00:30:00+00:00", 15, None,
     2, "2024-05-01T00:00:00+00:00", "2024-05-01T00:30:00+00:00"),
    ("no whole window", "2024-05-01T00:05:00+00:00", "2024-05-01T00:14:00+00:00", 15, None, 0, None, None),
    ("a 23-hour day in Brussels has 92 quarter-hours",
     "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", 15, BRUSSELS,
     92, "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
    ("a 25-hour day in Brussels has 100 quarter-hours, 02:00-03:00 twice",
     "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00", 15, BRUSSELS,
     100, "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00"),
    ("hour windows follow the local clock: Kathmandu's hours start at :15 UTC",
     "2024-01-01T00:00:00+05:45", "2024-01-02T00:00:00+05:45", 60, KATHMANDU,
     24, "2023-12-31T18:15:00+00:00", "2024-01-01T18:15:00+00:00"),
    ("a month of quarter-hours in Brussels, with its DST change",
     "2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00", 15, BRUSSELS,
     31 * 96 - 4, "2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
]


@pytest.mark.parametrize(("start", "end", "w", "tz", "windows", "first", "last"), [case[1:] for case in EDGES],
                         ids=[case[0] for case in EDGES])
def test_demand_edges(start: str, end: str, w: int, tz: ZoneInfo | None, windows: int, first: str | None,
                      last: str | None) -> None:
    edges = demand_edges(at(start), at(end), w * MIN, tz)
    assert max(len(edges) - 1, 0) == windows
    if windows:
        assert (edges[0], edges[-1]) == (at(first), at(last))  # type: ignore[arg-type]
        assert all(b - a == w * MIN for a, b in itertools.pairwise(edges))  # nominal = actual length
    else:
        assert edges == []


q = Peak(4.0, 1.0, 0, 15 * MIN)  # a month's peak of 4 kW (its window is not what this table is about)


def kw(value: float) -> Peak:
    return Peak(value, value / 4, 0, 15 * MIN)


def tariffs(rows: list[MonthTariff]) -> list[tuple[str, float, float, int]]:
    return [(month_label(t.month), t.billed_peak, t.rolling_mean, t.months_in_mean) for t in rows]


# months in order (month, peak, covered) → (month, billedPeak, rollingMean, monthsInMean) of the covered ones
CAPACITY: list[tuple[str, list[MonthPeak], str | None, list[tuple[str, float, float, int]]]] = [
    ("fewer than 12 months of history: the mean of what there is",
     [MonthPeak(M("2024-01"), kw(4.0), True), MonthPeak(M("2024-02"), kw(2.0), True), MonthPeak(M("2024-03"), kw(6.0), True)],
     None, [("2024-01", 4.0, 4.0, 1), ("2024-02", 2.5, 3.25, 2), ("2024-03", 6.0, 4.166666667, 3)]),
    ("a month without coverage in the middle is in neither the list nor the mean",
     [MonthPeak(M("2024-01"), kw(4.0), True), MonthPeak(M("2024-02"), None, False), MonthPeak(M("2024-03"), kw(6.0), True)],
     None, [("2024-01", 4.0, 4.0, 1), ("2024-03", 6.0, 5.0, 2)]),
    ("months without coverage may also be left out of the input",
     [MonthPeak(M("2023-11"), kw(4.0), True), MonthPeak(M("2024-02"), kw(6.0), True)],
     None, [("2023-11", 4.0, 4.0, 1), ("2024-02", 6.0, 5.0, 2)]),
    ("coverage but no whole quarter-hour: billed at the minimum, and in the mean",
     [MonthPeak(M("2024-01"), kw(4.0), True), MonthPeak(M("2024-02"), None, True)],
     None, [("2024-01", 4.0, 4.0, 1), ("2024-02", 2.5, 3.25, 2)]),
    ("a peak exactly at the minimum, and one below it",
     [MonthPeak(M("2024-01"), kw(2.5), True), MonthPeak(M("2024-02"), kw(0.0), True)],
     None, [("2024-01", 2.5, 2.5, 1), ("2024-02", 2.5, 2.5, 2)]),
    ("equal peaks in every month",
     [MonthPeak(M(f"2024-{m:02}"), kw(3.0), True) for m in range(1, 4)],
     None, [("2024-01", 3.0, 3.0, 1), ("2024-02", 3.0, 3.0, 2), ("2024-03", 3.0, 3.0, 3)]),
    ("the month 12 months back is out of the mean, 11 back is in",
     [MonthPeak(M("2023-05"), kw(100.0), True), MonthPeak(M("2023-06"), kw(10.0), True), MonthPeak(M("2024-05"), kw(4.0), True)],
     "2024-05", [("2024-05", 4.0, 7.0, 2)]),
    ("a full year: twelve months in the mean, the oldest dropped",
     [MonthPeak(M(f"{2023 + (m - 1) // 12}-{(m - 1) % 12 + 1:02}"), kw(float(m + 2)), True) for m in range(1, 15)],
     "2024-01", [("2024-01", 15.0, 9.5, 12), ("2024-02", 16.0, 10.5, 12)]),
    ("history before `since` is looked back on, not listed",
     [MonthPeak(M("2023-12"), kw(8.0), True), MonthPeak(M("2024-01"), None, True)],
     "2024-01", [("2024-01", 2.5, 5.25, 2)]),
    ("nothing covered", [MonthPeak(M("2024-01"), None, False)], None, []),
    ("no months", [], None, []),
]


@pytest.mark.parametrize(("months", "since", "expected"), [case[1:] for case in CAPACITY],
                         ids=[case[0] for case in CAPACITY])
def test_capacity_months(months: list[MonthPeak], since: str | None,
                         expected: list[tuple[str, float, float, int]]) -> None:
    result = capacity_months(months, None if since is None else M(since))
    assert tariffs(result) == expected
    by_month = {m.month: m.peak for m in months}
    assert all(t.peak is by_month[t.month] for t in result)


@pytest.mark.parametrize("months", [
    [MonthPeak(M("2024-02"), q, True), MonthPeak(M("2024-01"), q, True)],   # out of order
    [MonthPeak(M("2024-01"), q, True), MonthPeak(M("2024-01"), q, True)],   # twice
    [MonthPeak(M("2024-01"), q, False)],                                  # a peak without coverage
])
def test_capacity_months_refuses(months: list[MonthPeak]) -> None:
    with pytest.raises(ValueError):
        capacity_months(months)


def test_docstring_examples() -> None:
    assert doctest.testmod(demand).failed == 0


# ---------------------------------------------------------------------------------------------------------
# Property tests against a brute-force reference
# ---------------------------------------------------------------------------------------------------------

def register(series: list[Sample], t: int) -> Fraction:
    """R(t) straight from the definition, with exact rationals (t inside the coverage)."""
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        if t0 <= t <= t1:
            return Fraction(v0) + (Fraction(v1) - Fraction(v0)) * Fraction(t - t0, t1 - t0)
    raise AssertionError(f"{t} is outside the coverage")


def reference_peak(series: list[Sample], edges: list[int], w: int) -> Peak | None:
    """The largest `/aggregations` value at resolution w over the windows inside the coverage, × 1 h / w."""
    best: Peak | None = None
    for a, b in itertools.pairwise(edges):
        if not series or not (series[0][0] <= a and b <= series[-1][0]):
            continue
        (energy,) = bucket_deltas([a, b], [bracket(series, a), bracket(series, b)])  # the window's aggregation
        assert energy is not None
        assert abs(energy - float(register(series, b) - register(series, a))) <= 1e-9 * max(1.0, energy)
        if best is None or energy > best.energy:
            exact = register(series, b) - register(series, a)
            best = Peak(round(float(exact * 60 * MIN / w), 9), energy, a, b)
    return best


raw_series = st.lists(st.tuples(st.integers(0, 150), st.one_of(st.integers(0, 50).map(float),
                                                                st.floats(0, 1e5, allow_nan=False))),
                      max_size=12, unique_by=lambda p: p[0]).map(sorted)


@settings(max_examples=500, deadline=None)
@given(raw_series, st.integers(-10, 160), st.integers(1, 170), st.sampled_from([1, 2, 5, 15, 30, 60]))
def test_peak_demand_is_the_largest_covered_window(raw: list[tuple[int, float]], start: int, length: int,
                                                   w: int) -> None:
    series = continuous(raw)  # resets included: raw values go up and down
    edges = demand_edges(start * MIN, (start + length) * MIN, w * MIN)
    got, expected = peak_demand(edges, series, w * MIN), reference_peak(series, edges, w * MIN)
    assert same_peak(got, expected)


def same_peak(got: Peak | None, expected: Peak | None) -> bool:
    """Equal, the value to its last digit but one: the service interpolates in floats, the reference exactly."""
    if got is None or expected is None:
        return got is expected
    return (got.energy, got.start, got.end) == (expected.energy, expected.start, expected.end) and abs(
        got.value - expected.value) <= 2e-9 * max(1.0, abs(expected.value))


def local_boundaries(start: int, end: int, w: int, tz: ZoneInfo | None) -> list[int]:
    """Every whole-minute instant in [start, end] at which the local clock reads a multiple of w minutes,
    straight from zoneinfo: in a fall-back overlap the repeated wall-clock times are boundaries twice."""
    boundaries, t = [], -(-start // MIN) * MIN
    while t <= end:
        local = datetime.fromtimestamp(t / 1_000_000, tz or UTC)
        if local.second == 0 and (local.hour * 60 + local.minute) % w == 0:
            boundaries.append(t)
        t += MIN
    return boundaries


around_dst = st.one_of(st.integers(at("2024-03-30T22:00:00+00:00"), at("2024-03-31T03:00:00+00:00")),
                       st.integers(at("2024-10-26T22:00:00+00:00"), at("2024-10-27T03:00:00+00:00")))


@settings(max_examples=300, deadline=None)
@given(around_dst, st.integers(1, 5 * 60), st.sampled_from([1, 5, 15, 30, 60]),
       st.sampled_from([BRUSSELS, KATHMANDU, None]))
def test_demand_windows_are_the_local_clock_windows(start: int, minutes: int, w: int, tz: ZoneInfo | None) -> None:
    """The windows are the [t, t + w) inside [start, end) where the local clock reads a multiple of w at t,
    both times through a DST overlap; each is w long."""
    end = start + minutes * MIN
    boundaries = local_boundaries(start, end, w, tz)
    expected = [(a, b) for a, b in itertools.pairwise(boundaries) if b - a == w * MIN]
    edges = demand_edges(start, end, w * MIN, tz)
    assert [(a, b) for a, b in itertools.pairwise(edges) if b - a == w * MIN] == expected
    assert all(b - a == w * MIN for a, b in itertools.pairwise(edges))  # no short gaps in these zones


def test_an_overnight_charge_across_the_fall_back_hour_is_not_a_fivefold_peak() -> None:
    """7.4 kW all night on 2024-10-27 in Brussels: every quarter-hour, 02:00-03:00 both times, holds
    1.85 kWh; the peak is 7.4 kW."""
    day_start, day_end = at("2024-10-27T00:00:00+02:00"), at("2024-10-28T00:00:00+01:00")
    series = [(t, 7.4 * (t - day_start) / (60 * MIN)) for t in range(day_start, day_end + 1, 60 * MIN)]
    edges = demand_edges(day_start, day_end, 15 * MIN, BRUSSELS)
    assert len(edges) == 101
    result = peak_demand(edges, series, 15 * MIN)
    assert result == Peak(7.4, 1.85, day_start, day_start + 15 * MIN)


@pytest.mark.parametrize(("tz", "year", "windows"), [
    (BRUSSELS, 2024, 366 * 96), (ZoneInfo("Australia/Lord_Howe"), 2024, 366 * 96), (KATHMANDU, 2024, 366 * 96),
    (ZoneInfo("America/St_Johns"), 2016, 366 * 96)], ids=str)
def test_a_local_year_of_quarter_hours_is_all_windows(tz: ZoneInfo, year: int, windows: int) -> None:
    """Every quarter-hour of a local year is a window exactly 15 minutes long (shifts of 30 and 60 minutes)."""
    start = int(datetime(year, 1, 1, tzinfo=tz).timestamp()) * 1_000_000
    end = int(datetime(year + 1, 1, 1, tzinfo=tz).timestamp()) * 1_000_000
    edges = demand_edges(start, end, 15 * MIN, tz)
    assert len(edges) - 1 == windows
    assert all(b - a == 15 * MIN for a, b in itertools.pairwise(edges))
