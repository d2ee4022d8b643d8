"""Gauge statistics: count, min/max and when, time-weighted mean, coverage (docs/semantics.md §10).

Tables of inputs and expected outputs (an edge case found once becomes a row), then property tests
against a brute-force reference: exact rational interpolation, integrated step by step.
"""

from __future__ import annotations

import doctest
import itertools
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain import gauges
from connect_readings.domain.gauges import GaugeSummary, Sample, complete, gauge_statistics, merge, summarize

S = 1_000_000  # µs per second: table times read as seconds


def stats(mean: float | None, lo: tuple[float, int] | None, hi: tuple[float, int] | None, count: int,
          covered: float) -> dict[str, Any]:
    """Expected wire fields; min/max given as (value, at in seconds)."""
    return {"mean": mean, "min": lo and lo[0], "minAt": lo and lo[1] * S, "max": hi and hi[0],
            "maxAt": hi and hi[1] * S, "count": count, "coveredSeconds": covered}


# start, end (s), samples in [start, end), nearest before start, nearest at or after end → statistics or None
SUMMARIES: list[tuple[str, int, int, list[Sample], Sample | None, Sample | None, dict[str, Any] | None]] = [
    ("between two samples: a mean, no count",
     10, 20, [], (0, 1.0), (30 * S, 4.0), stats(2.5, None, None, 0, 10.0)),
    ("a single sample is the whole series: no coverage, but count and min/max",
     0, 10, [(5 * S, 7.0)], None, None, stats(None, (7.0, 5), (7.0, 5), 1, 0.0)),
    ("coverage ends inside the bucket",
     10, 20, [(12 * S, 3.0), (15 * S, 1.0)], (8 * S, 5.0), None, stats(2.6, (1.0, 15), (3.0, 12), 2, 5.0)),
    ("coverage starts inside the bucket",
     0, 10, [(4 * S, 2.0), (8 * S, 4.0)], None, (12 * S, 4.0), stats(3.333333333, (2.0, 4), (4.0, 8), 2, 6.0)),
    ("a sample on the start edge counts, one on the end edge belongs to the next bucket",
     10, 20, [(10 * S, 1.0)], (0, 0.0), (20 * S, 3.0), stats(2.0, (1.0, 10), (1.0, 10), 1, 10.0)),
    ("ties: the earliest sample with the min and with the max",
     0, 5, [(1 * S, 2.0), (2 * S, 5.0), (3 * S, 2.0), (4 * S, 5.0)], None, None,
     stats(3.5, (2.0, 1), (5.0, 2), 4, 3.0)),
    ("negative values (export)",
     0, 20, [(0, -100.0), (10 * S, 50.0)], None, None, stats(-25.0, (-100.0, 0), (50.0, 10), 2, 10.0)),
    ("a flat series: the mean is the value, no float noise",
     0, 3, [(0, 230.1), (1 * S, 230.1), (2 * S, 230.1)], None, (3 * S, 230.1),
     stats(230.1, (230.1, 0), (230.1, 0), 3, 3.0)),
    ("float noise in the mean is rounded away",
     0, 10, [(0, 0.1)], None, (10 * S, 0.2), stats(0.15, (0.1, 0), (0.1, 0), 1, 10.0)),
    ("a mean that is zero but for noise is 0.0, not -0.0",
     0, 2, [(0, 0.3), (1 * S, -(0.1 + 0.2))], None, None, stats(0.0, (-0.3, 1), (0.3, 0), 2, 1.0)),
    ("the series ends on the start edge: a sample, coverage of zero length",
     10, 20, [(10 * S, 5.0)], (0, 1.0), None, stats(None, (5.0, 10), (5.0, 10), 1, 0.0)),
    ("a sample and both neighbours: the whole bucket is covered",
     0, 10, [(5 * S, 1.0)], (-5 * S, 1.0), (15 * S, 1.0), stats(1.0, (1.0, 5), (1.0, 5), 1, 10.0)),
    ("the series starts on the end edge: nothing", 0, 10, [], None, (10 * S, 1.0), None),
    ("the series ended before the interval: nothing", 10, 20, [], (0, 1.0), None, None),
    ("no data at all", 0, 10, [], None, None, None),
    ("an empty interval", 10, 10, [], (0, 1.0), (20 * S, 2.0), None),
]


