"""Energy registers → peak demand per bucket and the Flemish capacity tariff (statistics design §4, §6).

Peak demand is the largest average power over a demand window: the register delta E of a window of width
w, times 1 h / w. Demand windows are the buckets of resolution w in the query's time zone
(`demand_edges`), so each window's E is exactly `/aggregations`' value for it: it comes from
`registers.bucket_deltas`, the one version of interpolation and of the reset rule. One exception: on a
DST fall-back the grid has a bucket longer than w (it must not overlap the repeated hour), and that one
is split into the w-long windows it holds; a peak over it would be overstated up to fivefold. Only
windows entirely inside the register's coverage count: a partly covered one would understate the peak.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .buckets import ORIGIN_US, _is_utc, _zone, iter_buckets
from .errors import DomainError
from .interval import Interval, parse_resolution
from .registers import Bracket, bucket_deltas

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
DEMAND_WINDOW_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
"""Whole minutes dividing an hour: every local hour holds whole windows, so 1 h / w is a whole number."""
MINIMUM_BILLED_KW = 2.5
"""The capacity tariff bills at least 2.5 kW a month."""

_MONTH_KEY = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class Peak:
    """The demand window with the largest consumption: [start, end) in µs."""

    value: float
    """Average power over the window, kW (E × 1 h / w)."""
    energy: float
    """E, the register delta over the window, kWh."""
    start: int
    end: int


def valid_demand_window(window: Interval | str) -> int:
    """The demand-window width in µs: whole minutes dividing an hour, else `InvalidDemandWindow`.

    Takes the parsed interval or the parameter's text (any spelling of the resolution grammar).

    >>> valid_demand_window("PT15M"), valid_demand_window("1 hour") // US_PER_MINUTE
    (900000000, 60)
    >>> valid_demand_window("7 minutes")
    Traceback (most recent call last):
    ...
    connect_readings.domain.errors.DomainError: demandWindow '7 minutes' must be a whole number of minutes that \
