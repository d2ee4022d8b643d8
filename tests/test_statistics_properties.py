"""Property tests of the statistics invariants (docs/semantics.md §10), on every backend.

An in-memory reference (`gauges.summarize` over the whole series, the neighbours looked up by hand) gives each
bucket's statistics; the service, which merges stored block summaries with raw samples at the buckets' ends,
must agree with it whatever the ingest order, batch split, late replacements and page size. Then the window
invariants: the window's mean is the coverage-weighted mean of its buckets' means, and min, max and count
compose.
"""

from __future__ import annotations

import bisect
import random
import uuid
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain.gauges import gauge_statistics, summarize
from connect_readings.domain.grid import Grid
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import GAUGE_COUNT, GAUGE_SERIES, REGISTER_COUNT, Reading
from connect_readings.usecases.statistics import StatisticsQuery, statistics_page
from connect_readings.storage.base import Store

T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z
MINUTE = 60_000_000
SECOND = 1_000_000
TOTAL = GAUGE_SERIES.index(("positiveActiveInstantaneousPower", "total"))
RESOLUTIONS = ["5 minutes", "15 minutes", "1 hour", "7 hours", "1 day"]
ZONES = [None, "Europe/Brussels", "Asia/Kolkata"]
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

samples_strategy = st.lists(
    st.tuples(st.integers(0, 3 * 24 * 3600), st.integers(-5000, 5000)), min_size=1, max_size=60, unique_by=lambda x: x[0],
)


def reading(ts: int, value: float | None) -> Reading:
    """A reading with the power total `value` (None: a reading without power, e.g. only a register)."""
    gauges = [None] * GAUGE_COUNT
    data: dict = {"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}
    if value is not None:
        gauges[TOTAL] = value
        data["positiveActiveInstantaneousPower"] = {"total": value, "unit": "W"}
    registers = [None] * REGISTER_COUNT
    registers[4] = 1.0
    return Reading(ts, data, tuple(registers), tuple(gauges))


def reference(samples: list[tuple[int, float]], b0: int, b1: int) -> dict | None:
    stamps = [t for t, _ in samples]
    lo, hi = bisect.bisect_left(stamps, b0), bisect.bisect_left(stamps, b1)
    before = samples[lo - 1] if lo else None
    after = samples[hi] if hi < len(samples) else None
    summary = summarize(b0, b1, samples[lo:hi], before, after)
    return None if summary is None else gauge_statistics(summary)


def same(got: dict, want: dict) -> bool:
    if (got["mean"] is None) != (want["mean"] is None):
        return False
    if got["mean"] is not None and abs(got["mean"] - want["mean"]) > 1e-6 * max(1.0, abs(want["mean"])):
        return False
    return {**got, "mean": None} == {**want, "mean": None}


def ingest_shuffled(store: Store, entity: uuid.UUID, points: list[tuple[int, int]], seed: int) -> list[tuple[int, float]]:
    """Ingest the samples in batches: odd seeds stream them in time order (each batch appends), even seeds
    shuffle them, after first storing readings without power at some of their times that they replace."""
    rng = random.Random(seed)
    final = sorted((T0 + s * SECOND, float(v)) for s, v in points)
    order = [reading(ts, v) for ts, v in final]
    if seed % 2 == 0:
        store.ingest(entity, [reading(ts, None) for ts, _ in rng.sample(final, len(final) // 3)])
        rng.shuffle(order)
    while order:
        size = rng.randint(1, 12)
        store.ingest(entity, order[:size])
        order = order[size:]
    return final


@PROPERTY_SETTINGS
@given(points=samples_strategy, seed=st.integers(0, 10_000), resolution=st.sampled_from(RESOLUTIONS),
       zone=st.sampled_from(ZONES), page=st.integers(1, 30), cut=st.tuples(st.integers(-600, 3 * 86400), st.integers(1, 3 * 86400)))
def test_buckets_equal_the_reference_whatever_the_ingest_order_and_page_size(
        store: Store, points: list[tuple[int, int]], seed: int, resolution: str, zone: str | None, page: int,
        cut: tuple[int, int]) -> None:
    entity = uuid.uuid4()
    samples = ingest_shuffled(store, entity, points, seed)
    start = T0 + cut[0] * SECOND + 7
    end = start + cut[1] * SECOND
    query = StatisticsQuery(entity, start, end, parse_resolution(resolution), ZoneInfo(zone) if zone else None,
                            ("positiveActiveInstantaneousPower",), 15 * MINUTE)
    items = []
    position: int | None = start
    with store.snapshot():
        whole = statistics_page(store, query, start, 10_000).items
        while position is not None:
            found = statistics_page(store, query, position, page)
            items += found.items
            position = found.next_position
    assert items == whole
    expected = []
    for b0, b1 in Grid(query.width, query.tz).buckets(start, end):
        want = reference(samples, max(b0, start), min(b1, end))
        if want is not None:
            expected.append((max(b0, start), min(b1, end), want))
    assert [(b.start, b.end) for b in items] == [(a, b) for a, b, _ in expected]
    for bucket, (_, _, want) in zip(items, expected):
        assert same(gauge_statistics(bucket.gauges[TOTAL]), want), (bucket, want)
    # the window as a whole: means weighted by coverage, min/max/count composed
    window = reference(samples, start, end)
    if window is not None and items:
        parts = [gauge_statistics(b.gauges[TOTAL]) for b in items]
        covered = sum(p["coveredSeconds"] for p in parts)
        assert covered == pytest.approx(window["coveredSeconds"])
        if covered:
            weighted = sum(p["mean"] * p["coveredSeconds"] for p in parts if p["mean"] is not None) / covered
            assert weighted == pytest.approx(window["mean"], rel=1e-9, abs=1e-6)
        assert sum(p["count"] for p in parts) == window["count"]
        counted = [p for p in parts if p["count"]]
        if counted:
            assert min(p["min"] for p in counted) == window["min"]
            assert max(p["max"] for p in counted) == window["max"]
            assert min((p["min"], p["minAt"]) for p in counted if p["min"] == window["min"])[1] == window["minAt"]
            assert min((-p["max"], p["maxAt"]) for p in counted if p["max"] == window["max"])[1] == window["maxAt"]


@pytest.mark.parametrize("seed", [0, 2, 4])
@pytest.mark.parametrize(("resolution", "zone"), [("1 day", None), ("1 hour", "Asia/Kolkata"), ("1 day", "Europe/Brussels")])
def test_hourly_and_daily_blocks_after_late_batches(store: Store, seed: int, resolution: str, zone: str | None) -> None:
    """Two days of samples every 7 minutes, shuffled into small late batches: every coarser block (an hour, a day)
    is rebuilt from all of its quarter-hours, not only from the ones a batch touched."""
    rng = random.Random(seed)
    points = [(m * 420, rng.randint(-100, 100)) for m in range(2 * 24 * 60 // 7)]
    entity = uuid.uuid4()
    samples = ingest_shuffled(store, entity, points, seed)
    start, end = T0 - 3 * 3600 * SECOND, T0 + 2 * 86_400 * SECOND + 3600 * SECOND
    query = StatisticsQuery(entity, start, end, parse_resolution(resolution), ZoneInfo(zone) if zone else None,
                            ("positiveActiveInstantaneousPower",), 15 * MINUTE)
    with store.snapshot():
        items = statistics_page(store, query, start, 10_000).items
    assert items
    for bucket in items:
        assert same(gauge_statistics(bucket.gauges[TOTAL]), reference(samples, bucket.start, bucket.end)), bucket