@pytest.mark.parametrize(("start", "end", "samples", "before", "after", "expected"),
                         [case[1:] for case in SUMMARIES], ids=[case[0] for case in SUMMARIES])
def test_summarize(start: int, end: int, samples: list[Sample], before: Sample | None, after: Sample | None,
                   expected: dict[str, Any] | None) -> None:
    summary = summarize(start * S, end * S, samples, before, after)
    if expected is None:
        assert summary is None
    else:
        assert summary is not None
        result = gauge_statistics(summary)
        assert result == expected
        assert list(result) == ["mean", "min", "minAt", "max", "maxAt", "count", "coveredSeconds"]
        assert result["mean"] != 0.0 or math.copysign(1.0, result["mean"]) == 1.0  # never -0.0 on the wire


# Calls that break summarize's contract: a caller's off-by-one must fail loudly, not give a wrong mean.
BAD_CALLS = [
    ("a sample before start", 10, 20, [(9, 1.0)], None, None),
    ("a sample on the end edge", 10, 20, [(20, 1.0)], None, None),
    ("a neighbour 'before' on the start edge", 10, 20, [], (10, 1.0), None),
    ("a neighbour 'after' inside the interval", 10, 20, [], None, (19, 1.0)),
    ("start after end", 20, 10, [], None, None),
]


@pytest.mark.parametrize(("start", "end", "samples", "before", "after"),
                         [case[1:] for case in BAD_CALLS], ids=[case[0] for case in BAD_CALLS])
def test_summarize_refuses(start: int, end: int, samples: list[Sample], before: Sample | None,
                           after: Sample | None) -> None:
    with pytest.raises(ValueError):
        summarize(start, end, samples, before, after)


def test_summary_invariants() -> None:
    with pytest.raises(ValueError):  # coverage running backwards
        GaugeSummary(1, 1.0, 5, 1.0, 5, 0.0, (5, 1.0), (4, 1.0))
    with pytest.raises(ValueError):  # no samples and no coverage: that is None, not a summary
        GaugeSummary(0, None, None, None, None, 0.0, (5, 1.0), (5, 1.0))
    with pytest.raises(ValueError):  # a min without samples
        GaugeSummary(0, 1.0, 5, 1.0, 5, 10.0, (0, 1.0), (10, 1.0))


# Merges: (a's samples, its neighbours), (b's ...) over [0, 10) and [10, 20) → merged statistics
def piece(start: int, end: int, samples: list[Sample], before: Sample | None, after: Sample | None
          ) -> GaugeSummary | None:
    return summarize(start * S, end * S, samples, before, after)


MERGES = [
    ("neighbour-aware pieces add",
     piece(0, 10, [(0, 2.0)], None, (10 * S, 4.0)), piece(10, 20, [(10 * S, 4.0)], (0, 2.0), None),
     stats(3.0, (2.0, 0), (4.0, 10), 2, 10.0)),
    ("block summaries without neighbours are bridged by the interpolation line",
     piece(0, 10, [(0, 2.0), (4 * S, 2.0)], None, None), piece(10, 20, [(16 * S, 8.0)], None, None),
     stats(4.25, (2.0, 0), (8.0, 16), 3, 16.0)),
    ("a tie across pieces: the earlier piece's time",
     piece(0, 10, [(5 * S, 1.0)], None, None), piece(10, 20, [(15 * S, 1.0)], None, None),
     stats(1.0, (1.0, 5), (1.0, 5), 2, 10.0)),
    ("the later piece has the lower min and the higher max",
     piece(0, 10, [(5 * S, 1.0)], None, None), piece(10, 20, [(12 * S, 0.0), (14 * S, 3.0)], None, None),
     stats(0.722222222, (0.0, 12), (3.0, 14), 3, 9.0)),
    ("nothing on the left",
     None, piece(10, 20, [(15 * S, 1.0)], None, None), stats(None, (1.0, 15), (1.0, 15), 1, 0.0)),
    ("nothing on the right", piece(0, 10, [(5 * S, 1.0)], None, None), None, stats(None, (1.0, 5), (1.0, 5), 1, 0.0)),
    ("nothing at all", None, None, None),
]


