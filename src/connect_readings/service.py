"""Use cases: a page of aggregations, a total, a page of readings.

Glue between the pure domain (buckets, registers) and a Store's narrow questions; knows nothing of HTTP. Cost grows
with the number of buckets on a page, never with the readings under them: each page asks the store for
the register values around its bucket edges only.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from .domain.buckets import bucket_floor, iter_buckets
from .domain.demand import Peak, demand_edges, peak_demand
from .domain.gauges import GaugeSummary, bucket_summaries, split_buckets
from .domain.ids import uuid5_text
from .domain.interval import Interval
from .domain.readings import GAUGE_SERIES, GAUGE_UNITS, REGISTER_SERIES
from .domain.registers import aggregate
from .domain.timefmt import zone_name
from .storage.base import Store

AGGREGATION_NAMESPACE = uuid.UUID("9d6c3f2e-0b8a-4c57-8e61-2f0a4b7c9d13")


@dataclass(frozen=True, slots=True)
class AggregationQuery:
    entity_id: uuid.UUID
    start: int
    end: int
    width: Interval
    tz: ZoneInfo | None

    @property
    def tz_name(self) -> str:
        return zone_name(self.tz)


@dataclass(frozen=True, slots=True)
class Bucket:
    id: str
    start: int
    """Bucket clipped to the query window."""
    end: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_position: int | None
    """Where the next page starts, or None on the last page."""
    edges: int = 0
    """Bucket edges asked of the store (each is two index seeks): the cost of an aggregation page."""


def aggregation_id_prefix(query: AggregationQuery) -> str:
    """Ids are UUIDv5 of entity, resolution, time zone and bucket start (docs/semantics.md §6)."""
    return f"{query.entity_id}|{query.width.canonical()}|{query.tz_name}|"


def aggregation_page(store: Store, query: AggregationQuery, position: int, page_size: int) -> Page:
    """Up to `page_size` non-empty buckets from `position` on; buckets without coverage are skipped.

    Call it inside `store.snapshot()`, so the page reads one state of the data.
    """
    found: list[Bucket] = []
    prefix = aggregation_id_prefix(query)
    asked = 0
    while len(found) <= page_size and position < query.end:
        chunk = list(islice(iter_buckets(position, query.end, query.width, query.tz), page_size + 1 - len(found)))
        edges = [max(chunk[0][0], query.start)] + [b1 for _, b1 in chunk]
        edges[-1] = min(edges[-1], query.end)
        brackets = store.register_brackets(query.entity_id, edges)
        asked += len(edges)
        values = aggregate(edges, brackets)
        found.extend(
            Bucket(uuid5_text(AGGREGATION_NAMESPACE, f"{prefix}{b0}"), edges[i], edges[i + 1], data)
            for i, ((b0, _), data) in enumerate(zip(chunk, values))
            if data
        )
        position = edges[-1]
        if not any(values):
            position = _next_coverage(query, position, [per_register[-1] for per_register in brackets])
    if len(found) > page_size:
        return Page(found[:page_size], found[page_size].start, asked)
    return Page(found, None, asked)


def _next_coverage(query: AggregationQuery, position: int, last_brackets: list[Any]) -> int:
    """Skip a run of empty buckets: jump to the bucket holding the next reading of any register."""
    upcoming = [after[0] for _, after in last_brackets if after is not None and after[0] > position]
    if not upcoming:
        return query.end
    return max(position, bucket_floor(min(upcoming), query.width, query.tz))


def aggregation_total(store: Store, entity_id: uuid.UUID, start: int, end: int) -> dict[str, Any]:
    """Consumption over an arbitrary window: the same value rules as one bucket."""
    edges = [start, end]
    return aggregate(edges, store.register_brackets(entity_id, edges))[0]


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(AGGREGATION_NAMESPACE, f"{entity_id}|total|{start}|{end}")


def readings_page(store: Store, entity_id: uuid.UUID, start: int, end: int, page_size: int) -> Page:
    rows = store.readings(entity_id, start, end, page_size + 1)
    if len(rows) > page_size:
        return Page(rows[:page_size], rows[page_size].ts)
    return Page(rows, None)


# -- statistics (docs/semantics.md, statistics) ----------------------------------------------------------------
STATISTICS_NAMESPACE = AGGREGATION_NAMESPACE
PEAK_METRICS = ("positiveActiveEnergy", "negativeActiveEnergy")
STATISTICS_METRICS = tuple(GAUGE_UNITS) + PEAK_METRICS
"""Every metric `/statistics` knows: the gauge metrics, then the energy registers' peak demand."""


@dataclass(frozen=True, slots=True)
class StatisticsQuery:
    entity_id: uuid.UUID
    start: int
    end: int
    width: Interval
    tz: ZoneInfo | None
    metrics: tuple[str, ...]
    """The statistics metrics asked for, in STATISTICS_METRICS order."""
    window_us: int
    """The demand window."""

    @property
    def tz_name(self) -> str:
        return zone_name(self.tz)


@dataclass(frozen=True, slots=True)
class StatisticsBucket:
    id: str
    start: int
    """Bucket clipped to the query window."""
    end: int
    gauges: dict[int, GaugeSummary]
    """Per gauge (GAUGE_SERIES index) with samples or coverage in the bucket."""
    peaks: dict[str, Peak]
    """Per energy register with a complete demand window in the bucket."""


