"""Gauges → per-bucket statistics: count, min/max and when, time-weighted mean (docs/semantics.md §10).

A gauge (a power phase, a voltage, a state of charge) is sampled at reading timestamps. Between two
consecutive samples it is interpolated linearly, exactly as a register is (docs/semantics.md §5, without
resets); before its first sample and after its last there is no extrapolation. Its coverage is
[first sample, last sample] of the whole series.

`GaugeSummary` is the one mergeable summary of a gauge over a half-open interval [start, end) (TimescaleDB
Toolkit's `time_weight('Linear')` plus `stats_agg`'s min/max). It comes in two degrees of completeness:

- with the interval's neighbours (`summarize(start, end, samples, before, after)`), it holds the bucket's
  statistics: coverage and integral reach out to start and end where the series does;
- from the interval's own samples only (`summarize(start, end, samples, None, None)`), it covers just
  [first, last] of them. That is what storage keeps per block: it depends on the block's samples only, so
  late data elsewhere never makes it stale.

`merge` joins consecutive summaries of either kind, bridging the stretch between one's last covered point
and the next one's first with the straight line that the interpolation draws there; `complete` adds the
neighbours at the end. So a bucket reads raw samples only at its partial ends:

    bucket [b0, b1) = complete(b0, b1, raw[b0, B1) ⊕ stored blocks of [B1, B2) ⊕ raw[B2, b1), before(b0), after(b1))

with raw[x, y) = summarize(x, y, samples, None, None), before(b0) the nearest sample with t < b0 and
after(b1) the nearest with t ≥ b1.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from operator import add, mul, sub
from typing import Any

import msgspec

from .registers import interpolate

Sample = tuple[int, float]
"""(timestamp µs, gauge value in its normalised unit)."""

_US_PER_SECOND = 1_000_000
TIERS = (15 * 60 * _US_PER_SECOND, 3600 * _US_PER_SECOND, 86_400 * _US_PER_SECOND)
"""Widths of the blocks storage keeps summaries of, on the UTC grid from the epoch: 15 minutes, 1 hour, 1 day,
each block of a tier the merge of the blocks of the tier below it. Every time zone in use today is offset from
UTC by whole quarter-hours, so buckets of 15 minutes and more, in any zone, start and end on 15-minute block
edges: only a window's own ends, and finer buckets, read raw samples. The coarser tiers keep a long bucket's
cost small: a local day is 24 hourly blocks (one daily block in UTC), not 96. (BENCHMARKS.md, "Statistics",
has the measurements behind the widths.)"""
BLOCK_US = TIERS[0]


def block_of(t: int, width: int = BLOCK_US) -> int:
    """The start of the block of `width` holding instant t.

    >>> block_of(BLOCK_US + 5) == BLOCK_US, block_of(-1) == -BLOCK_US
    (True, True)
    """
    return t - t % width


def block_ceil(t: int) -> int:
    """The first block edge at or after t."""
    return -((-t) // BLOCK_US) * BLOCK_US


class GaugeSummary(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A gauge over a half-open interval [start, end), mergeable with the intervals next to it.

    The interval itself is not kept: storage keys its summaries by block and a bucket knows its edges;
    what `merge` needs is the order of the pieces, which `head`/`tail` give. There is no empty summary:
    an interval with neither samples nor coverage has `None` (the identity of `merge`). A msgspec Struct:
    ingest builds one per gauge and block, and storage packs a block's summaries in one row (`pack`).
    """

    count: int
    """Samples with start ≤ t < end."""
    min: float | None
    """Smallest sample value; None when count = 0 (as min_at, max, max_at)."""
    min_at: int | None
    """Earliest sample time with the smallest value."""
    max: float | None
    max_at: int | None
    """Earliest sample time with the largest value."""
    integral: float
    """∫ G dt over the covered part, in value·µs."""
    head: tuple[int, float]
    """First covered point (t, G(t)): start when summarised with a neighbour before it, else the first sample."""
    tail: tuple[int, float]
    """Last covered point: end when summarised with a neighbour at or after it, else the last sample."""

    def __post_init__(self) -> None:
        # The covered part is [head, tail]: one stretch, because coverage of a series is an interval.
        if self.tail[0] < self.head[0] or (self.count == 0 and self.tail[0] == self.head[0]):
            raise ValueError(f"GaugeSummary without samples or coverage: {self!r}")
        if (self.count == 0) != (self.min is None):
            raise ValueError(f"GaugeSummary: min/max must be set exactly when count > 0: {self!r}")

    @property
    def covered_us(self) -> int:
        """Length of [start, end) ∩ [first sample, last sample] of the whole series, in µs (with the
        neighbours; without them, of [first, last] of the interval's own samples)."""
        return self.tail[0] - self.head[0]