@pytest.mark.parametrize(("a", "b", "expected"), [case[1:] for case in MERGES], ids=[case[0] for case in MERGES])
def test_merge(a: GaugeSummary | None, b: GaugeSummary | None, expected: dict[str, Any] | None) -> None:
    merged = merge(a, b)
    assert (None if merged is None else gauge_statistics(merged)) == expected


def test_merge_refuses_the_wrong_order() -> None:
    a = piece(0, 10, [(5 * S, 1.0)], None, None)
    b = piece(10, 20, [(15 * S, 1.0)], None, None)
    with pytest.raises(ValueError):
        merge(b, a)


# complete: block summaries (from their own samples) merged, then the bucket's neighbours added
COMPLETIONS = [
    ("neighbours on both sides",
     [(4 * S, 2.0), (12 * S, 4.0)], (-4 * S, 0.0), (22 * S, 4.0), stats(3.1, (2.0, 4), (4.0, 12), 2, 20.0)),
    ("no neighbour before: coverage starts at the first sample",
     [(4 * S, 2.0), (12 * S, 4.0)], None, (22 * S, 4.0), stats(3.5, (2.0, 4), (4.0, 12), 2, 16.0)),
    ("no samples: the straight line between the neighbours", [], (-10 * S, 0.0), (30 * S, 4.0),
     stats(2.0, None, None, 0, 20.0)),
    ("no samples and one neighbour: nothing", [], (-10 * S, 0.0), None, None),
]


@pytest.mark.parametrize(("samples", "before", "after", "expected"), [case[1:] for case in COMPLETIONS],
                         ids=[case[0] for case in COMPLETIONS])
def test_complete(samples: list[Sample], before: Sample | None, after: Sample | None, expected: dict[str, Any] | None
                  ) -> None:
    blocks = None
    for lo, hi in ((0, 10 * S), (10 * S, 20 * S)):
        blocks = merge(blocks, summarize(lo, hi, [p for p in samples if lo <= p[0] < hi], None, None))
    completed = complete(0, 20 * S, blocks, before, after)
    assert (None if completed is None else gauge_statistics(completed)) == expected
    assert completed == summarize(0, 20 * S, samples, before, after)
    assert complete(0, 20 * S, completed, before, after) == completed  # completing twice changes nothing


def test_complete_refuses_a_summary_outside_the_interval() -> None:
    inner = summarize(0, 10, [(5, 1.0)], None, None)
    with pytest.raises(ValueError):
        complete(6, 10, inner, None, None)
    with pytest.raises(ValueError):
        complete(0, 4, inner, None, None)


def test_docstring_examples() -> None:
    assert doctest.testmod(gauges).failed == 0


# ---------------------------------------------------------------------------------------------------------
# Property tests against a brute-force reference
# ---------------------------------------------------------------------------------------------------------

