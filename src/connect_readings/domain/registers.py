"""Cumulative registers → consumption per bucket (docs/semantics.md §5).

Every register series (each tier, total, each gas volume) is a counter. Storage hands us, for every bucket
edge, the nearest reading at or before and at or after it, with values already made continuous across
meter resets (see `reset_deltas`). The register at an instant is interpolated linearly between those two
readings; outside the first..last reading there is no extrapolation: an edge is clamped to the coverage.
A bucket's value is then the difference of the clamped register at its two edges, so the buckets of a
window telescope exactly into the window's total.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from operator import sub
from typing import Any

import numpy

from .readings import REGISTER_SERIES, TIER_FIELDS, TIERED_REGISTERS, ENERGY_UNIT, VOLUME_UNIT

Sample = tuple[int, float]
"""(timestamp µs, continuous register value)."""

Bracket = tuple[Sample | None, Sample | None]
"""The readings at-or-before and at-or-after an instant; None where there is none."""

ClampedValue = tuple[int, float] | None
"""(instant clamped to coverage, register value there), or None when the series is empty."""


def reset_deltas(stamps: Sequence[int], values: Sequence[float], previous: float | None) -> list[Sample]:
    """Resets in an ordered raw series: any decrease is a reset to zero (TimescaleDB Toolkit's rule).

    `previous` is the value before the series. Returns (timestamp, offset added from that reading on): the
    value before the reset, so the continuous counter rises by exactly the new raw value across the reset,
    never by a negative amount.

    >>> reset_deltas([1, 2, 3], [5.0, 1.0, 2.0], 4.0)
    [(2, 5.0)]
    """
    if sorted(values) == values and (previous is None or not values or values[0] >= previous):
        return []  # no decrease anywhere: the usual series, checked in C
    deltas: list[Sample] = []
    for ts, value in zip(stamps, values):
        if previous is not None and value < previous:
            deltas.append((ts, previous))
        previous = value
    return deltas


class ResetOffsets:
    """Cumulative reset offsets of one register over a time span, relative to the span's start.

    Sums stay finite: every raw value is ≤ 1e12 (readings.MAX_REGISTER) and a series holds at most one
    reading per microsecond of 1900–2199 (< 1e16), so a continuous value, and any interpolation or
    difference of two, is below 1e28, far from the largest double (1.8e308).
    """

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.totals: list[float] = []

    def add(self, ts: int, offset: float) -> None:
        self.stamps.append(ts)
        self.totals.append((self.totals[-1] if self.totals else 0.0) + offset)

    def at(self, ts: int) -> float:
        i = bisect.bisect_right(self.stamps, ts)
        return self.totals[i - 1] if i else 0.0

    def applied(self, samples: Sequence[Sample]) -> list[Sample]:
        """Raw samples in time order made continuous: each plus the offset at its time (`at`), segment by
        segment between resets rather than a search per sample (a year of readings has a handful of resets).

        >>> offsets = ResetOffsets()
        >>> offsets.add(20, 5.0)
        >>> offsets.applied([(10, 1.0), (20, 0.5), (30, 2.0)])
        [(10, 1.0), (20, 5.5), (30, 7.0)]
        """
        stamps = [ts for ts, _ in samples]
        out: list[Sample] = []
        start = 0
        for k in range(len(self.stamps) + 1):
            end = bisect.bisect_left(stamps, self.stamps[k]) if k < len(self.stamps) else len(samples)
            if end > start:
                offset = self.totals[k - 1] if k else 0.0
                out.extend(samples[start:end] if not offset else [(ts, v + offset) for ts, v in samples[start:end]])
                start = end
        return out


def with_offsets(sample: Sample | None, offsets: ResetOffsets | None) -> Sample | None:
    """A raw register sample made continuous: raw value plus the resets up to its time."""
    if sample is None or offsets is None:
        return sample
    return sample[0], sample[1] + offsets.at(sample[0])


def interpolate(left: Sample, right: Sample, t: int) -> float:
    """The series at t on the straight line between two samples, left[0] ≤ t ≤ right[0]; exact at the ends.
    The one interpolation of registers and gauges (docs/semantics.md §5).

    >>> interpolate((0, 1.0), (10, 2.0), 5), interpolate((0, 0.1), (10, 0.3), 10)
    (1.5, 0.3)
    """
    (t0, v0), (t1, v1) = left, right
    if t == t0:
        return v0
    if t == t1:
        return v1
    return v0 + (v1 - v0) * ((t - t0) / (t1 - t0))


def clamped(t: int, bracket: Bracket) -> ClampedValue:
    """The register at t, or at the coverage's nearer end when t lies outside it (no extrapolation)."""
    before, after = bracket
    if before is None:
        return after
    if after is None:
        return before
    return t, interpolate(before, after, t)


def value_at(t: int, bracket: Bracket) -> float:
    """The register at t, which lies inside the coverage (a reading at or before it and one at or after)."""
    before, after = bracket
    assert before is not None and after is not None, "an instant outside the register's coverage"
    return interpolate(before, after, t)


def rounded_deltas(deltas: Iterable[float]) -> list[float]:
    """Energies or volumes as served: rounded to nano-units, which hides float noise (0.1 + 0.2) without
    changing any metered digit; a delta negative by noise only is 0. Exactly `round(delta, 9)`, the double
    nearest the delta's exact value rounded half-even at 9 decimals.

    >>> rounded_deltas([0.30000000000000004, -1e-17, 0.0009765625])
    [0.3, 0.0, 0.000976562]

    A long list (a year of daily buckets rounds 1,825 values; `round` costs ~0.3 µs each) is rounded as one
    numpy array: `rint(x·1e9) / 1e9` is that same double whenever the computed product x·1e9 is below 2⁵² and
    not itself a half. There its ulp is at most ½, so it and every half are multiples of the ulp: a product
    that is not a half lies an ulp or more from one, farther than its rounding error (half an ulp), and `rint`
    takes the exact product's integer; /1e9 is then one correctly rounded division of two exact doubles. The
    rare values whose product is a half, huge or not finite are rounded by `round` itself.
    """
    values = deltas if isinstance(deltas, list) else list(deltas)
    if len(values) < _VECTOR_FROM:
        return list(map(_rounded_one, values))
    return _rounded_array(numpy.array(values, dtype=numpy.float64), values.__getitem__)


def rounded_differences(values: Sequence[float]) -> list[float]:
    """`rounded_deltas` of each value minus the one before (a register's consumption between its edges).

    >>> rounded_differences([1.0, 1.1, 1.4, 1.3])
    [0.1, 0.3, 0.0]
    """
    if len(values) <= _VECTOR_FROM:
        return rounded_deltas(map(sub, values[1:], values))
    x = numpy.array(values, dtype=numpy.float64)
    return _rounded_array(x[1:] - x[:-1], lambda i: values[i + 1] - values[i])  # the same IEEE subtraction


def _rounded_array(x: numpy.ndarray, delta: Callable[[int], float]) -> list[float]:
    """`rounded_deltas` of the array x, whose value i is `delta(i)` (for those `round` must take)."""
    with numpy.errstate(invalid="ignore"):  # inf·1e9 - rint(inf) is NaN: not sure, rounded by `round`
        scaled = x * 1e9
        whole = numpy.rint(scaled)
        sure = (numpy.abs(scaled - whole) < 0.5) & (numpy.abs(scaled) < 2.0 ** 52)
        rounded: list[float] = numpy.where(x > 0.0, whole / 1e9, 0.0).tolist()
    if not sure.all():
        for i in numpy.flatnonzero(~sure).tolist():
            rounded[i] = _rounded_one(delta(i))
    return rounded


def _rounded_one(delta: float) -> float:
    """The rule itself, one value at a time: what the array path must equal."""
    return round(delta, 9) if delta > 0.0 else 0.0


_VECTOR_FROM = 32
"""From this many values numpy's fixed cost (~15 µs) is smaller than `round`'s per value (`python -m bench.rounding`)."""


def rounded_delta(delta: float) -> float:
    """One `rounded_deltas`."""
    return rounded_deltas((delta,))[0]


def bucket_deltas(edges: Sequence[int], brackets: Sequence[Bracket]) -> list[float | None]:
    """Consumption between consecutive edges, rounded; None where the clipped interval has no coverage.

    The register at an edge is interpolated between its bracket, or clamped to the one side there is.
    """
    deltas: list[float | None] = []
    left: ClampedValue = None
    for i, (edge, bracket) in enumerate(zip(edges, brackets)):
        right = clamped(edge, bracket)
        if i and (left is None or right is None or right[0] <= left[0]):
            deltas.append(None)
        elif i:
            deltas.append(rounded_delta(right[1] - left[1]))  # type: ignore[index]
        left = right
    return deltas


def edge_deltas(instants: Sequence[int], registers: Sequence[int], columns: Sequence[Sequence[float | None]],
                brackets_at: Callable[[list[int]], Sequence[Sequence[Bracket]]]
                ) -> tuple[list[list[float | None] | None], list[Bracket] | None]:
    """Per register (REGISTER_SERIES order; None: the entity has none) the consumption between consecutive instants,
    as `bucket_deltas` gives it: from the stored edges of the entity's `registers` (`columns`, continuous, None
    where unknown) for a bucket whose two ends every register knows, else from the readings around its ends
    (`brackets_at(those ends)`, one call). Also the brackets of the last instant when it was asked (for paging).

    >>> edge_deltas([0, 10, 20], [0], [[1.0, 2.5, None]], lambda ts: [[((5, 2.0), (15, 3.0)), ((15, 3.0), None)]]
    ...             )[0][0]
    [1.5, 0.5]
    """
    n = len(instants)
    result: list[list[float | None] | None] = [None] * len(REGISTER_SERIES)
    if not any(None in column for column in columns):  # every edge known (the usual case), checked in C
        for k, column in zip(registers, columns):
            result[k] = rounded_differences(column)  # type: ignore[arg-type]
        return result, None
    known = [all(column[i] is not None for column in columns) for i in range(n)]
    seek = [not (known[i] and known[i + 1]) for i in range(n - 1)]
    asked = [t for i, t in enumerate(instants) if (i < n - 1 and seek[i]) or (i and seek[i - 1])]
    brackets = brackets_at(asked)
    at = {t: j for j, t in enumerate(asked)}
    for k, column in zip(registers, columns):
        deltas: list[float | None] = []
        i = 0
        while i < n - 1:
            if not seek[i]:
                deltas.append(rounded_delta(column[i + 1] - column[i]))  # type: ignore[operator]
                i += 1
                continue
            j = i
            while j < n - 1 and seek[j]:
                j += 1  # buckets i..j-1 read from the brackets of instants i..j
            lo = at[instants[i]]
            deltas.extend(bucket_deltas(instants[i:j + 1], brackets[k][lo:lo + j + 1 - i]))
            i = j
        result[k] = deltas
    last = [column[-1] for column in brackets] if asked and asked[-1] == instants[-1] else None
    return result, last


def aggregate(edges: Sequence[int], brackets_per_register: Sequence[Sequence[Bracket]]) -> list[dict[str, Any]]:
    """AggregationData for each bucket between consecutive edges."""
    columns = [None if _no_data(brackets) else bucket_deltas(edges, brackets) for brackets in brackets_per_register]
    return aggregate_columns(columns, len(edges) - 1)


# (metric, [(field, column index)]) in wire order; the loops below walk these instead of dicts.
_TIERED_LAYOUT = [
    (metric, [(field, REGISTER_SERIES.index((metric, field))) for field in TIER_FIELDS])
    for metric in TIERED_REGISTERS
]
_VOLUME_LAYOUT = [(metric, k) for k, (metric, field) in enumerate(REGISTER_SERIES) if field is None]


def aggregate_columns(columns: Sequence[Sequence[float | None] | None], n: int) -> list[dict[str, Any]]:
    """Per-register columns of rounded deltas → AggregationData per bucket, built column by column."""
    data: list[dict[str, Any]] = [{} for _ in range(n)]
    for metric, fields in _TIERED_LAYOUT:
        totals = columns[fields[-1][1]]
        if totals is None:
            continue
        t1, t2, t3, t4 = (columns[k] or [None] * n for _, k in fields[:4])
        for row, a, b, c, d, total in zip(data, t1, t2, t3, t4, totals):  # zip: no indexing per bucket
            if total is not None:
                row[metric] = {"t1": a, "t2": b, "t3": c, "t4": d, "total": total, "unit": ENERGY_UNIT}
    for metric, k in _VOLUME_LAYOUT:
        values = columns[k]
        if values is not None:
            for row, value in zip(data, values):
                if value is not None:
                    row[metric] = {"value": value, "unit": VOLUME_UNIT}
    return data


def _no_data(brackets: Sequence[Bracket]) -> bool:
    """No reading at or after the first edge and none at or before the last: the series is empty here."""
    return not brackets or (brackets[0][1] is None and brackets[-1][0] is None)
