"""Peak demand per bucket and the capacity tariff through a real store, on every backend (statistics §4, §6).

Tables first (an edge case found once becomes a row), then the invariant as a property: a bucket's peak is
the largest `/aggregations` value at resolution w over the windows inside it and inside the coverage, × 1 h / w.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.usecases import statistics as statistics_service
from connect_readings.domain.demand import Peak
from connect_readings.domain.errors import DomainError
from connect_readings.domain.grid import month_label
from connect_readings.domain.interval import Interval
from connect_readings.domain.readings import parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.usecases.aggregations import AggregationQuery, aggregation_page
from connect_readings.usecases.statistics import CapacityMonth, bucket_peaks, capacity_tariff
from connect_readings.storage.base import Store

MIN = 60_000_000
HOUR = 60 * MIN
BRUSSELS = ZoneInfo("Europe/Brussels")
KOLKATA = ZoneInfo("Asia/Kolkata")
T0 = 1_704_067_200_000_000  # 2024-01-01T00:00Z
POS, NEG = "positiveActiveEnergy", "negativeActiveEnergy"


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp()) * 1_000_000


def ingest(store: Store, entity: uuid.UUID, rows: list[tuple[int, float | None, float | None]]) -> None:
    """(µs, offtake kWh, injection kWh); None leaves the register out of the reading."""
    readings = []
    for ts, pos, neg in rows:
        data: dict[str, Any] = {}
        if pos is not None:
            data[POS] = {"total": pos, "unit": "kWh"}
        if neg is not None:
            data[NEG] = {"total": neg, "unit": "kWh"}
        readings.append(parse_reading({"timestamp": format_datetime(ts), "data": data}))
    if readings:
        store.ingest(entity, readings)


def minutes(rows: list[tuple[int, float | None, float | None]]) -> list[tuple[int, float | None, float | None]]:
    return [(T0 + m * MIN, p, n) for m, p, n in rows]


def pk(value: float, energy: float, start: int, end: int) -> Peak:
    return Peak(value, energy, T0 + start * MIN, T0 + end * MIN)


@pytest.fixture(params=["scan", "seek", "seek-chunked", "scan-chunked"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of reading a register (its samples, or seeks at the edges), and chunks of 2 edges."""
    if request.param.startswith("seek"):
        monkeypatch.setattr(statistics_service, "SCAN_RATIO", 0)
    if request.param.endswith("chunked"):
        monkeypatch.setattr(statistics_service, "CHUNK_EDGES", 2)
    return request.param


# readings (minutes, offtake, injection), bucket edges (minutes), w (minutes) → per bucket {metric: Peak}
BUCKETS: list[tuple[str, list[tuple[int, float | None, float | None]], list[int], int, list[dict[str, Peak]]]] = [
    ("a meter reset inside a window: the new raw value counts",
     [(0, 100.0, None), (15, 100.2, None), (20, 2.0, None), (30, 2.2, None)], [0, 30], 15,
     [{POS: pk(8.8, 2.2, 15, 30)}]),
    ("a partly covered first and last window are no candidates, however large",
     [(5, 0.0, None), (15, 5.0, None), (30, 6.0, None), (40, 16.0, None)], [0, 45], 15,
     [{POS: pk(4.0, 1.0, 15, 30)}]),
    ("ties: the earliest window",
     [(0, 0.0, None), (15, 1.0, None), (30, 3.0, None), (45, 5.0, None)], [0, 45], 15,
     [{POS: pk(8.0, 2.0, 15, 30)}]),
    ("each bucket its own peak; a bucket without a whole covered window has none",
     [(0, 0.0, None), (15, 1.0, None), (30, 1.5, None), (45, 3.5, None), (60, 4.0, None)], [0, 30, 60, 90], 15,
     [{POS: pk(4.0, 1.0, 0, 15)}, {POS: pk(8.0, 2.0, 30, 45)}, {}]),
    ("a clipped bucket keeps its whole windows only",
     [(0, 0.0, None), (15, 9.0, None), (30, 10.0, None), (45, 11.5, None)], [5, 45], 15,
     [{POS: pk(6.0, 1.5, 30, 45)}]),
    ("a gap in the data is covered: interpolation spreads it evenly",
     [(0, 0.0, None), (15, 0.5, None), (75, 4.5, None)], [0, 75], 15, [{POS: pk(4.0, 1.0, 15, 30)}]),
    ("injection has its own peak; a register missing from some readings still brackets exactly",
     [(0, 0.0, 10.0), (15, 1.0, None), (30, 2.0, 13.0), (45, None, 13.5)], [0, 45], 15,
     [{POS: pk(4.0, 1.0, 0, 15), NEG: pk(6.0, 1.5, 0, 15)}]),
    ("hour windows", [(0, 0.0, None), (30, 1.0, None), (60, 4.0, None), (120, 5.0, None)], [0, 120], 60,
     [{POS: pk(4.0, 4.0, 0, 60)}]),
    ("no readings", [], [0, 60], 15, [{}]),
    ("a single reading covers nothing", [(10, 1.0, None)], [0, 60], 15, [{}]),
]