def reference(series: list[Sample], start: int, end: int, step: int) -> dict[str, Any] | None:
    """The statistics of [start, end) straight from the definitions, with exact rationals.

    Every time is a multiple of `step`, so G is linear on each step and the trapezoid per step is exact."""
    inside = [(t, v) for t, v in series if start <= t < end]
    lo = max(start, series[0][0]) if series else 0
    hi = min(end, series[-1][0]) if series else 0
    covered = max(0, hi - lo)
    if not inside and covered == 0:
        return None

    def g(t: int) -> Fraction:
        for (t0, v0), (t1, v1) in itertools.pairwise(series):
            if t0 <= t <= t1:
                return Fraction(v0) + (Fraction(v1) - Fraction(v0)) * Fraction(t - t0, t1 - t0)
        raise AssertionError(f"{t} is outside the coverage")

    integral = sum((g(t) + g(t + step)) / 2 * step for t in range(lo, hi, step))
    scale = sum((abs(g(t)) + abs(g(t + step))) / 2 * step for t in range(lo, hi, step))
    low = min(inside, key=lambda p: (p[1], p[0])) if inside else None
    high = max(inside, key=lambda p: (p[1], -p[0])) if inside else None
    return {"count": len(inside), "min": low, "max": high, "covered": covered, "integral": float(integral),
            "scale": float(scale)}


def neighbours(series: list[Sample], start: int, end: int) -> tuple[list[Sample], Sample | None, Sample | None]:
    """What storage hands `summarize`: the samples of [start, end), the nearest before and at or after."""
    before = [p for p in series if p[0] < start]
    after = [p for p in series if p[0] >= end]
    return ([p for p in series if start <= p[0] < end], before[-1] if before else None,
            after[0] if after else None)


def summary_of(series: list[Sample], start: int, end: int) -> GaugeSummary | None:
    return summarize(start, end, *neighbours(series, start, end))


def assert_same(a: GaugeSummary | None, b: GaugeSummary | None, scale: float = 1.0, exact_ends: bool = True
                ) -> None:
    """Equal: exactly for counts, extremes, times and coverage; within 1e-9 for the integral (and for the
    values at the ends when they were interpolated from different points of the same line)."""
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert (a.count, a.min, a.min_at, a.max, a.max_at, a.head[0], a.tail[0]) == \
               (b.count, b.min, b.min_at, b.max, b.max_at, b.head[0], b.tail[0])
        assert math.isclose(a.integral, b.integral, rel_tol=1e-9, abs_tol=1e-9 * max(scale, 1.0))
        if exact_ends:
            assert (a.head, a.tail) == (b.head, b.tail)
        else:
            for x, y in ((a.head[1], b.head[1]), (a.tail[1], b.tail[1])):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)


values = st.one_of(st.integers(-3, 3).map(float),  # small integers: ties for min and max
                   st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
steps = st.sampled_from([1, S, 60 * S])


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Sample], int, int, list[int], int]:
    """A series, an interval [start, end) and cut points inside it; every time a multiple of `step`."""
    step = draw(steps)
    times = sorted(draw(st.sets(st.integers(0, 40), max_size=12)))
    series = [(t * step, draw(values)) for t in times]
    start, end = sorted(draw(st.lists(st.integers(-3, 43), min_size=2, max_size=2, unique=True)))
    cuts = sorted(draw(st.sets(st.integers(start + 1, end - 1), max_size=4))) if end - start > 1 else []
    return series, start * step, end * step, [c * step for c in cuts], step


@settings(max_examples=400, deadline=None)
@given(cases())
def test_summarize_matches_the_reference(case: tuple[list[Sample], int, int, list[int], int]) -> None:
    series, start, end, _, step = case
    expected = reference(series, start, end, step)
    summary = summary_of(series, start, end)
    if expected is None:
        assert summary is None
        return
    assert summary is not None
    low = (summary.min, summary.min_at) if summary.count else None
    high = (summary.max, summary.max_at) if summary.count else None
    assert (summary.count, low and low[::-1], high and high[::-1], summary.covered_us) == \
           (expected["count"], expected["min"], expected["max"], expected["covered"])
    assert math.isclose(summary.integral, expected["integral"], rel_tol=1e-9,
                        abs_tol=1e-9 * max(expected["scale"], 1.0))