def summarize(
    start: int, end: int, samples: Sequence[Sample], before: Sample | None, after: Sample | None
) -> GaugeSummary | None:
    """The summary of a gauge over [start, end), or None when it has neither samples nor coverage there.

    `samples`: the samples with start ≤ t < end, in time order. `before`: the nearest sample with t < start,
    `after`: the nearest with t ≥ end (None where the series has none); they are the neighbours the
    interpolation uses at the edges. With both None the summary covers [first, last] of `samples` only:
    that is the block summary storage keeps (see the module doc).

    >>> s = summarize(10, 20, [(12, 3.0), (15, 1.0)], (8, 5.0), None)   # the series ends at 15
    >>> s.count, s.min, s.min_at, s.max, s.max_at, s.covered_us, s.integral
    (2, 1.0, 15, 3.0, 12, 5, 13.0)
    >>> summarize(10, 20, [], (0, 1.0), (30, 4.0)).integral      # between two samples: covered, no count
    25.0
    >>> summarize(10, 20, [], (0, 1.0), None) is None             # the series ended before the interval
    True
    """
    if samples and not (start <= samples[0][0] and samples[-1][0] < end):
        raise ValueError(f"summarize: samples must lie in [{start}, {end})")
    return complete(start, end, _of_samples(samples), before, after)


def complete(
    start: int, end: int, inner: GaugeSummary | None, before: Sample | None, after: Sample | None
) -> GaugeSummary | None:
    """The summary over [start, end) from the merged summaries of its samples and the two neighbours.

    `inner` summarises the samples with start ≤ t < end (block summaries and raw ends merged in order, or
    None when there are none), so its covered points lie in [start, end]; `before`/`after` are as in
    `summarize`. Adds the stretches from start to the first covered point and from the last one to end,
    interpolated with the neighbours (TimescaleDB Toolkit's `interpolated_average`). A summary that already
    reaches start and end comes back unchanged.

    >>> blocks = merge(summarize(0, 10, [(4, 2.0)], None, None), summarize(10, 20, [(12, 4.0)], None, None))
    >>> s = complete(0, 20, blocks, (-4, 0.0), (22, 4.0))
    >>> s.head, s.tail, s.integral
    ((0, 1.0), (20, 4.0), 62.0)
    """
    if start > end:
        raise ValueError(f"complete: start {start} after end {end}")
    if (before is not None and before[0] >= start) or (after is not None and after[0] < end):
        raise ValueError(f"complete: neighbours must lie before {start} and at or after {end}")
    if inner is not None and not (start <= inner.head[0] and inner.tail[0] <= end):
        raise ValueError(f"complete: {inner!r} is not inside [{start}, {end}]")
    first = inner.head if inner is not None else after
    last = inner.tail if inner is not None else before
    head = (start, interpolate(before, first, start)) if before is not None and first is not None else first
    tail = (end, interpolate(last, after, end)) if after is not None and last is not None else last
    if head is None or tail is None or head[0] > tail[0] or (inner is None and head[0] == tail[0]):
        return None
    if inner is None:
        return GaugeSummary(0, None, None, None, None, _trapezoid(head, tail), head, tail)
    integral = _trapezoid(head, inner.head) + inner.integral + _trapezoid(inner.tail, tail)
    return GaugeSummary(inner.count, inner.min, inner.min_at, inner.max, inner.max_at, integral, head, tail)


def merge(a: GaugeSummary | None, b: GaugeSummary | None) -> GaugeSummary | None:
    """The summary of two consecutive intervals, `a` before `b`, with no sample between them.

    Count and integral add, min/max keep the earliest time on ties. Where both were summarised with their
    neighbours, a ends exactly where b's coverage begins and they simply add; otherwise the stretch from
    a's last covered point to b's first is bridged by the straight line the interpolation draws there.

    >>> a = summarize(0, 10, [(0, 2.0)], None, (10, 4.0))
    >>> b = summarize(10, 20, [(10, 4.0), (15, 2.0)], (0, 2.0), None)
    >>> m = merge(a, b)
    >>> m.count, m.max, m.max_at, m.covered_us, m.integral
    (3, 4.0, 10, 15, 45.0)
    >>> m == summarize(0, 20, [(0, 2.0), (10, 4.0), (15, 2.0)], None, None)
    True
    """
    if a is None:
        return b
    if b is None:
        return a
    if b.head[0] < a.tail[0]:
        raise ValueError(f"merge: {b!r} starts before {a!r} ends")
    integral = a.integral + b.integral + _trapezoid(a.tail, b.head)
    if b.min is None or (a.min is not None and a.min <= b.min):
        low = a.min, a.min_at
    else:
        low = b.min, b.min_at
    if b.max is None or (a.max is not None and a.max >= b.max):
        high = a.max, a.max_at
    else:
        high = b.max, b.max_at
    return GaugeSummary(a.count + b.count, *low, *high, integral, a.head, b.tail)


