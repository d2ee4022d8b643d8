"""Use cases of statistics (docs/semantics.md §10): a page of statistics, peak demand per bucket and the capacity
tariff.

Glue between the pure domain (`domain/grid.py`: which buckets, windows and months; `domain/demand.py`: which
peak, which tariff) and a Store's narrow questions about one register; knows nothing of HTTP. Exactness: every
window's energy is the difference of the register's values at its two edges (`registers.value_at`, the one
interpolation), the `/aggregations` value of that window; the peak is `demand.largest_window`'s.

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
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import sub
from zoneinfo import ZoneInfo

from ..domain.demand import US_PER_MINUTE, MonthPeak, MonthTariff, Peak, capacity_months, demand_grid, largest_window
from ..domain.errors import DomainError
from ..domain.interval import Interval
from ..domain.gauges import GaugeSummary, bucket_summaries, split_buckets
from ..domain.readings import GAUGE_SERIES, GAUGE_UNITS, REGISTER_SERIES
from ..domain.grid import month_index, month_label, month_start
from ..domain.registers import Bracket, Sample, value_at
from ..domain.timefmt import format_datetime, zone_name
from ..storage.base import QUALITY_METRICS, Store
from .aggregations import AGGREGATION_NAMESPACE, AggregationQuery
from .pages import AnsweredBucket, Page, bucket_id, check_deadline, skip_to

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
_HOUR = 3_600_000_000
_DAY = 24 * _HOUR
MAX_DEMAND_WINDOWS = 1_000_000
"""Demand windows one page (or one CSV chunk) may evaluate: about two years of 1-minute windows, 28 of quarter-hours.
Bounds a request's work before it starts (`page_buckets_within_work`)."""
CHUNK_EDGES = 4096
"""Edges per store call: bounds one call's memory and lets the choice follow the data's density."""


