"""Aggregations read from the stored quarter-hour edges (docs/semantics.md §5, Quarter-hour edges), on every backend.

Two witnesses: a table of days worked out by hand (clock changes of several zones; a meter reset; a gap longer
than an hour, whose buckets are read from the readings), each asserting that its buckets came from the edges
where they should; and a property against an oracle in exact fractions, written here, over random meters with
resets and gaps, in several zones and widths.
"""

from __future__ import annotations

import uuid
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain.grid import Grid
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import parse_reading
from connect_readings.domain.registers import aggregate
from connect_readings.domain.timefmt import format_datetime, parse_datetime
from connect_readings.storage.base import REGISTER_INDEX, Store
from connect_readings.usecases.aggregations import consumption

MIN = 60_000_000
TOTAL = REGISTER_INDEX["positive_total"]


def reading(ts: int, t1: float, t2: float) -> object:
    return parse_reading({"timestamp": format_datetime(ts), "data": {
        "positiveActiveEnergy": {"t1": t1, "t2": t2, "total": t1 + t2, "unit": "kWh"}}})


def day_edges(zone: str, day: str, resolution: str) -> list[int]:
    """The edges of the local day's buckets."""
    tz = ZoneInfo(zone)
    start = parse_datetime(day, "day", tz)
    return Grid(parse_resolution(resolution), tz).edges(start, Grid(parse_resolution("1 day"), tz).next(start))


# zone, local day, width, reading step (min), what the meter does → the totals of the buckets, by hand
# (run-length: (kWh, buckets)); "1 kW" counts t1, "reset" sets t1 back to 0 at the day's 06:00 UTC reading.
DAYS = [
    ("Brussels autumn, 15 min, 1 kW: 100 quarter-hours of 0.25", "Europe/Brussels", "2024-10-27", "15 minutes", 5,
     "1 kW", [(0.25, 100)]),
    ("Brussels spring, 1 h, 1 kW: 23 hours of 1", "Europe/Brussels", "2024-03-31", "1 hour", 15, "1 kW", [(1.0, 23)]),
    ("Lord Howe spring, 15 min, 1 kW: 94 quarter-hours", "Australia/Lord_Howe", "2024-10-06", "15 minutes", 15,
     "1 kW", [(0.25, 94)]),
    ("Lord Howe autumn, 1 h: 01:00 lasts 90 minutes", "Australia/Lord_Howe", "2024-04-07", "1 hour", 15, "1 kW",
     [(1.0, 1), (1.5, 1), (1.0, 22)]),
    # t1 restarts from 1/12 kWh at 06:00Z (46 quarter-hours into the day): t1 is unchanged, but the total (t1 + the
    # 5 kWh of t2) falls too, so by the reset rule it rises by its new raw value, 5 + 1/12, in the quarter ending then
    ("Kolkata, 15 min, a reset at 06:00Z", "Asia/Kolkata", "2024-06-12", "15 minutes", 5, "reset",
     [(0.25, 45), (5.25, 1), (0.25, 50)]),
]


@pytest.mark.parametrize(("zone", "day", "resolution", "step", "meter", "runs"), [c[1:] for c in DAYS],
                         ids=[c[0] for c in DAYS])