def gauge_statistics(summary: GaugeSummary) -> dict[str, Any]:
    """The wire fields of a gauge in a bucket; times stay µs (formatting them is the API's job).

    Values are rounded to 1e-9 of the unit, which hides float noise without changing a measured digit.

    >>> gauge_statistics(summarize(0, 10, [(2, 1.0)], None, None))
    {'mean': None, 'min': 1.0, 'minAt': 2, 'max': 1.0, 'maxAt': 2, 'count': 1, 'coveredSeconds': 0.0}
    """
    covered = summary.tail[0] - summary.head[0]
    low, high = summary.min, summary.max
    return {  # (+ 0.0 turns -0.0 into 0.0)
        "mean": round(summary.integral / covered, 9) + 0.0 if covered else None,
        "min": None if low is None else round(low, 9) + 0.0,
        "minAt": summary.min_at,
        "max": None if high is None else round(high, 9) + 0.0,
        "maxAt": summary.max_at,
        "count": summary.count,
        "coveredSeconds": covered / _US_PER_SECOND,
    }


def _trapezoid(a: Sample, b: Sample) -> float:
    """∫ of the straight line from a to b."""
    return (a[1] + b[1]) * (b[0] - a[0]) / 2


def _of_samples(samples: Sequence[Sample]) -> GaugeSummary | None:
    """The summary of samples alone: covered from the first to the last."""
    if not samples:
        return None
    return of_columns([t for t, _ in samples], [v for _, v in samples])


def of_columns(stamps: Sequence[int], values: Sequence[float]) -> GaugeSummary:
    """The summary of samples given as two columns (ascending distinct times; at least one sample), covered
    from the first to the last. The ingest planner's hot path: every step runs in C.

    >>> s = of_columns([0, 10, 20], [1.0, 3.0, 1.0])
    >>> s.count, s.min_at, s.max_at, s.integral
    (3, 0, 10, 40.0)
    """
    low = min(values)
    high = max(values)
    # Σ (v0 + v1)·(t1 − t0), halved once: halving is exact, so this equals the sum of the trapezoids.
    integral = sum(map(mul, map(add, values, values[1:]), map(sub, stamps[1:], stamps))) / 2
    return GaugeSummary(len(values), low, stamps[values.index(low)], high, stamps[values.index(high)],
                        integral, (stamps[0], values[0]), (stamps[-1], values[-1]))


def merge_run(summaries: Iterable[GaugeSummary]) -> GaugeSummary | None:
    """`merge` of many consecutive summaries (in time order) in one pass: a year of blocks merges without
    building a summary per step.

    >>> parts = [summarize(i, i + 10, [(i, float(i))], None, None) for i in range(0, 40, 10)]
    >>> merge_run(parts) == summarize(0, 40, [(i, float(i)) for i in range(0, 40, 10)], None, None)
    True
    """
    it = iter(summaries)
    first = next(it, None)
    if first is None:
        return None
    count, low, low_at, high, high_at = first.count, first.min, first.min_at, first.max, first.max_at
    integral, tail = first.integral, first.tail
    for s in it:
        head = s.head
        if head[0] < tail[0]:
            raise ValueError(f"merge_run: {s!r} starts before the summary before it ends")
        integral += s.integral + (tail[1] + head[1]) * (head[0] - tail[0]) / 2
        tail = s.tail
        if s.count:
            count += s.count
            if low is None or s.min < low:  # type: ignore[operator]
                low, low_at = s.min, s.min_at
            if high is None or s.max > high:  # type: ignore[operator]
                high, high_at = s.max, s.max_at
    return GaugeSummary(count, low, low_at, high, high_at, integral, first.head, tail)