divides an hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes (e.g. '15 minutes' or 'PT15M')
    """
    interval: Interval | None = None
    if isinstance(window, Interval):
        interval = window
    else:
        try:
            interval = parse_resolution(window)
        except DomainError:
            pass  # unparsable is just another invalid window here
    if interval is not None and interval.months == 0 and interval.days == 0:
        minutes, rest = divmod(interval.micros, US_PER_MINUTE)
        if rest == 0 and minutes in DEMAND_WINDOW_MINUTES:
            return interval.micros
    if isinstance(window, str):
        shown = repr(window if len(window) <= 60 else window[:57] + "...")  # a huge input can't bloat the error
    else:
        shown = window.canonical()
    raise DomainError(
        "InvalidDemandWindow",
        f"demandWindow {shown} must be a whole number of minutes that divides an hour: "
        f"{', '.join(map(str, DEMAND_WINDOW_MINUTES[:-1]))} or 60 minutes (e.g. '15 minutes' or 'PT15M')",
    )


def demand_edges(start: int, end: int, window_us: int, tz: ZoneInfo | None = None) -> list[int]:
    """Edges of the demand windows that lie entirely inside [start, end): buckets of resolution w in `tz`.

    A window is exactly w long. The bucket grid keeps buckets from overlapping on a DST fall-back
    (docs/semantics.md §4), so there one grid bucket runs longer (in Europe/Brussels the 15-minute bucket
    from 02:45+02:00 runs to 02:00+01:00: 75 minutes); it is split into the w-long windows it holds, so
    each real quarter-hour is a window. A grid bucket or remainder shorter than w (only in zones whose
    offsets change by a fraction of w) is no window: the two edges around it are not w apart.

    >>> demand_edges(5 * US_PER_MINUTE, 50 * US_PER_MINUTE, 15 * US_PER_MINUTE) == [
    ...     m * US_PER_MINUTE for m in (15, 30, 45)]
    True
    """
    if start >= end:
        return []
    if window_us <= 0 or window_us > US_PER_HOUR:
        return _edges_by_buckets(start, end, window_us, tz)  # (a demand window is at most an hour)
    if _is_utc(tz):
        return _regular_edges(start, end, window_us, ORIGIN_US)
    assert tz is not None
    # Between DST transitions the grid is the UTC grid shifted by the (constant) offset: arithmetic. Around
    # each transition (within the offset change + 2 w + 1 h, where the grid may bend) the bucket iterator.
    # Cuts between the two kinds are grid boundaries, so no window straddles one and the pieces concatenate.
    zone = _zone(tz, start - _ZONE_PAD, end + _ZONE_PAD)
    bends: list[list[int]] = []  # [lo, hi, offset before, offset after], merged when less than a day apart
    offset = zone.first
    for at, after in zip(zone.starts, zone.offsets):
        margin = abs(after - offset) + 2 * window_us + US_PER_HOUR
        if bends and at - margin - bends[-1][1] < _MIN_REGULAR:
            bends[-1][1], bends[-1][3] = at + margin, after
        else:
            bends.append([at - margin, at + margin, offset, after])
        offset = after
    edges: list[int] = []
    position, offset = start, zone.first
    for lo, hi, before, after in bends:
        if hi <= position:
            offset = after
            continue
        if lo >= end:
            break
        cut_lo = _grid_floor(lo, window_us, ORIGIN_US - before)  # boundaries of the regular grid on each side
        cut_hi = _grid_ceil(hi, window_us, ORIGIN_US - after)
        if position < cut_lo:
            _extend(edges, _regular_edges(position, min(cut_lo, end), window_us, ORIGIN_US - before))
        _extend(edges, _edges_by_buckets(max(position, cut_lo), min(cut_hi, end), window_us, tz))
        position, offset = cut_hi, after
        if position >= end:
            return edges
    _extend(edges, _regular_edges(position, end, window_us, ORIGIN_US - offset))
    return edges


_ZONE_PAD = 4 * 24 * US_PER_HOUR
"""The zone model is asked for the transitions this far around the window (more than any margin below)."""
_MIN_REGULAR = 24 * US_PER_HOUR
"""Two bends closer than this are handled as one by the bucket iterator (regular stretches stay long)."""


def _grid_floor(t: int, w: int, phase: int) -> int:
    return t - (t - phase) % w


def _grid_ceil(t: int, w: int, phase: int) -> int:
    return t + (phase - t) % w


def _regular_edges(start: int, end: int, w: int, phase: int) -> list[int]:
    """Edges of the windows [phase + k w, phase + (k + 1) w) inside [start, end)."""
    first, last = _grid_ceil(start, w, phase), _grid_floor(end, w, phase)
    if last - first < w:
        return []
    return list(range(first, last + 1, w))


def _extend(edges: list[int], more: list[int]) -> None:
    """Append the edges of later windows; a shared edge once."""
    if more:
        edges.extend(more[1:] if edges and edges[-1] == more[0] else more)


def _edges_by_buckets(start: int, end: int, window_us: int, tz: ZoneInfo | None = None) -> list[int]:
    """`demand_edges` by the general bucket iterator, bucket by bucket: exact everywhere, slow (~3 µs a
    window in a zone); the fast version uses it around DST transitions, and the tests compare the two."""
    edges: list[int] = []
    if start >= end:
        return edges
    for lo, hi in iter_buckets(start, end, Interval(0, 0, window_us), tz):
        for a in range(lo, hi - window_us + 1, window_us):  # one window, but several in a long bucket
            if start <= a and a + window_us <= end:
                if not edges or edges[-1] != a:
                    edges.append(a)
                edges.append(a + window_us)
    return edges


def peak_demand(edges: Sequence[int], brackets: Sequence[Bracket], window_us: int) -> Peak | None:
    """The fully covered window with the largest delta, or None when no window is fully covered.

    `edges` are consecutive demand-window edges (from `demand_edges`), `brackets` the register's readings
    around each edge with values already continuous across resets, exactly as `bucket_deltas` takes them.
    A window is a pair of consecutive edges exactly w apart; it is fully covered when coverage starts at or
    before its start (a reading at or before it) and ends at or after its end (a reading at or after it):
    `bucket_deltas` alone would also report the partly covered ones, clamped. Ties go to the earliest.

    >>> edges = [0, 15 * US_PER_MINUTE, 30 * US_PER_MINUTE]
    >>> reading = ((0, 10.0), (30 * US_PER_MINUTE, 11.5))   # 1.5 kWh over half an hour, evenly
    >>> peak_demand(edges, [reading] * 3, 15 * US_PER_MINUTE)
    Peak(value=3.0, energy=0.75, start=0, end=900000000)
    """
    if len(edges) != len(brackets):
        raise ValueError(f"peak_demand: {len(edges)} edges but {len(brackets)} brackets")
    if window_us <= 0:
        raise ValueError(f"peak_demand: window {window_us} µs")
    best: int | None = None
    best_energy = 0.0
    for i, energy in enumerate(bucket_deltas(edges, brackets)):
        if energy is None or edges[i + 1] - edges[i] != window_us:
            continue  # no coverage, or no window (see `demand_edges`)
        if brackets[i][0] is None or brackets[i + 1][1] is None:
            continue  # coverage starts after the window's start or ends before its end
        if best is None or energy > best_energy:
            best, best_energy = i, energy
    if best is None:
        return None
    value = round(best_energy * (US_PER_HOUR / window_us), 9)  # one rounding: 1 h / w is a whole number
    return Peak(value, best_energy, edges[best], edges[best + 1])


class MonthPeak(NamedTuple):
    """A calendar month's input to the capacity tariff."""

    month: str
    """'YYYY-MM' of the local month."""
    peak: Peak | None
    """Its largest quarter-hour (w = 15 minutes), or None when no quarter-hour is fully covered."""
    covered: bool
    """Whether the register has coverage in the month (inside a gap of the data counts)."""