def statistics_page(store: Store, query: StatisticsQuery, position: int, page_size: int) -> Page:
    """Up to `page_size` buckets with something to say from `position` on (none is zero-filled).

    Call it inside `store.snapshot()`. Gauges come from the stored block summaries, raw samples at the buckets'
    partial ends and two neighbour seeks; peaks from the energy registers at demand-window edges.
    """
    wanted = {GAUGE_SERIES.index(g) for g in GAUGE_SERIES if g[0] in query.metrics}
    gauges = [k for k in store.gauges_present(query.entity_id) if k in wanted]
    peak_metrics = [m for m in PEAK_METRICS if m in query.metrics]
    prefix = f"{query.entity_id}|statistics|{query.width.canonical()}|{query.tz_name}|"
    found: list[StatisticsBucket] = []
    asked = 0
    while len(found) <= page_size and position < query.end:
        chunk = list(islice(iter_buckets(position, query.end, query.width, query.tz), page_size + 1 - len(found)))
        edges = [max(chunk[0][0], query.start)] + [b1 for _, b1 in chunk]
        edges[-1] = min(edges[-1], query.end)
        asked += len(edges)
        per_gauge = gauge_page(store, query.entity_id, gauges, edges)
        peaks = bucket_peaks(store, query.entity_id, edges, query.window_us, query.tz, peak_metrics)
        any_found = False
        for i, (b0, _) in enumerate(chunk):
            bucket_gauges = {k: summaries[i] for k, summaries in per_gauge.items() if summaries[i] is not None}
            if bucket_gauges or peaks[i]:
                any_found = True
                found.append(StatisticsBucket(uuid5_text(STATISTICS_NAMESPACE, f"{prefix}{b0}"), edges[i],
                                              edges[i + 1], bucket_gauges, peaks[i]))  # type: ignore[arg-type]
        position = edges[-1]
        if not any_found and position < query.end:
            position = _next_statistics(store, query, gauges, peak_metrics, position)
    if len(found) > page_size:
        return Page(found[:page_size], found[page_size].start, asked)
    return Page(found, None, asked)


def gauge_page(store: Store, entity_id: uuid.UUID, gauges: list[int], edges: list[int]
               ) -> dict[int, list[GaugeSummary | None]]:
    """Per gauge, its summary in each bucket between consecutive `edges`."""
    if not gauges:
        return {}
    raw_spans, block_spans = split_buckets(edges)
    blocks: dict[int, list[tuple[int, GaugeSummary]]] = {k: [] for k in gauges}
    for lo, hi in block_spans:  # (one span per run of whole blocks: usually one per page)
        for k, block, summary in store.gauge_blocks(entity_id, gauges, lo, hi):
            blocks[k].append((block, summary))
    samples: dict[int, list[tuple[int, float]]] = {k: [] for k in gauges}
    for lo, hi in raw_spans:
        for ts, values in store.gauge_samples(entity_id, gauges, lo, hi):
            for k, value in zip(gauges, values):
                if value is not None:
                    samples[k].append((ts, value))
    before, after = store.gauge_neighbours(entity_id, gauges, edges[0], edges[-1])
    return {k: bucket_summaries(edges, blocks[k], samples[k], before.get(k), after.get(k)) for k in gauges}


def bucket_peaks(store: Store, entity_id: uuid.UUID, edges: list[int], window_us: int, tz: ZoneInfo | None,
                 metrics: list[str]) -> list[dict[str, Peak]]:
    """Per bucket between consecutive `edges`, the peak demand of each of `metrics` (energy registers) that has
    a complete demand window in it (statistics design §4)."""
    result: list[dict[str, Peak]] = [{} for _ in range(len(edges) - 1)]
    if not metrics:
        return result
    windows = demand_edges(edges[0], edges[-1], window_us, tz)
    if not windows:
        return result
    brackets = store.register_brackets(entity_id, windows)
    for metric in metrics:
        series = brackets[REGISTER_SERIES.index((metric, "total"))]
        for i, (b0, b1) in enumerate(zip(edges, edges[1:])):
            lo, hi = bisect.bisect_left(windows, b0), bisect.bisect_right(windows, b1)
            if hi - lo >= 2:
                peak = peak_demand(windows[lo:hi], series[lo:hi], window_us)
                if peak is not None:
                    result[i][metric] = peak
    return result


def _next_statistics(store: Store, query: StatisticsQuery, gauges: list[int], peak_metrics: list[str],
                     position: int) -> int:
    """Skip a run of empty buckets: to the bucket holding the next sample of any selected gauge or register."""
    upcoming: list[int] = []
    if gauges:
        _, after = store.gauge_neighbours(query.entity_id, gauges, position, position)
        upcoming += [ts for ts, _ in after.values()]
    if peak_metrics:
        brackets = store.register_brackets(query.entity_id, [position])
        for metric in peak_metrics:
            after_sample = brackets[REGISTER_SERIES.index((metric, "total"))][0][1]
            if after_sample is not None:
                upcoming.append(after_sample[0])
    upcoming = [t for t in upcoming if t > position]
    if not upcoming:
        return query.end
    return max(position, bucket_floor(min(upcoming), query.width, query.tz))