def windows_per_bucket(width: Interval, window_us: int) -> int:
    """The most demand windows one bucket of `width` can hold (a 31-day month, a 25-hour day)."""
    longest = width.months * 31 * _DAY + width.days * _DAY + width.micros + _HOUR
    return -(-longest // window_us)


def page_buckets_within_work(width: Interval, window_us: int, metrics: Iterable[str]) -> int | None:
    """How many buckets a page may hold so its peak demand evaluates at most MAX_DEMAND_WINDOWS windows; None
    when no metric with a peak is asked for (gauges cost per stored block, not per window)."""
    if not any(metric in PEAK_REGISTERS for metric in metrics):
        return None
    return max(1, MAX_DEMAND_WINDOWS // windows_per_bucket(width, window_us))


def check_work(query: "StatisticsQuery", page_size: int) -> None:
    """Refuse, before any work, a page whose peaks would evaluate more than MAX_DEMAND_WINDOWS windows (400
    TooManyDemandWindows, naming the limit and what fits)."""
    most = page_buckets_within_work(query.width, query.window_us, query.metrics)
    if most is not None and page_size > most:
        per_bucket = windows_per_bucket(query.width, query.window_us)
        raise DomainError(
            "TooManyDemandWindows",
            f"a page of statistics evaluates at most {MAX_DEMAND_WINDOWS} demand windows; {page_size} buckets of "
            f"{query.width.canonical()} hold up to {page_size * per_bucket} windows of "
            f"{query.window_us // US_PER_MINUTE} minutes",
            f"ask for pageSize {most} or less, a longer demandWindow, or metrics without peak demand",
        )


def bucket_peaks(
    store: Store, entity_id: uuid.UUID, edges: Sequence[int], window_us: int, tz: ZoneInfo | None,
    metrics: Iterable[str],
) -> list[dict[str, Peak]]:
    """Per bucket between consecutive `edges` (already clipped to the query window): the `Peak` of each
    requested metric that carries one ("positiveActiveEnergy", "negativeActiveEnergy"; others are ignored)
    and has a demand window inside the bucket and inside the register's coverage (docs/semantics.md §10).

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
        windows_grid = demand_grid(window_us, tz)
        instants: list[int] = []
        slices: list[tuple[int, int]] = []  # per bucket: its demand edges, instants[i:j]
        for n, (b0, b1) in enumerate(zip(edges, edges[1:])):
            if n % 256 == 0:
                check_deadline()
            windows = windows_grid.edges(max(b0, first), min(b1, last))
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
        chunks = chunk_values(store, entity_id, register, instants)
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
    """The local calendar months [first, last) that [start, end) meets; `WindowTooLarge` past 120 months."""
    if start >= end:
        raise DomainError("InvalidTimeWindow", "'start' must be before 'end' (the window is [start, end))")
    first = month_index(start, tz)
    last = month_index(end, tz)
    if month_start(last, tz) < end:
        last += 1  # end inside a month: that month too
    if last - first > MAX_CAPACITY_MONTHS:
        raise DomainError(
            "WindowTooLarge",
            f"the capacity tariff covers at most {MAX_CAPACITY_MONTHS} calendar months a request; "
            f"[{format_datetime(start)}, {format_datetime(end)}) widened to whole months in {zone_name(tz)} "
            f"({month_label(first)} to {month_label(last - 1)}) is {last - first}: "
            "ask for the rest in another request",
        )
    return first, last


def capacity_tariff(store: Store, entity_id: uuid.UUID, start: int, end: int,
                    tz: ZoneInfo | None) -> list[CapacityMonth]:
    """The capacity tariff (§10) of every month of [start, end), widened to local calendar months, that has
    coverage of `positiveActiveEnergy` (its total), oldest first; the rolling means also look back on the 11
    months before the window. Only offtake counts: injection (negativeActiveEnergy) is never read.

    Raises `DomainError` InvalidTimeWindow / WindowTooLarge. Reads in one `store.snapshot()`.
    """
    first_month, last_month = capacity_window(start, end, tz)
    register = PEAK_REGISTERS["positiveActiveEnergy"]
    with store.snapshot():
        coverage = store.register_coverage(entity_id, register)
        if coverage is None:
            return []
        first, last = coverage
        # Covered: the month and [first, last] overlap by more than an instant (as a bucket of /aggregations).
        candidates = range(max(first_month - LOOK_BACK_MONTHS, month_index(first, tz)),
                           min(last_month, month_index(last, tz) + 1))
        bounds = {m: (month_start(m, tz), month_start(m + 1, tz)) for m in candidates}
        months = [m for m, (a, b) in bounds.items() if first < b and a < last]
        if not months:
            return []
        edges = [bounds[months[0]][0]] + [bounds[m][1] for m in months]
        peaks = bucket_peaks(store, entity_id, edges, CAPACITY_WINDOW_US, tz, ["positiveActiveEnergy"])
    history = [MonthPeak(m, found.get("positiveActiveEnergy"), True) for m, found in zip(months, peaks)]
    return [CapacityMonth(*bounds[t.month], t) for t in capacity_months(history, since=first_month)]


# -- reading one register at many edges ---------------------------------------------------------------------
_Chunk = tuple[int, list[float]]
"""(index of its first instant, the register's value at instants[index:index + len]); chunks overlap by one."""


def chunk_values(store: Store, entity_id: uuid.UUID, register: int, instants: list[int]) -> list[_Chunk]:
    """The register's value at every instant (ascending, all inside its coverage), chunk by chunk. Values are
    continuous relative to each chunk's own base (the store's rule), so a window's energy is taken inside one
    chunk: consecutive chunks share an instant. Shared with the costs' price edges (`register_deltas`)."""
    chunks: list[_Chunk] = []
    n = len(instants)
    i = 0
    while True:
        check_deadline()
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
        chunks.append((i, [value_at(t, b) for t, b in zip(part, brackets)]))
        i += CHUNK_EDGES
        if i >= n - 1:
            return chunks


def register_deltas(store: Store, entity_id: uuid.UUID, registers: Sequence[int], instants: Sequence[int]
                    ) -> dict[int, list[float]]:
    """Per register, its delta over each piece between consecutive `instants` (ascending, distinct): the
    difference of the register clamped to its coverage at the two ends, as `registers.clamped` gives it (no
    extrapolation: a piece outside the coverage has delta 0, one straddling an end counts from or up to that
    reading).

    The instants are clipped to each register's coverage (`register_coverage`) and read in one
    `register_values_at` call (the readings exactly at them: one seek each); the pieces with an end that has no
    reading there come from `chunk_values` (samples or bracket seeks, by density), each piece inside one chunk.
    """
    n = len(instants)
    out: dict[int, list[float]] = {}
    clipped: dict[int, list[int]] = {}
    for register in registers:
        coverage = store.register_coverage(entity_id, register)
        if coverage is None or n < 2:
            out[register] = [0.0] * max(n - 1, 0)
        else:
            first, last = coverage
            clipped[register] = (instants if first <= instants[0] and instants[-1] <= last else
                                 [first if t < first else last if t > last else t for t in instants])
    if not clipped:
        return out
    whole = [register for register, column in clipped.items() if column is instants]  # no instant clipped
    wanted = instants if len(whole) == len(clipped) else sorted({t for c in clipped.values() for t in c})
    stamps, answers = store.register_values_at(entity_id, list(clipped), list(wanted))
    for (register, column), answer in zip(clipped.items(), answers):
        pieces: dict[int, float] = {}
        unique = column if column is instants else list(dict.fromkeys(column))  # clipping keeps the order
        if stamps == unique:  # the usual case: a value at every instant (compared in C)
            values = answer
        else:
            exact = {ts: v for ts, v in zip(stamps, answer) if v is not None}
            values = list(map(exact.get, unique))
        if None not in values:
            deltas = list(map(sub, values[1:], values[:-1]))  # type: ignore[arg-type]
            if len(unique) == n:
                out[register] = deltas
                continue
            pieces.update(zip(unique, deltas))
            out[register] = [pieces[a] if a != b else 0.0 for a, b in zip(column, column[1:])]
            continue
        pieces.clear()  # left instant → delta to the next unique instant
        missing: list[int] = []
        for a, b, va, vb in zip(unique, unique[1:], values, values[1:]):
            if va is None or vb is None:
                if not missing or missing[-1] != a:
                    missing.append(a)
                missing.append(b)
            else:
                pieces[a] = vb - va
        if missing:
            following = dict(zip(unique, unique[1:]))
            for c0, chunk in chunk_values(store, entity_id, register, missing):
                for k in range(len(chunk) - 1):
                    a, b = missing[c0 + k], missing[c0 + k + 1]
                    if following.get(a) == b and a not in pieces:
                        pieces[a] = chunk[k + 1] - chunk[k]
        out[register] = [pieces[a] if a != b else 0.0 for a, b in zip(column, column[1:])]
    return out


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
    """`demand.largest_window` over instants[i:j] (all inside the coverage), chunk by chunk: a window's energy
    is taken inside one chunk (values are relative to the chunk's own base); the earliest wins ties."""
    best: Peak | None = None
    for c0, values in chunks:
        lo, hi = max(i, c0), min(j, c0 + len(values))
        if hi - lo < 2:
            continue
        peak = largest_window(instants[lo:hi], values[lo - c0:hi - c0], window_us)
        if peak is not None and (best is None or peak.energy > best.energy):
            best = peak
    return best


# -- the statistics page (§3, §5) -------------------------------------------------------------------------------
STATISTICS_NAMESPACE = AGGREGATION_NAMESPACE
STATISTICS_METRICS = tuple(GAUGE_UNITS) + tuple(PEAK_REGISTERS) + QUALITY_METRICS
"""Every metric `/statistics` knows: the gauge metrics, then the energy registers' peak demand, then the quality
marks of the interval import (`quality`, `gasQuality`)."""
QUALITY_CHUNK = 10_000
"""Marks read per store call (keyset paging through the partial index): bounds one call's memory."""


@dataclass(slots=True)
class QualitySummary:
    """The quality marks (docs/semantics.md §10, §14) of the readings in a bucket's (start, end]: an interval's
    mark sits on the reading at its end, so it counts in the bucket that holds the interval."""

    intervals: float = 0.0
    """Σ of the marks' `value`: the flagged register intervals."""
    readings: int = 0
    """The readings carrying the mark."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Per status (the mark's `unit`, e.g. Geschat): how many of those readings carry it."""


@dataclass(frozen=True, slots=True)
class StatisticsQuery(AggregationQuery):
    """A statistics query: an aggregation query's window, width and zone, plus what to compute."""

    metrics: tuple[str, ...]
    """The statistics metrics asked for, in STATISTICS_METRICS order."""
    window_us: int
    """The demand window."""


@dataclass(slots=True, kw_only=True)
class StatisticsBucket(AnsweredBucket):
    gauges: dict[int, GaugeSummary]
    """Per gauge (GAUGE_SERIES index) with samples or coverage in the bucket."""
    peaks: dict[str, Peak]
    """Per energy register with a complete demand window in the bucket."""
    quality: dict[str, QualitySummary] = field(default_factory=dict)
    """Per quality metric (QUALITY_METRICS) with a mark on a reading in the bucket's (start, end]."""


def statistics_page(store: Store, query: StatisticsQuery, position: int, page_size: int) -> Page:
    """Up to `page_size` buckets with something to say from `position` on (none is zero-filled).

    Call it inside `store.snapshot()`. Gauges come from the stored block summaries, raw samples at the buckets'
    partial ends and two neighbour seeks; peaks from the energy registers at demand-window edges; quality marks
    from the marked readings only (`bucket_quality`).
    """
    wanted = {GAUGE_SERIES.index(g) for g in GAUGE_SERIES if g[0] in query.metrics}
    gauges = [k for k in store.gauges_present(query.entity_id) if k in wanted]
    peak_metrics = [m for m in PEAK_REGISTERS if m in query.metrics]
    quality_metrics = [m for m in QUALITY_METRICS if m in query.metrics]
    prefix = f"{query.entity_id}|statistics|{query.width.canonical()}|{query.tz_name}|"
    found: list[StatisticsBucket] = []
    grid = query.grid
    asked = 0
    while len(found) <= page_size and position < query.end:
        check_deadline()
        edges = grid.page_edges(position, query.start, query.end, page_size + 1 - len(found))
        asked += len(edges)
        per_gauge = gauge_page(store, query.entity_id, gauges, edges)
        peaks = bucket_peaks(store, query.entity_id, edges, query.window_us, query.tz, peak_metrics)
        quality = bucket_quality(store, query.entity_id, edges, quality_metrics)
        any_found = False
        for i, (b0, b1) in enumerate(zip(edges, edges[1:])):
            bucket_gauges = {k: summaries[i] for k, summaries in per_gauge.items() if summaries[i] is not None}
            if bucket_gauges or peaks[i] or quality[i]:
                any_found = True
                found.append(StatisticsBucket(id=bucket_id(STATISTICS_NAMESPACE, prefix, b0, b1), start=b0, end=b1,
                                              gauges=bucket_gauges, peaks=peaks[i], quality=quality[i]))
        position = edges[-1]
        if not any_found and position < query.end:
            position = _next_statistics(store, query, gauges, peak_metrics, quality_metrics, position)
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


def bucket_quality(store: Store, entity_id: uuid.UUID, edges: Sequence[int], metrics: Iterable[str]
                   ) -> list[dict[str, QualitySummary]]:
    """Per bucket between consecutive `edges`: the quality marks of each requested quality metric on the readings
    in the bucket's (start, end] (an interval's mark is on its end reading: a reading stamped at a bucket's end
    marks that bucket, one at its start the bucket before). Reads only the marked readings (the store's partial
    index), QUALITY_CHUNK at a time: the cost follows the marks in the page's span, not its readings."""
    result: list[dict[str, QualitySummary]] = [{} for _ in range(max(len(edges) - 1, 0))]
    if not result:
        return result
    for metric in metrics:
        lo, hi = edges[0], edges[-1]
        while True:
            check_deadline()
            marks = store.quality_marks(entity_id, metric, lo, hi, QUALITY_CHUNK)
            for ts, value, status in marks:
                if value is None or status is None:
                    continue  # (the name only mentioned elsewhere in the reading's other metrics)
                summary = result[bisect.bisect_left(edges, ts) - 1].setdefault(metric, QualitySummary())
                summary.intervals += value
                summary.readings += 1
                summary.statuses[status] = summary.statuses.get(status, 0) + 1
            if len(marks) < QUALITY_CHUNK:
                break
            lo = marks[-1][0]
    return result


def _next_statistics(store: Store, query: StatisticsQuery, gauges: list[int], peak_metrics: list[str],
                     quality_metrics: list[str], position: int) -> int:
    """Skip a run of empty buckets: to the bucket holding the next sample of any selected gauge or register, or
    the next quality mark (the bucket whose (start, end] holds it)."""
    upcoming: list[int] = []
    for metric in quality_metrics:
        for ts, _, _ in store.quality_marks(query.entity_id, metric, position, query.end, 1):
            if ts - 1 <= position:
                return position  # (in the bucket starting at position)
            upcoming.append(ts - 1)
    if gauges:
        _, after = store.gauge_neighbours(query.entity_id, gauges, position, position)
        upcoming += [ts for ts, _ in after.values()]
    if peak_metrics:
        brackets = store.register_brackets(query.entity_id, [position])
        for metric in peak_metrics:
            after_sample = brackets[PEAK_REGISTERS[metric]][0][1]
            if after_sample is not None:
                upcoming.append(after_sample[0])
    return skip_to(query.grid, query.end, position, upcoming)