@pytest.mark.parametrize(("rows", "edges", "w", "expected"), [c[1:] for c in BUCKETS], ids=[c[0] for c in BUCKETS])
def test_bucket_peaks(store: Store, read_path: str, rows: list[tuple[int, float | None, float | None]],
                      edges: list[int], w: int, expected: list[dict[str, Peak]]) -> None:
    entity = uuid.uuid4()
    ingest(store, entity, minutes(rows))
    with store.snapshot():
        found = bucket_peaks(store, entity, [T0 + e * MIN for e in edges], w * MIN, None, [POS, NEG, "positiveGasVolume"])
    assert found == expected


def test_bucket_peaks_of_the_requested_metrics_only(store: Store) -> None:
    entity = uuid.uuid4()
    ingest(store, entity, minutes([(0, 0.0, 0.0), (15, 1.0, 1.0)]))
    with store.snapshot():
        assert bucket_peaks(store, entity, [T0, T0 + 15 * MIN], 15 * MIN, None, [NEG]) == [{NEG: pk(4.0, 1.0, 0, 15)}]
        assert bucket_peaks(store, entity, [T0], 15 * MIN, None, [POS]) == []


def quarter_hours(start: int, end: int, kwh: float, spikes: dict[int, float]) -> list[tuple[int, float | None, None]]:
    """A reading every quarter-hour: kwh per quarter-hour, more in the quarter-hours starting at `spikes`."""
    rows, total, t = [], 0.0, start
    while t <= end:
        rows.append((t, round(total, 6), None))
        total += spikes.get(t, kwh)
        t += 15 * MIN
    return rows


DST_DAYS = [
    ("spring forward: 03:00+02:00 follows 01:45+01:00", "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00",
     {"2024-03-31T03:00:00+02:00": 2.0}, "2024-03-31T03:00:00+02:00"),
    ("fall back: the repeated hour's quarter-hours are windows, its second 02:15 too",
     "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00",
     {"2024-10-27T02:15:00+01:00": 2.0}, "2024-10-27T02:15:00+01:00"),
    ("fall back: equal spikes at both 02:15s, the earlier wins",
     "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00",
     {"2024-10-27T02:15:00+01:00": 2.0, "2024-10-27T02:15:00+02:00": 2.0}, "2024-10-27T02:15:00+02:00"),
]


@pytest.mark.parametrize(("start", "end", "spikes", "peak_at"), [c[1:] for c in DST_DAYS], ids=[c[0] for c in DST_DAYS])
def test_dst_days_in_brussels(store: Store, start: str, end: str, spikes: dict[str, float], peak_at: str) -> None:
    entity = uuid.uuid4()
    lo, hi = at(start), at(end)
    ingest(store, entity, quarter_hours(lo - HOUR, hi + HOUR, 0.25, {at(k): v for k, v in spikes.items()}))
    with store.snapshot():
        (found,) = bucket_peaks(store, entity, [lo, hi], 15 * MIN, BRUSSELS, [POS])
    assert found[POS] == Peak(8.0, 2.0, at(peak_at), at(peak_at) + 15 * MIN)
    assert (hi - lo) // (15 * MIN) in (92, 100)


def test_dst_fall_back_every_real_quarter_hour_is_a_window(store: Store) -> None:
    """100 windows on 2024-10-27 in Brussels: a spike in any one of them is found, in particular the
    quarter-hours of the grid's 75-minute bucket."""
    lo, hi = at("2024-10-27T00:00:00+02:00"), at("2024-10-28T00:00:00+01:00")
    entity = uuid.uuid4()
    ingest(store, entity, quarter_hours(lo, hi, 0.25, {}))
    spots = [lo + k * 15 * MIN for k in range(100)]
    with store.snapshot():
        peaks = bucket_peaks(store, entity, [lo] + [s + 15 * MIN for s in spots], 15 * MIN, BRUSSELS, [POS])
    assert [p[POS].start for p in peaks] == spots


def month_rows(tariffs: list[CapacityMonth]) -> list[tuple[str, float | None, float, float, int]]:
    return [(month_label(m.tariff.month), None if m.tariff.peak is None else m.tariff.peak.value, m.tariff.billed_peak,
             m.tariff.rolling_mean, m.tariff.months_in_mean) for m in tariffs]