@settings(max_examples=400, deadline=None)
@given(cases())
def test_merge_of_consecutive_pieces_is_the_summary_of_their_union(
        case: tuple[list[Sample], int, int, list[int], int]) -> None:
    series, start, end, cuts, step = case
    edges = [start, *cuts, end]
    merged = None
    for lo, hi in itertools.pairwise(edges):
        merged = merge(merged, summary_of(series, lo, hi))
    whole = summary_of(series, start, end)
    expected = reference(series, start, end, step)
    assert_same(merged, whole, expected["scale"] if expected else 1.0)


@settings(max_examples=400, deadline=None)
@given(cases(), st.lists(st.tuples(st.booleans(), st.booleans()), min_size=5, max_size=5))
def test_storage_shape_blocks_merged_then_completed_at_the_bucket_edges(
        case: tuple[list[Sample], int, int, list[int], int], keep: list[tuple[bool, bool]]) -> None:
    """Pieces summarised from their own samples (or with any of their neighbours), merged in order, then
    completed with the bucket's two neighbours: the bucket's summary. Without completion, the pieces from
    their own samples only merge into the summary of the samples alone."""
    series, start, end, cuts, step = case
    edges = [start, *cuts, end]
    mixed = bare = None
    for (lo, hi), (keep_before, keep_after) in zip(itertools.pairwise(edges), keep):
        samples, before, after = neighbours(series, lo, hi)
        mixed = merge(mixed, summarize(lo, hi, samples, before if keep_before else None,
                                       after if keep_after else None))
        bare = merge(bare, summarize(lo, hi, samples, None, None))
    inside, before, after = neighbours(series, start, end)
    expected = reference(series, start, end, step)
    scale = expected["scale"] if expected else 1.0
    assert_same(complete(start, end, mixed, before, after), summary_of(series, start, end), scale, exact_ends=False)
    assert_same(complete(start, end, bare, before, after), summary_of(series, start, end), scale)
    assert_same(bare, summarize(start, end, inside, None, None), scale)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_window_statistics_compose_from_bucket_statistics(
        case: tuple[list[Sample], int, int, list[int], int]) -> None:
    """The mean of a window is the coverage-weighted mean of its buckets' means; min/max/count compose."""
    series, start, end, cuts, _step = case
    edges = [start, *cuts, end]
    parts = [gauge_statistics(s) for lo, hi in itertools.pairwise(edges) if (s := summary_of(series, lo, hi))]
    whole_summary = summary_of(series, start, end)
    if whole_summary is None:
        assert parts == []
        return
    whole = gauge_statistics(whole_summary)
    assert whole["count"] == sum(p["count"] for p in parts)
    assert whole["coveredSeconds"] == pytest.approx(sum(p["coveredSeconds"] for p in parts), abs=1e-9)
    # min/max on the summaries: two values within 1e-9 of each other round to one on the wire
    counted = [s for lo, hi in itertools.pairwise(edges) if (s := summary_of(series, lo, hi)) and s.count]
    if counted:
        lows = [(s.min, s.min_at) for s in counted if s.min is not None and s.min_at is not None]
        highs = [(s.max, s.max_at) for s in counted if s.max is not None and s.max_at is not None]
        assert (whole_summary.min, whole_summary.min_at) == min(lows)
        assert (whole_summary.max, whole_summary.max_at) == min(highs, key=lambda h: (-h[0], h[1]))
    else:
        assert whole["min"] is whole["max"] is None
    covered = [p for p in parts if p["coveredSeconds"]]
    if covered:
        weighted = math.fsum(p["mean"] * p["coveredSeconds"] for p in covered) / whole["coveredSeconds"]
        magnitude = max(abs(v) for _, v in series)
        assert whole["mean"] == pytest.approx(weighted, rel=1e-9, abs=1e-8 * max(magnitude, 1.0))
    else:
        assert whole["mean"] is None
