"""Use cases of the statistics design: a page of statistics (§3, §5), peak demand per bucket (§4) and the
capacity tariff (§6).

Glue between the pure domain (`domain/demand.py`: which windows, which peak, which tariff) and a Store's
narrow questions about one register; knows nothing of HTTP. Exactness: every window's energy is
`registers.bucket_deltas` over the register's readings at-or-before / at-or-after the window's edges (the
`/aggregations` value of that window), the peak is `demand.peak_demand`'s.

Cost. A year of quarter-hours is 35k demand windows; asking `register_brackets` for each edge (two seeks per
instant, every register) is too slow for it. So each register is read on its own, in chunks of at most
`CHUNK_EDGES` edges, whichever way is cheaper for the chunk:

- `register_samples`: every reading of the register from the last one at or before the chunk's first edge to
  the first one at or after its last edge, then each edge's bracket by a merge walk: when the readings are
  no denser than `SCAN_RATIO` per edge (15-minute data: ~1 per edge; 1-minute data: ~15);
- `register_series_brackets`: two index seeks per edge: when they are denser (1-second data: 900 per edge),
  so a year of 1-second data (31M readings) is never read for one request.

The store decides which with a bounded count (it steps through at most SCAN_RATIO × edges index entries of
the chunk, and reads nothing more when there are more): a gap in the data makes a chunk cheap to read,
a dense stretch makes it seek, chunk by chunk.
"""

from __future__ import annotations

import bisect
import operator
import uuid
from collections.abc import Iterable, Sequence
from itertools import islice
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .domain.buckets import bucket_floor, iter_buckets, next_boundary
from .domain.demand import US_PER_HOUR, US_PER_MINUTE, MonthPeak, MonthTariff, Peak, capacity_months, demand_edges
from .domain.errors import DomainError
from .domain.interval import Interval
from .domain.gauges import GaugeSummary, bucket_summaries, split_buckets
from .domain.ids import uuid5_text
from .domain.readings import GAUGE_SERIES, GAUGE_UNITS, REGISTER_SERIES
from .domain.registers import Bracket, Sample
from .domain.timefmt import format_datetime, zone_name
from .service import AGGREGATION_NAMESPACE, Page
from .storage.base import Store

PEAK_REGISTERS = {
    "positiveActiveEnergy": REGISTER_SERIES.index(("positiveActiveEnergy", "total")),
    "negativeActiveEnergy": REGISTER_SERIES.index(("negativeActiveEnergy", "total")),
}
"""The metrics that carry `peakDemand`, and the register series (their `total`) it is computed from."""