def monthly(spec: dict[str, float], base: float = 0.25) -> list[tuple[int, float | None, float | None]]:
    """Quarter-hour readings over the given local months (Brussels), `base` kWh each and one spike per month."""
    rows: list[tuple[int, float | None, float | None]] = []
    total = 0.0
    for month, spike in spec.items():
        lo = at(f"{month}-01T00:00:00+01:00")
        year, mon = map(int, month.split("-"))
        hi = at(f"{year + mon // 12}-{mon % 12 + 1:02}-01T00:00:00+01:00")
        t = max(lo, rows[-1][0] + 15 * MIN) if rows else lo
        first = True
        while t < hi:
            rows.append((t, round(total, 6), round(total, 6) * 3))
            total += spike if first else base
            first = False
            t += 15 * MIN
    rows.append((rows[-1][0] + 15 * MIN, round(total, 6), round(total, 6) * 3))
    return rows


def test_capacity_tariff_with_look_back(store: Store) -> None:
    """Three months of history before the window count in the mean but are not listed; less than 12 → fewer
    in the mean; a month below 2.5 kW is billed 2.5; injection (3 × offtake, far larger) never counts."""
    entity = uuid.uuid4()
    ingest(store, entity, monthly({"2023-11": 2.0, "2023-12": 1.0, "2024-01": 0.5, "2024-02": 0.25}))
    with store.snapshot():
        found = capacity_tariff(store, entity, at("2024-01-10T00:00:00+01:00"), at("2024-02-02T00:00:00+01:00"),
                                BRUSSELS)
    assert month_rows(found) == [("2024-01", 2.0, 2.5, 4.833333333, 3), ("2024-02", 1.0, 2.5, 4.25, 4)]
    assert (found[0].start, found[0].end) == (at("2024-01-01T00:00:00+01:00"), at("2024-02-01T00:00:00+01:00"))
    assert found[0].tariff.peak == Peak(2.0, 0.5, found[0].start, found[0].start + 15 * MIN)


def test_capacity_tariff_months_inside_a_gap(store: Store) -> None:
    """Readings on 2024-01-01 and 2024-04-01 only: February and March lie in the gap, covered; the consumption
    is spread evenly, so every quarter-hour ties and the earliest is the peak."""
    entity = uuid.uuid4()
    lo, hi = at("2024-01-01T00:00:00+01:00"), at("2024-04-01T00:00:00+02:00")
    quarters = (hi - lo) // (15 * MIN)
    ingest(store, entity, [(lo, 0.0, None), (hi, quarters * 1.0, None)])
    with store.snapshot():
        found = capacity_tariff(store, entity, lo, hi + 100 * 86_400_000_000, BRUSSELS)
    assert [m[:3] for m in month_rows(found)] == [("2024-01", 4.0, 4.0), ("2024-02", 4.0, 4.0), ("2024-03", 4.0, 4.0)]
    assert found[1].tariff.peak == Peak(4.0, 1.0, at("2024-02-01T00:00:00+01:00"),
                                        at("2024-02-01T00:00:00+01:00") + 15 * MIN)


def test_capacity_tariff_covered_month_without_a_whole_quarter_hour(store: Store) -> None:
    entity = uuid.uuid4()
    lo = at("2024-01-31T23:50:00+01:00")
    ingest(store, entity, [(lo, 0.0, None), (lo + 10 * MIN, 5.0, None), (lo + 20 * MIN, 6.0, None)])
    with store.snapshot():
        found = capacity_tariff(store, entity, lo, lo + HOUR, BRUSSELS)
    assert month_rows(found) == [("2024-01", None, 2.5, 2.5, 1), ("2024-02", None, 2.5, 2.5, 2)]


def test_capacity_tariff_without_offtake(store: Store) -> None:
    entity = uuid.uuid4()
    ingest(store, entity, [(T0, None, 1.0), (T0 + HOUR, None, 9.0)])
    with store.snapshot():
        assert capacity_tariff(store, entity, T0, T0 + HOUR, BRUSSELS) == []


def test_capacity_window_too_large(store: Store) -> None:
    start = at("2014-01-01T00:00:00+01:00")
    with store.snapshot():
        assert capacity_tariff(store, uuid.uuid4(), start, at("2024-01-01T00:00:00+01:00"), BRUSSELS) == []
        with pytest.raises(DomainError) as error:
            capacity_tariff(store, uuid.uuid4(), start, at("2024-01-01T00:00:01+01:00"), BRUSSELS)
    assert error.value.code == "WindowTooLarge"
    assert "121" in error.value.message and "2014-01 to 2024-01" in error.value.message


# -- the invariant, as a property --------------------------------------------------------------------------
readings_strategy = st.lists(st.tuples(st.integers(0, 240), st.integers(0, 40)), min_size=0, max_size=14,
                             unique_by=lambda p: p[0]).map(sorted)


