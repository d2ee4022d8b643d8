"""Property tests of the aggregation invariants (semantics.md §5), on every backend.

An independent oracle recomputes each bucket from the full series in memory; the service must agree with
it whatever the ingest order, batch split and page size.
"""

from __future__ import annotations

import bisect
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.usecases.aggregations import AggregationQuery, aggregation_page, aggregation_total
from connect_readings.storage.base import Store

T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z
MINUTE = 60_000_000
RESOLUTIONS = ["15 minutes", "1 hour", "7 hours", "1 day", "1 week", "1 month"]
ZONES = [None, "Europe/Berlin", "Asia/Kathmandu"]

series_strategy = st.lists(
    st.tuples(st.integers(0, 4 * 24 * 60), st.floats(0, 50), st.booleans()), min_size=0, max_size=40,
    unique_by=lambda x: x[0],
)


def build_readings(points: list[tuple[int, float, bool]]) -> list[tuple[int, float]]:
    """A rising counter with occasional resets (the boolean), as (ts, raw value)."""
    value, out = 100.0, []
    for minute, step, reset in sorted(points):
        value = step / 10 if reset else value + step
        out.append((T0 + minute * MINUTE, value))
    return out


def oracle(readings: list[tuple[int, float]], edges: list[int]) -> list[float | None]:
    """Deltas between consecutive edges from the whole series: continuous counter, interpolation, clamping."""
    if not readings:
        return [None] * (len(edges) - 1)
    stamps = [ts for ts, _ in readings]
    continuous, offset, previous = [], 0.0, None
    for _, raw in readings:
        if previous is not None and raw < previous:
            offset += previous
        continuous.append(raw + offset)
        previous = raw

    def at(t: int) -> tuple[int, float]:
        t = min(max(t, stamps[0]), stamps[-1])
        i = bisect.bisect_left(stamps, t)
        if stamps[i] == t:
            return t, continuous[i]
        t0, t1, v0, v1 = stamps[i - 1], stamps[i], continuous[i - 1], continuous[i]
        return t, v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    values = [at(e) for e in edges]
    return [b[1] - a[1] if b[0] > a[0] else None for a, b in zip(values, values[1:])]


def ingest(store: Store, entity: uuid.UUID, readings: list[tuple[int, float]], rng: random.Random) -> None:
    items = [parse_reading({"timestamp": format_datetime(ts), "data": {
        "positiveActiveEnergy": {"total": v, "unit": "kWh"}}}) for ts, v in readings]
    rng.shuffle(items)
    while items:
        cut = rng.randint(1, len(items))
        store.ingest(entity, items[:cut])
        items = items[cut:]


def all_pages(store: Store, query: AggregationQuery, page_size: int) -> list[Any]:
    found, position = [], query.start
    while True:
        page = aggregation_page(store, query, position, page_size)
        found.extend(page.items)
        if page.next_position is None:
            return found
        position = page.next_position


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY_SETTINGS
@given(
    points=series_strategy,
    window=st.tuples(st.integers(-600, 6000), st.integers(1, 7000)),
    resolution=st.sampled_from(RESOLUTIONS),
    zone=st.sampled_from(ZONES),
    page_size=st.integers(1, 9),
    seed=st.integers(0, 2**32),
)
def test_buckets_match_the_oracle_and_sum_to_the_total(
    store: Store, points: list, window: tuple[int, int], resolution: str, zone: str | None, page_size: int, seed: int,
) -> None:
    entity = uuid.uuid4()
    readings = build_readings(points)
    ingest(store, entity, readings, random.Random(seed))
    start = T0 + window[0] * MINUTE
    end = start + window[1] * MINUTE
    query = AggregationQuery(entity, start, end, parse_resolution(resolution), ZoneInfo(zone) if zone else None)

    paged = all_pages(store, query, page_size)
    one_page = all_pages(store, query, 10_000)
    assert paged == one_page  # independent of page size

    # timeframes inside the window, ascending, not overlapping
    for bucket in paged:
        assert start <= bucket.start < bucket.end <= end
    for a, b in zip(paged, paged[1:]):
        assert a.end <= b.start

    # every returned value is the oracle's, never negative; omitted buckets have no coverage
    edges = sorted({start, end} | {e for b in paged for e in (b.start, b.end)})
    expected = dict(zip(zip(edges, edges[1:]), oracle(readings, edges)))
    for bucket in paged:
        value = bucket.data["positiveActiveEnergy"]["total"]
        assert value >= 0
        assert abs(value - expected[(bucket.start, bucket.end)]) <= 1e-6 * max(1.0, abs(value))
    total = aggregation_total(store, entity, start, end)
    whole = oracle(readings, [start, end])[0]
    if whole is None:
        assert total == {} and paged == []
    else:
        got = total["positiveActiveEnergy"]["total"]
        assert abs(got - whole) <= 1e-6 * max(1.0, whole)
        assert abs(sum(b.data["positiveActiveEnergy"]["total"] for b in paged) - got) <= 1e-6 * max(1.0, got)


@PROPERTY_SETTINGS
@given(points=series_strategy.filter(lambda p: len(p) >= 2), seeds=st.tuples(st.integers(0, 999), st.integers(0, 999)))
def test_result_does_not_depend_on_ingest_order(store: Store, points: list, seeds: tuple[int, int]) -> None:
    readings = build_readings(points)
    pages = []
    for seed in seeds:
        entity = uuid.UUID(int=uuid.uuid4().int)
        ingest(store, entity, readings, random.Random(seed))
        query = AggregationQuery(entity, T0, T0 + 5 * 24 * 60 * MINUTE, parse_resolution("1 hour"), None)
        pages.append([(b.start, b.end, b.data) for b in all_pages(store, query, 10_000)])
    assert pages[0] == pages[1]