@dataclass(frozen=True, slots=True)
class MonthTariff:
    """One month of the capacity tariff; the wire names are billedPeak, rollingMean, monthsInMean."""

    month: str
    peak: Peak | None
    billed_peak: float
    """max(peak.value, 2.5) kW; 2.5 when there is no peak."""
    rolling_mean: float
    """Mean billed peak over this month and the covered ones of the 11 calendar months before it."""
    months_in_mean: int


def capacity_months(months: Sequence[MonthPeak], since: str | None = None) -> list[MonthTariff]:
    """The tariff of every covered month (from `since` on, when given), oldest first.

    `months`: calendar months in increasing order; months without coverage may be left out or given with
    `covered=False` (they count in neither the list nor a mean). A rolling mean looks back 11 calendar
    months, so the caller passes that much history before `since`.

    >>> q = Peak(4.0, 1.0, 0, 900_000_000)
    >>> [(t.month, t.billed_peak, t.rolling_mean, t.months_in_mean) for t in capacity_months(
    ...     [MonthPeak("2024-01", q, True), MonthPeak("2024-02", None, False), MonthPeak("2024-03", None, True)])]
    [('2024-01', 4.0, 4.0, 1), ('2024-03', 2.5, 3.25, 2)]
    """
    first = None if since is None else _month_index(since)
    billed: list[tuple[int, float]] = []  # (month index, billed peak) of the covered months so far
    tariffs: list[MonthTariff] = []
    previous: int | None = None
    for month, peak, covered in months:
        index = _month_index(month)
        if previous is not None and index <= previous:
            raise ValueError(f"capacity_months: {month} does not follow the month before it")
        previous = index
        if not covered:
            if peak is not None:
                raise ValueError(f"capacity_months: {month} has a peak but no coverage")
            continue
        billed_peak = MINIMUM_BILLED_KW if peak is None else max(peak.value, MINIMUM_BILLED_KW)
        billed.append((index, billed_peak))
        if first is not None and index < first:
            continue
        window = [b for m, b in billed[-12:] if m > index - 12]
        mean = round(math.fsum(window) / len(window), 9)
        tariffs.append(MonthTariff(month, peak, billed_peak, mean, len(window)))
    return tariffs


def _month_index(month: str) -> int:
    """'YYYY-MM' → year × 12 + month − 1."""
    match = _MONTH_KEY.fullmatch(month)
    if match is None:
        raise ValueError(f"not a month key 'YYYY-MM': {month!r}")
    return int(match[1]) * 12 + int(match[2]) - 1