PEAK_CASES = [  # (zone, local midnight of the day): five zones with clock changes, both ways
    (None, T0), (KOLKATA, T0),
    (ZoneInfo("Europe/Brussels"), at("2024-10-27T00:00:00+02:00")),   # 02:00-03:00 twice
    (ZoneInfo("Europe/Brussels"), at("2024-03-31T00:00:00+01:00")),   # 02:00-03:00 skipped
    (ZoneInfo("Europe/London"), at("2024-10-27T00:00:00+01:00")),
    (ZoneInfo("America/New_York"), at("2024-11-03T00:00:00-04:00")),
    (ZoneInfo("America/New_York"), at("2024-03-10T00:00:00-05:00")),
    (ZoneInfo("Australia/Lord_Howe"), at("2024-04-07T00:00:00+11:00")),  # a 30-minute shift
    (ZoneInfo("Australia/Lord_Howe"), at("2024-10-06T00:00:00+10:30")),
    (ZoneInfo("Australia/Sydney"), at("2024-04-07T00:00:00+11:00")),
]
day_readings = st.lists(st.tuples(st.integers(0, 1560), st.integers(0, 40)), min_size=0, max_size=30,
                        unique_by=lambda p: p[0]).map(sorted)
"""Readings anywhere in the day (25 hours and a margin), a window anywhere in it: the whole day is tried."""


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day_readings, st.integers(-20, 1560), st.integers(1, 1580), st.sampled_from([1, 5, 15, 30, 60]),
       st.sampled_from(PEAK_CASES))
def test_bucket_peak_is_the_largest_aggregation_of_a_covered_window(
        store: Store, raw: list[tuple[int, int]], start: int, length: int, w: int,
        case: tuple[ZoneInfo | None, int]) -> None:
    """Random readings (raw values go up and down: resets) and a random bucket, around clock changes too: every
    `/aggregations` bucket at resolution w inside the bucket and the coverage that is w long is a demand
    window, and the peak is the largest of them × 1 h / w."""
    tz, base = case
    entity = uuid.uuid4()
    ingest(store, entity, [(base + m * MIN, v / 4, None) for m, v in raw])
    lo, hi = base + start * MIN, base + (start + length) * MIN
    with store.snapshot():
        (found,) = bucket_peaks(store, entity, [lo, hi], w * MIN, tz, [POS])
        page = aggregation_page(store, AggregationQuery(entity, lo, hi, Interval(0, 0, w * MIN), tz), lo, 10_000)
    first, last = (base + raw[0][0] * MIN, base + raw[-1][0] * MIN) if raw else (0, -1)
    best: Peak | None = None
    for bucket in page.items:
        if bucket.end - bucket.start == w * MIN and first <= bucket.start and bucket.end <= last:
            energy = bucket.data[POS]["total"]
            if best is None or energy > best.energy:
                best = Peak(energy * 60 / w, energy, bucket.start, bucket.end)
    got = found.get(POS)
    if best is None or got is None:
        assert got is best
    else:  # the value comes from the unrounded energy: within 1e-9 × 60 / w of the rounded one's
        assert (got.energy, got.start, got.end) == (best.energy, best.start, best.end)
        assert abs(got.value - best.value) <= 1e-9 * 60 / w + 1e-12



@pytest.mark.parametrize("page_size", [1, 2, 10_000])
def test_a_sample_on_the_edge_after_empty_buckets_is_paged(store: Store, page_size: int) -> None:
    """Found by the property test: a window ending 7 µs after a grid edge, its only sample on that edge, after
    empty 5-minute buckets. Paging skipped to the window's end (the next sample counted only after the edge), so
    small pages answered nothing where one page answered the bucket [edge, edge + 7 µs)."""
    from connect_readings.domain.interval import parse_resolution
    from connect_readings.domain.readings import GAUGE_SERIES
    from connect_readings.domain.timefmt import to_micros
    from connect_readings.usecases.statistics import StatisticsQuery, statistics_page

    entity = uuid.uuid4()
    edge = to_micros(datetime(2024, 5, 27, tzinfo=UTC))
    store.ingest(entity, [parse_reading({"timestamp": format_datetime(edge), "data": {
        "positiveActiveInstantaneousPower": {"total": 1000.0, "unit": "W"}}})])
    start, end = edge - 600 * 1_000_000 + 7, edge + 7
    query = StatisticsQuery(entity, start, end, parse_resolution("5 minutes"), None,
                            ("positiveActiveInstantaneousPower",), 15 * 60 * 1_000_000)
    items, position = [], start
    with store.snapshot():
        while position is not None:
            page = statistics_page(store, query, position, page_size)
            items += page.items
            position = page.next_position
    total = GAUGE_SERIES.index(("positiveActiveInstantaneousPower", "total"))
    assert [(b.start, b.end) for b in items] == [(edge, end)]
    assert items[0].gauges[total].max == 1000.0