def test_days_worked_out_by_hand(store: Store, zone: str, day: str, resolution: str, step: int, meter: str,
                                 runs: list[tuple[float, int]]) -> None:
    entity = uuid.uuid4()
    edges = day_edges(zone, day, resolution)
    first, last = edges[0] - 60 * MIN, edges[-1] + 60 * MIN
    reset_at = (first // (86_400 * 1_000_000) + 1) * 86_400 * 1_000_000 + 6 * 60 * MIN
    items, t, base = [], first, 0.0
    while t <= last:
        kwh = (t - first) / (60 * MIN)
        if meter == "reset" and t >= reset_at:
            base = -((reset_at - step * MIN - first) / (60 * MIN))  # t1 restarts: its first value is the step's kWh
        items.append(reading(t, kwh + base, 5.0))
        t += step * MIN
    store.ingest(entity, items)
    with store.snapshot():
        registers, columns = store.register_edges(entity, edges)
        assert registers and all(None not in column for column in columns)  # every bucket read from the edges
        data, _ = consumption(store, entity, edges)
    totals = [item["positiveActiveEnergy"]["total"] for item in data]
    expected = [kwh for kwh, n in runs for _ in range(n)]
    assert totals == pytest.approx(expected, abs=1e-9)
    assert [item["positiveActiveEnergy"]["t2"] for item in data] == [0.0] * len(data)
    t1 = [item["positiveActiveEnergy"]["t1"] for item in data]
    assert t1 == pytest.approx([(end - start) / (60 * MIN) for start, end in zip(edges, edges[1:])], abs=1e-9)


def test_a_gap_longer_than_an_hour_is_read_from_the_readings(store: Store) -> None:
    """Readings every 15 min, then none for 3 hours: the buckets in the gap have no edges (their ends are read from
    the readings around them), and both kinds of bucket add up to the same line."""
    entity = uuid.uuid4()
    t0 = parse_datetime("2024-06-12T00:00:00Z")
    stamps = [t0 + k * 15 * MIN for k in range(9)] + [t0 + 5 * 60 * MIN + k * 15 * MIN for k in range(9)]
    store.ingest(entity, [reading(ts, (ts - t0) / (60 * MIN), 0.0) for ts in stamps])  # 1 kW throughout
    edges = [t0 + k * 15 * MIN for k in range(7 * 4 + 1)]
    with store.snapshot():
        _, (t1, *_) = store.register_edges(entity, edges)
        assert t1[8] is not None and t1[9] is None and t1[19] is None and t1[20] is not None
        data, _ = consumption(store, entity, edges)
    assert [item["positiveActiveEnergy"]["total"] for item in data] == pytest.approx([0.25] * 28, abs=1e-9)


# -- the property ------------------------------------------------------------------------------------------
T0 = parse_datetime("2024-10-26T20:00:00Z")  # the night of Brussels' autumn change


def oracle(samples: list[tuple[int, float]], edges: list[int]) -> list[Fraction | None]:
    """Consumption between consecutive edges, exactly: a decrease is a reset to zero, the counter is interpolated
    between readings and clamped to the first and last one."""
    stamps = [ts for ts, _ in samples]
    continuous, offset, previous = [], Fraction(0), None
    for _, raw in samples:
        value = Fraction(raw)
        if previous is not None and value < previous:
            offset += previous
        continuous.append(value + offset)
        previous = value

    def at(t: int) -> tuple[int, Fraction]:
        t = min(max(t, stamps[0]), stamps[-1])
        for i, ts in enumerate(stamps):
            if ts >= t:
                if ts == t:
                    return t, continuous[i]
                return t, continuous[i - 1] + (continuous[i] - continuous[i - 1]) * Fraction(t - stamps[i - 1],
                                                                                            ts - stamps[i - 1])
        raise AssertionError

    points = [at(e) for e in edges]
    return [b[1] - a[1] if b[0] > a[0] else None for a, b in zip(points, points[1:])]


meters = st.lists(st.tuples(st.one_of(st.integers(1, 60), st.sampled_from([15, 30, 61, 90])), st.floats(0, 3),
                            st.floats(0, 3), st.sampled_from([False] * 7 + [True])), min_size=1, max_size=60)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=meters, zone=st.sampled_from(["Europe/Brussels", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]),
       resolution=st.sampled_from(["15 minutes", "30 minutes", "1 hour", "2 hours", "1 day"]),
       window=st.tuples(st.integers(-120, 1200), st.integers(15, 2000)))
def test_edges_and_readings_agree_with_the_exact_oracle(store: Store, steps: list[tuple[int, float, float, bool]],
                                                        zone: str, resolution: str, window: tuple[int, int]) -> None:
    """Each step: minutes to the next reading (1 to 90: gaps under and over an hour), kWh added to t1 and t2, and
    whether t1 resets there (to the step's kWh)."""
    entity = uuid.uuid4()
    t, t1, t2, items, raw = T0, 100.0, 50.0, [], []
    for minutes, a, b, reset in steps:
        t += minutes * MIN
        t1 = a if reset else t1 + a
        t2 += b
        items.append(reading(t, t1, t2))
        raw.append((t, t1, t2))
    half = len(items) // 2
    store.ingest(entity, items[half:])  # late data: the second half first
    store.ingest(entity, items[:half])
    tz = None if zone == "UTC" else ZoneInfo(zone)
    start = T0 + window[0] * MIN
    grid = Grid(parse_resolution(resolution), tz)
    edges = grid.page_edges(start, start, start + window[1] * MIN, 500)
    with store.snapshot():
        data, _ = consumption(store, entity, edges)
        by_readings = aggregate(edges, store.register_brackets(entity, edges))
    expected = {name: oracle([(ts, v) for ts, *values in raw for v in [values[k]]], edges)
                for k, name in enumerate(("t1", "t2"))}
    expected["total"] = oracle([(ts, a + b) for ts, a, b in raw], edges)
    for i, item in enumerate(data):
        for field, column in expected.items():
            exact = column[i]
            got = item.get("positiveActiveEnergy", {}).get(field)
            if exact is None:
                assert got is None
            else:
                assert got is not None and abs(Fraction(got) - max(exact, Fraction(0))) <= Fraction(2, 10**9)
    for mine, theirs in zip(data, by_readings):
        assert mine.keys() == theirs.keys()
        for metric, fields in mine.items():
            for field, value in fields.items():
                if field != "unit":
                    assert value == pytest.approx(theirs[metric][field], abs=2e-9)