CAPACITY_WINDOW_US = 15 * US_PER_MINUTE
MAX_CAPACITY_MONTHS = 120
LOOK_BACK_MONTHS = 11
SCAN_RATIO = 8
"""Read a chunk's readings when they are at most this many per edge, else seek at the edges (see the module doc:
measured with `python -m bench.capacity`, a seek costs about as much as reading ~10-20 readings)."""
CHUNK_EDGES = 4096
"""Edges per store call: bounds one call's memory and lets the choice follow the data's density."""
_MONTH = Interval(1, 0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_peaks(
    store: Store, entity_id: uuid.UUID, edges: Sequence[int], window_us: int, tz: ZoneInfo | None,
    metrics: Iterable[str],
) -> list[dict[str, Peak]]:
    """Per bucket between consecutive `edges` (already clipped to the query window): the `Peak` of each
    requested metric that carries one ("positiveActiveEnergy", "negativeActiveEnergy"; others are ignored)
    and has a demand window inside the bucket and inside the register's coverage (§4).

    `window_us`: a valid demand window (`demand.valid_demand_window`). Call it inside `store.snapshot()`, so
    every bucket reads one state of the data.
    """
    result: list[dict[str, Peak]] = [{} for _ in range(max(len(edges) - 1, 0))]
    for metric in dict.fromkeys(metrics):
        register = PEAK_REGISTERS.get(metric)
        if register is None or not result:
            continue
        coverage = store.register_coverage(entity_id, register)
        if coverage is None:
            continue
        first, last = coverage
        instants: list[int] = []
        slices: list[tuple[int, int]] = []  # per bucket: its demand edges, instants[i:j]
        for b0, b1 in zip(edges, edges[1:]):
            windows = demand_edges(max(b0, first), min(b1, last), window_us, tz)
            if len(windows) < 2:
                slices.append((0, 0))
                continue
            if instants and instants[-1] == windows[0]:
                i = len(instants) - 1
                instants.extend(windows[1:])
            else:
                i = len(instants)
                instants.extend(windows)
            slices.append((i, len(instants)))
        if not instants:
            continue
        chunks = _chunk_brackets(store, entity_id, register, instants)
        for bucket, (i, j) in enumerate(slices):
            peak = _bucket_peak(instants, chunks, i, j, window_us)
            if peak is not None:
                result[bucket][metric] = peak
    return result


@dataclass(frozen=True, slots=True)
class CapacityMonth:
    """One local calendar month of the capacity tariff: [start, end) in µs (the wire's `timeframe`)."""

    start: int
    end: int
    tariff: MonthTariff


def capacity_window(start: int, end: int, tz: ZoneInfo | None) -> tuple[int, int]:
    """[start, end) widened to whole local calendar months; `WindowTooLarge` past 120 months."""
    if start >= end:
        raise DomainError("InvalidTimeWindow", "'start' must be before 'end' (the window is [start, end))")
    lo = bucket_floor(start, _MONTH, tz)
    hi = end if bucket_floor(end, _MONTH, tz) == end else next_boundary(end, _MONTH, tz)
    months = _month_index(hi, tz) - _month_index(lo, tz)
    if months > MAX_CAPACITY_MONTHS:
        raise DomainError(
            "WindowTooLarge",
            f"the capacity tariff covers at most {MAX_CAPACITY_MONTHS} calendar months a request; "
            f"[{format_datetime(start)}, {format_datetime(end)}) widened to whole months in {zone_name(tz)} "
            f"({month_key(lo, tz)} to {month_key(bucket_floor(hi - 1, _MONTH, tz), tz)}) is {months}: "
            "ask for the rest in another request",
        )
    return lo, hi


def capacity_tariff(store: Store, entity_id: uuid.UUID, start: int, end: int,
                    tz: ZoneInfo | None) -> list[CapacityMonth]:
    """The capacity tariff (§6) of every month of [start, end), widened to local calendar months, that has
    coverage of `positiveActiveEnergy` (its total), oldest first; the rolling means also look back on the 11
    months before the window. Only offtake counts: injection (negativeActiveEnergy) is never read.

    Raises `DomainError` InvalidTimeWindow / WindowTooLarge. Reads in one `store.snapshot()`.
    """
    lo, hi = capacity_window(start, end, tz)
    since = lo
    for _ in range(LOOK_BACK_MONTHS):
        since = bucket_floor(since - 1, _MONTH, tz)
    register = PEAK_REGISTERS["positiveActiveEnergy"]
    with store.snapshot():
        coverage = store.register_coverage(entity_id, register)
        if coverage is None:
            return []
        first, last = coverage
        # Covered: the month and [first, last] overlap by more than an instant (as a bucket of /aggregations).
        months = [(a, b) for a, b in iter_buckets(max(since, bucket_floor(first, _MONTH, tz)), min(hi, last), _MONTH, tz)
                  if first < b and a < last]
        if not months:
            return []
        peaks = bucket_peaks(store, entity_id, [months[0][0]] + [b for _, b in months], CAPACITY_WINDOW_US, tz,
                             ["positiveActiveEnergy"])
    history = [MonthPeak(month_key(a, tz), found.get("positiveActiveEnergy"), True)
               for (a, _), found in zip(months, peaks)]
    bounds = {month_key(a, tz): (a, b) for a, b in months}
    return [CapacityMonth(*bounds[t.month], t) for t in capacity_months(history, since=month_key(lo, tz))]


def month_key(t: int, tz: ZoneInfo | None) -> str:
    """'YYYY-MM' of the local month holding instant t."""
    local = (_EPOCH + timedelta(microseconds=t)).astimezone(tz or UTC)
    return f"{local.year:04}-{local.month:02}"


def _month_index(t: int, tz: ZoneInfo | None) -> int:
    local = (_EPOCH + timedelta(microseconds=t)).astimezone(tz or UTC)
    return local.year * 12 + local.month - 1


# -- reading one register at many edges ---------------------------------------------------------------------
_Chunk = tuple[int, list[float]]
"""(index of its first instant, the register's value at instants[index:index + len]); chunks overlap by one."""


def _chunk_brackets(store: Store, entity_id: uuid.UUID, register: int, instants: list[int]) -> list[_Chunk]:
    """The register's value at every instant (all inside its coverage), chunk by chunk. Values are continuous
    relative to each chunk's own base (the store's rule), so a window's energy is taken inside one chunk:
    consecutive chunks share an instant."""
    chunks: list[_Chunk] = []
    n = len(instants)
    i = 0
    while True:
        part = instants[i:i + CHUNK_EDGES + 1]
        samples = store.register_samples(entity_id, register, part[0], part[-1], SCAN_RATIO * len(part))
        if samples is None:
            brackets = store.register_series_brackets(entity_id, register, part)
        else:
            exact = dict(samples)
            values = list(map(exact.get, part))  # the usual case: a reading at every edge (in C)
            if None not in values:
                chunks.append((i, values))  # type: ignore[arg-type]
                i += CHUNK_EDGES
                if i >= n - 1:
                    return chunks
                continue
            brackets = brackets_from_samples(samples, part)
        chunks.append((i, [_value_at(t, b) for t, b in zip(part, brackets)]))
        i += CHUNK_EDGES
        if i >= n - 1:
            return chunks


def _value_at(t: int, bracket: Bracket) -> float:
    """The register at t, interpolated exactly as `registers.bucket_deltas` does (t inside the coverage)."""
    before, after = bracket
    assert before is not None and after is not None, "an instant outside the register's coverage"
    t0, v0 = before
    t1, v1 = after
    return v0 if t1 == t0 else v0 + (v1 - v0) * ((t - t0) / (t1 - t0))


def brackets_from_samples(samples: Sequence[Sample], instants: Sequence[int]) -> list[Bracket]:
    """For each instant (ascending), the sample at-or-before and at-or-after it: a merge walk.

    >>> brackets_from_samples([(0, 1.0), (10, 2.0)], [0, 5, 10, 11])
    [((0, 1.0), (0, 1.0)), ((0, 1.0), (10, 2.0)), ((10, 2.0), (10, 2.0)), ((10, 2.0), None)]
    """
    stamps = [s[0] for s in samples]
    n = len(stamps)
    brackets: list[Bracket] = []
    j = 0
    for t in instants:
        j = bisect.bisect_left(stamps, t, j)
        if j < n:
            after = samples[j]
            before = after if stamps[j] == t else (samples[j - 1] if j else None)
        else:
            after, before = None, (samples[-1] if n else None)
        brackets.append((before, after))
    return brackets


def _bucket_peak(instants: list[int], chunks: list[_Chunk], i: int, j: int, window_us: int) -> Peak | None:
    """The peak over instants[i:j] (all inside the coverage): the largest window energy, the earliest on ties.

    Exactly `peak_demand`'s answer: a window's energy is `bucket_deltas`' (round(delta, 9), or 0.0 when not
    positive), compared rounded; pairs of edges not w apart are no window. The work runs in C where it can.
    """
    best: tuple[float, int] | None = None  # (energy, index into instants)
    if j - i < 2:
        return None
    for c0, values in chunks:
        lo, hi = max(i, c0), min(j, c0 + len(values))
        if hi - lo < 2:
            continue
        part = values[lo - c0:hi - c0]
        deltas = list(map(operator.sub, part[1:], part[:-1]))
        stamps = instants[lo:hi]
        if any(b - a != window_us for a, b in zip(stamps, stamps[1:])):
            deltas = [d if b - a == window_us else -1.0 for d, a, b in zip(deltas, stamps, stamps[1:])]
        top = max(deltas)
        if top < 0.0:
            continue
        energy = round(top, 9) if top > 0.0 else 0.0
        for k, d in enumerate(deltas):  # the earliest window whose rounded energy is the largest
            if d >= top - 1e-6 * max(1.0, abs(top)) and (round(d, 9) if d > 0.0 else 0.0) == energy:
                break
        if best is None or energy > best[0]:
            best = (energy, lo + k)
    if best is None:
        return None
    energy, k = best
    return Peak(round(energy * (US_PER_HOUR / window_us), 9), energy, instants[k], instants[k + 1])


# -- the statistics page (§3, §5) -------------------------------------------------------------------------------
STATISTICS_NAMESPACE = AGGREGATION_NAMESPACE
STATISTICS_METRICS = tuple(GAUGE_UNITS) + tuple(PEAK_REGISTERS)
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
    peak_metrics = [m for m in PEAK_REGISTERS if m in query.metrics]
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
    raw_spans, block_runs = split_buckets(edges)
    blocks: dict[int, list[tuple[int, GaugeSummary]]] = {k: [] for k in gauges}
    for width, lo, hi in block_runs:  # (runs of one tier's consecutive blocks: usually a few per page)
        for block, summaries in store.gauge_blocks(entity_id, width, lo, hi):
            for k, summary in summaries.items():
                if k in blocks:
                    blocks[k].append((block, summary))
    samples: dict[int, list[tuple[int, float]]] = {k: [] for k in gauges}
    for lo, hi in raw_spans:
        for ts, values in store.gauge_samples(entity_id, gauges, lo, hi):
            for k, value in zip(gauges, values):
                if value is not None:
                    samples[k].append((ts, value))
    before, after = store.gauge_neighbours(entity_id, gauges, edges[0], edges[-1])
    return {k: bucket_summaries(edges, blocks[k], samples[k], before.get(k), after.get(k)) for k in gauges}


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
            after_sample = brackets[PEAK_REGISTERS[metric]][0][1]
            if after_sample is not None:
                upcoming.append(after_sample[0])
    upcoming = [t for t in upcoming if t > position]
    if not upcoming:
        return query.end
    return max(position, bucket_floor(min(upcoming), query.width, query.tz))