# -- a page of buckets from stored blocks, raw samples at their partial ends, and two neighbours -------------
def split_buckets(edges: Sequence[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
    """Where the buckets between consecutive `edges` are read from: (raw spans [lo, hi), block runs (width, lo,
    hi)). A bucket's whole 15-minute blocks are covered by the coarsest aligned blocks of TIERS (greedily, from
    its start); the parts of it outside whole blocks (its partial ends, or all of a bucket narrower than a
    block) come from raw samples. Adjacent spans and runs of one width are joined, so a page usually reads
    one run per tier.

    >>> q, h, d = TIERS
    >>> split_buckets([0, 2 * q, 2 * q + 5]) == ([(2 * q, 2 * q + 5)], [(q, 0, 2 * q)])
    True
    >>> split_buckets([23 * h, 47 * h])[1] == [(h, 23 * h, 24 * h), (d, 24 * h, 47 * h)]     # 1 hour, then …
    False
    >>> split_buckets([23 * h, 47 * h])[1] == [(h, 23 * h, 47 * h)]                        # … a day does not fit
    True
    """
    raw: list[tuple[int, int]] = []
    runs: list[tuple[int, int, int]] = []

    def add_raw(lo: int, hi: int) -> None:
        if lo < hi:
            if raw and raw[-1][1] == lo:
                raw[-1] = (raw[-1][0], hi)
            else:
                raw.append((lo, hi))

    for b0, b1 in zip(edges, edges[1:]):
        c0, c1 = block_ceil(b0), block_of(b1)
        if c0 >= c1:
            add_raw(b0, b1)
            continue
        add_raw(b0, c0)
        t = c0
        while t < c1:
            width = next(w for w in reversed(TIERS) if t % w == 0 and t + w <= c1)
            if runs and runs[-1][0] == width and runs[-1][2] == t:
                runs[-1] = (width, runs[-1][1], t + width)
            else:
                runs.append((width, t, t + width))
            t += width
        add_raw(c1, b1)
    return raw, runs


def bucket_summaries(edges: Sequence[int], blocks: Sequence[tuple[int, GaugeSummary]], samples: Sequence[Sample],
                     before: Sample | None, after: Sample | None) -> list[GaugeSummary | None]:
    """One gauge's summary in each bucket between consecutive `edges` (docs/semantics.md §10).

    `blocks`: (block start, summary) of the stored blocks in the block runs of `split_buckets` (any tier, in any
    order), and `samples` the gauge's raw samples in its raw spans, in time order. `before`: the gauge's nearest sample before
    edges[0]; `after`: its nearest at or after edges[-1]. Between buckets the neighbours are the samples next
    door: the last sample of the bucket before, the first of the bucket after.

    >>> q = BLOCK_US
    >>> blocks = [(0, summarize(0, q, [(0, 1.0)], None, None))]
    >>> [s.count if s else None for s in bucket_summaries([0, q, 2 * q, 3 * q, 4 * q], blocks, [(2 * q + 5, 3.0)], None, None)]
    [1, 0, 1, None]
    """
    pieces: list[tuple[int, GaugeSummary]] = list(blocks)
    i = 0
    while i < len(samples):  # raw samples, grouped by bucket and block: each group one piece
        t = samples[i][0]
        limit = min(edges[bisect_right(edges, t)] if t < edges[-1] else edges[-1], block_of(t) + BLOCK_US)
        j = bisect_left(samples, (limit,), i)
        group = samples[i:j]
        pieces.append((t, of_columns([s[0] for s in group], [s[1] for s in group])))
        i = j
    pieces.sort(key=lambda piece: piece[0])
    n = len(edges) - 1
    inner: list[GaugeSummary | None] = [None] * n
    i = 0
    start = 0
    while start < len(pieces):
        key = pieces[start][0]
        while edges[i + 1] <= key:
            i += 1
        stop = start + 1
        while stop < len(pieces) and pieces[stop][0] < edges[i + 1]:
            stop += 1
        inner[i] = pieces[start][1] if stop == start + 1 else merge_run(summary for _, summary in pieces[start:stop])
        start = stop
    befores: list[Sample | None] = []
    previous = before
    for summary in inner:
        befores.append(previous)
        if summary is not None:
            previous = summary.tail
    result: list[GaugeSummary | None] = [None] * n
    following = after
    for i in range(n - 1, -1, -1):
        summary = inner[i]
        result[i] = complete(edges[i], edges[i + 1], summary, befores[i], following)
        if summary is not None:
            following = summary.head
    return result
